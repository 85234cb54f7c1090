"""One client connection, served by its own thread: reads, writes, timeouts, TLS.

`POP3Server` (`pop3mock.server._server`) accepts the connection and hands it to a thread.
"""

from __future__ import annotations

import contextlib
import itertools
import select
import socket
import ssl
import struct
import threading
import time
from typing import TYPE_CHECKING, Any

from pop3mock.protocol._session import system_error
from pop3mock.protocol._steps import Close, Hang, Paced, Reset, Send, Sleep, Step
from pop3mock.server._conversation import Conversation, CoreError, Reply

if TYPE_CHECKING:
    from pop3mock.server._server import POP3Server

__all__ = ["Connection", "bind_error", "shutdown"]

_TLS_CHUNK = 256 * 1024  # octets per TLS write (each write gets idle_timeout to finish)
_connection_numbers = itertools.count(1)  # in the order accepted: the oldest is the lowest


class _Stop(Exception):
    """The connection is over (closed by a fault, the client, or the server stopping)."""


def bind_error(exc: OSError, host: str, port: int) -> OSError:
    # The same OSError subclass (an `except OSError` or `except PermissionError` still
    # catches it) and errno, with the address in the message: "[Errno 98] Address already
    # in use" alone does not say which of a test's servers failed.
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot listen on {address}: {reason}")


def shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: wake the owner thread without
    # touching the TLS object another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Connection:
    """One client connection, served by its own thread."""

    def __init__(self, server: POP3Server, sock: socket.socket, peer: Any, tls: bool) -> None:
        self.server = server
        self.sock = sock
        self.peer = peer
        self.implicit_tls = tls
        self.thread: threading.Thread | None = None
        self.number = next(_connection_numbers)
        self.opened = time.monotonic()
        self.logged_in = False
        self.dropped = False  # its slot went to a newer client (drop_oldest_when_full)
        # When the login must be done by (login_timeout); None once logged in.
        self.login_deadline = (
            None if server.login_timeout is None else self.opened + server.login_timeout
        )
        self.conversation: Conversation | None = None
        self.ended_by: str | None = None
        self.left_a_hang = False  # the client left while a hang fault held its reply

    def drop(self) -> None:
        """Give up this connection's slot: its thread wakes from the read, says why, ends."""
        self.dropped = True
        self.ended_by = self.ended_by or "dropped: server full"  # (not a client that left)
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RD)

    def abort(self) -> None:
        # A client that had closed (or reset) its side when stop() came ended the session
        # itself, whether or not this thread has read the end of the stream yet: strict mode
        # judges by what the client did, not by which thread ran first.
        self.ended_by = self.ended_by or _peer_gone(self.sock) or "server stopped"
        shutdown(self.sock)

    def _place(self) -> str:
        """Where this connection is, in words, for an error report."""
        if self.conversation is None:
            return f"the connection from {self.peer[0]}:{self.peer[1]}"
        return self.conversation.place()

    # -- thread body ---------------------------------------------------------------------

    def run(self) -> None:
        server = self.server
        conversation = None
        try:
            self._run()
        except _Stop:
            pass
        except CoreError as failed:
            self._fail(failed.error)
        except (OSError, ssl.SSLError) as exc:
            # While stopping, abort() named the reason before it shut the socket down; an
            # error before that is the client's own.
            self.ended_by = self.ended_by or _describe_os_error(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            conversation = self.conversation
            if conversation is not None:
                conversation.connection_lost()
            if self.ended_by in _CLEAN_TLS_ENDS:
                self._close_notify()
            with contextlib.suppress(OSError):
                self.sock.close()
            if conversation is not None:
                # A fault's sleep is woken by stop() before abort() names the reason.
                reason = self.ended_by or (
                    "server stopped" if server._stopping.is_set() else "closed"
                )
                conversation.close(reason, left_a_hang=self.left_a_hang)
            server._forget(self)

    def _fail(self, exc: Exception) -> None:
        self.ended_by = "server error"
        self.server._record_error(exc, self._place())
        with contextlib.suppress(OSError, _Stop):
            self._send(system_error(self.server.config).encode())

    def _run(self) -> None:
        server = self.server
        conversation = self.conversation = Conversation(
            server.config,
            server._users,
            server.journal,
            server.faults,
            peer=f"{self.peer[0]}:{self.peer[1]}",
            implicit_tls=self.implicit_tls,
            max_line=server.max_line,
            replay=server.replay,
            timestamp=server._timestamp,
            clock=time.time,
        )
        steps = conversation.connect()
        if steps:
            self._execute(steps)
        _set_idle_timeout(self.sock, server.idle_timeout)
        if self.implicit_tls:
            self._start_tls()
        reply = conversation.greet()
        while True:
            if isinstance(reply, tuple):
                self._send_parts(reply)
            else:
                self._execute(reply)
            if conversation.start_tls:
                self._start_tls()
                conversation.tls_started()
            if conversation.ending is not None:
                self.ended_by = conversation.ending
                raise _Stop()
            reply = self._next_reply(conversation)

    def _next_reply(self, conversation: Conversation) -> Reply:
        reply = conversation.next_reply()
        while reply is None:
            if conversation.eof:
                self.ended_by = self.ended_by or "client closed"
                raise _Stop()
            deadline = self.login_deadline
            if deadline is not None:
                self._before_read(deadline)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
                if deadline is not None and time.monotonic() >= deadline:
                    self._before_read(deadline)  # says so, and ends the session
                # Autologout: silent close, no UPDATE (RFC 1939 section 3, C-093). The kernel's
                # receive timeout shows as EAGAIN (or, inside TLS, as "want read").
                self.ended_by = "idle timeout"
                raise _Stop() from None
            if not data and self.dropped:
                self._goodbye("dropped: server full", conversation.server_full_reply())
            conversation.receive_data(data)
            reply = conversation.next_reply()
        if not self.logged_in and conversation.logged_in:
            self._on_login()  # before the reply: the client may act on it at once
        if conversation.said_quit:
            # Whatever happens to the reply, the client did say QUIT.
            self.ended_by = "quit"
        return reply

    def _on_login(self) -> None:
        self.logged_in = True
        if self.login_deadline is not None:
            # From now on only the idle timeout bounds a wait.
            self.login_deadline = None
            self._wait_at_most(self.server.idle_timeout)

    def _wait_at_most(self, seconds: float | None) -> None:
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock.settimeout(seconds)
        else:
            _set_idle_timeout(self.sock, seconds, clear=True)

    def _before_read(self, deadline: float) -> None:
        """Bound the next read by the login deadline as well as by the idle timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            assert self.conversation is not None
            self._goodbye("login timeout", self.conversation.login_timeout_reply())
        idle = self.server.idle_timeout
        self._wait_at_most(left if idle is None or left < idle else idle)

    def _goodbye(self, reason: str, reply: bytes) -> None:
        """End the session for `reason`, telling the client why."""
        self.ended_by = reason
        with contextlib.suppress(OSError, _Stop):
            self._send(reply)
        raise _Stop()

    # -- sending -----------------------------------------------------------------------------

    def _send_parts(self, parts: tuple[bytes, ...]) -> None:
        # The conversation joins every reply up to 256 KiB: pieces mean a big message.
        sock = self.sock
        if len(parts) == 1:
            self._send(parts[0])
            return
        if isinstance(sock, ssl.SSLSocket):
            for part in parts:
                self._send(part)
            return
        # Scatter-gather: the big body is sent from its cached bytes, never copied.
        views = [memoryview(p) for p in parts if p]
        while views:
            try:
                progress = sock.sendmsg(views, [], socket.MSG_DONTWAIT)
            except BlockingIOError:
                progress = 0
            sent = progress
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            if sent and views:
                views[0] = views[0][sent:]
            if views and not progress:
                self._wait_writable()

    def _send(self, data: bytes | memoryview) -> None:
        """Send all of `data`. One rule, however big the reply: a send that makes no
        progress for `idle_timeout` ends the session (a client that stopped reading)."""
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket):
            # Python's timeout bounds one write as a whole: in chunks, a slow reader that
            # keeps reading is not cut off in the middle of a big reply.
            view = memoryview(data)
            for offset in range(0, len(view), _TLS_CHUNK):
                sock.sendall(view[offset : offset + _TLS_CHUNK])
            return
        # Non-blocking sends, waiting in poll() between them: the kernel's send timeout
        # restarts with each partial send, so a client that never reads held its session
        # for two or three times idle_timeout.
        try:
            sent = sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return  # nearly every reply: one send, no view made
        view = memoryview(data)[sent:]
        while view:
            if not sent:
                self._wait_writable()
            try:
                sent = sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            view = view[sent:]

    def _wait_writable(self) -> None:
        timeout = self.server.idle_timeout
        poller = select.poll()
        poller.register(self.sock, select.POLLOUT)
        # stop() shuts the socket down, which wakes this at once (the next send then fails).
        if not poller.poll(None if timeout is None else timeout * 1000):
            self.ended_by = self.ended_by or "idle timeout"
            raise _Stop()

    def _execute(self, steps: list[Step]) -> None:
        stopping = self.server._stopping
        for step in steps:
            if isinstance(step, Send):
                if step.data:
                    self._send(step.data)
            elif isinstance(step, Paced):
                data = memoryview(step.data)
                for offset in range(0, len(data), step.chunk):
                    if offset and stopping.wait(step.interval):
                        raise _Stop()
                    self._send(data[offset : offset + step.chunk])
            elif isinstance(step, Sleep):
                if stopping.wait(step.seconds):
                    raise _Stop()
            elif isinstance(step, Close):
                self.ended_by = "fault: close"
                raise _Stop()
            elif isinstance(step, Reset):
                self.ended_by = "fault: reset"
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                raise _Stop()
            elif isinstance(step, Hang):
                # Silent, but not deaf: what the client sends is read and dropped, so a
                # client that gives up and closes ends the session (and frees the maildrop
                # lock) at once. stop() shuts the socket down, which makes it readable.
                self.ended_by = "fault: hang"
                sock = self.sock
                end = None if step.seconds is None else time.monotonic() + step.seconds
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                while not stopping.is_set():
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
                    if not pending and not poller.poll(None if left is None else left * 1000):
                        continue
                    try:
                        dropped = sock.recv(65536)
                    except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
                        continue  # a TLS record not complete yet
                    except OSError as exc:
                        if stopping.is_set():
                            break
                        self.ended_by = _describe_os_error(exc)
                        self.left_a_hang = True
                        raise _Stop() from None
                    if not dropped and not stopping.is_set():
                        self.ended_by = "client closed"
                        self.left_a_hang = True
                        raise _Stop()
                raise _Stop()

    def _start_tls(self) -> None:
        context = self.server.ssl_context
        assert context is not None
        tls_sock = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        # Inside TLS the kernel timeouts do not end a blocking read (the ssl module retries
        # "want read" forever), so the idle timeout is Python's own here.
        tls_sock.settimeout(self.server.idle_timeout)
        if self.login_deadline is not None:
            # The handshake counts against the login deadline too.
            left = max(self.login_deadline - time.monotonic(), 0.001)
            idle = self.server.idle_timeout
            tls_sock.settimeout(left if idle is None or left < idle else idle)
        self.sock = tls_sock
        if self.server._stopping.is_set():
            # stop() may have shut down the plain socket after wrap_socket detached it from
            # its descriptor: that woke nothing, and the handshake would wait for the client.
            raise _Stop()
        try:
            tls_sock.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            self.ended_by = f"TLS handshake failed: {exc}"
            raise _Stop() from None

    def _close_notify(self) -> None:
        # RFC 8314 section 3.4: end TLS with close_notify. Non-blocking: send it, do not wait
        # for the client's own close_notify (SSLWantReadError is that wait, given up).
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket):
            with contextlib.suppress(OSError, ValueError):
                sock.settimeout(0)
                sock.unwrap()


# Endings where the server closes on purpose, and so ends TLS with close_notify (RFC 8314
# section 3.4, C-146). A "close" or "reset" fault stays abrupt: it imitates a lost link.
_CLEAN_TLS_ENDS = frozenset({"quit", "closed by server", "idle timeout", "server error"})


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "client reset"
    if isinstance(exc, (BrokenPipeError, ConnectionAbortedError)):
        return "client closed"
    if isinstance(
        exc, (socket.timeout, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
    ):
        return "idle timeout"  # a send or the handshake waited longer than idle_timeout
    return f"connection error: {exc}"


_GONE = getattr(select, "POLLRDHUP", 0)  # the peer shut its sending side (Linux)


def _peer_gone(sock: socket.socket) -> str | None:
    """How the client left, if the kernel already knows it did; None if it is still there."""
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | _GONE)
        events = poller.poll(0)
    except (OSError, ValueError):
        return None
    flags = events[0][1] if events else 0
    # Both directions shut before this side shut anything: the client reset the connection.
    if flags & (select.POLLERR | select.POLLHUP):
        return "client reset"
    if flags & _GONE:
        return "client closed"
    return None


def _set_idle_timeout(sock: socket.socket, seconds: float | None, *, clear: bool = False) -> None:
    # Kernel timeouts (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking socket, not settimeout():
    # settimeout() makes Python poll() before every recv and send, and those extra system
    # calls cost a fifth of the sessions per second when many clients are connected.
    if seconds is None:
        if not clear:
            return
        seconds = 0.0  # a zero timeval: no timeout
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    if seconds > 0 and not whole and not micro:
        micro = 1  # a zero timeval would mean no timeout at all
    timeval = struct.pack("ll", whole, micro)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
