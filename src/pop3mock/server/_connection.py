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

from pop3mock.faults._faultset import FaultPlan, FaultPoint
from pop3mock.journal._journal import CommandRecord, SessionRecord, mask
from pop3mock.protocol._framing import Line, LineReader
from pop3mock.protocol._replay import ReplaySession
from pop3mock.protocol._session import Response, Session, State, system_error
from pop3mock.protocol._steps import Close, Hang, Paced, Reset, Send, Sleep, Step
from pop3mock.protocol._text import credential_line, garbled_secret, mask_verb

if TYPE_CHECKING:
    from pop3mock.server._server import POP3Server

__all__ = ["Connection", "shutdown"]

_BIG = 256 * 1024  # replies above this go out by scatter-gather instead of one joined copy
_TLS_CHUNK = 256 * 1024  # octets per TLS write (each write gets idle_timeout to finish)
_connection_numbers = itertools.count(1)  # in the order accepted: the oldest is the lowest


class _Stop(Exception):
    """The connection is over (closed by a fault, the client, or the server stopping)."""


class _Failed(Exception):
    """The maildrop or the protocol core raised `error`: a server failure, whatever its type.

    The core does no I/O, so an OSError from it (a loader reading a file that is gone) must
    not pass for a lost connection.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


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
        self.reader = LineReader(server.max_line)
        self.record: SessionRecord | None = None
        self.session: Session | ReplaySession | None = None
        self.ended_by: str | None = None
        self.left_a_hang = False  # the client left while a hang fault held its reply
        self.said_quit = False  # a QUIT was accepted (its reply may not have reached the client)
        # The command being answered (verb, args, credential), for the report of an exception
        # that interrupts it.
        self.answering: tuple[str, tuple[str, ...], bool] | None = None
        # The verb of the line before (None after a SASL line): the line after USER is
        # taken for a password whatever it says.
        self.previous_verb: str | None = None

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
        if self.record is None:
            return f"the connection from {self.peer[0]}:{self.peer[1]}"
        if self.answering is None:
            return f"session {self.record.id}, before its first command"
        verb, args, credential = self.answering
        return f"session {self.record.id}, answering {mask(verb, args, credential=credential)!r}"

    # -- thread body ---------------------------------------------------------------------

    def run(self) -> None:
        server = self.server
        try:
            self._run()
        except _Stop:
            pass
        except _Failed as failed:
            self._fail(failed.error)
        except (OSError, ssl.SSLError) as exc:
            # While stopping, abort() named the reason before it shut the socket down; an
            # error before that is the client's own.
            self.ended_by = self.ended_by or _describe_os_error(exc)
        except Exception as exc:
            self._fail(exc)
        finally:
            if self.session is not None:
                self.session.connection_lost()
            if self.ended_by in _CLEAN_TLS_ENDS:
                self._close_notify()
            with contextlib.suppress(OSError):
                self.sock.close()
            if self.record is not None:
                # A fault's sleep is woken by stop() before abort() names the reason.
                reason = self.ended_by or (
                    "server stopped" if server._stopping.is_set() else "closed"
                )
                # QUIT ends with reason "quit" (connection_lost() above sets session.closed).
                # A client that gives up on a hung reply did what a client should: the
                # missing QUIT is the fault's doing, not a protocol violation.
                # Only a session that sent a command is held to QUIT: a connection that said
                # nothing (a wait-for-port probe, a TLS client that rejects the certificate
                # and closes, as RFC 2595 section 2.4 allows) never started one.
                if (
                    reason in ("client closed", "client reset")
                    and not self.left_a_hang
                    and not self.said_quit
                    and self.record.command_count
                    # A replayed client that leaves where the recorded one left does so too.
                    and not (
                        isinstance(self.session, ReplaySession) and self.session.at_recorded_close
                    )
                ):
                    server.journal.note(self.record, violation="connection closed without QUIT")
                server.journal.close_session(self.record, reason)
                server.faults.end_session(self.record.id)
            server._forget(self)

    def _fail(self, exc: Exception) -> None:
        self.ended_by = "server error"
        self.server._record_error(exc, self._place())
        with contextlib.suppress(OSError, _Stop):
            self._send(system_error(self.server.config).encode())

    def _run(self) -> None:
        server = self.server
        journal = server.journal
        peer = f"{self.peer[0]}:{self.peer[1]}"
        self.record = journal.open_session(peer, self.implicit_tls)
        plan = self._plan(FaultPoint("connect", session=self.record.id))
        if plan is not None:
            self._execute(plan.steps(b""))
        _set_idle_timeout(self.sock, server.idle_timeout)
        if self.implicit_tls:
            self._start_tls()
        session: Session | ReplaySession
        if server.replay is not None:
            session = self.session = server.replay.session(server.config)
        else:
            session = self.session = Session(
                server.config,
                server._users,
                timestamp=server._timestamp(),
                tls=self.implicit_tls,
                implicit_tls=self.implicit_tls,
                clock=time.time,
            )
        greeting = session.greeting()
        plan = self._plan(FaultPoint("greeting", session=self.record.id))
        journal.add_greeting(self.record, _outgoing(greeting.encode(), greeting.parts(), plan))
        if greeting.pause:
            self._execute([Sleep(greeting.pause)])
        if greeting.violation is not None:
            journal.note(self.record, violation=greeting.violation)
        self._reply(greeting.encode(), greeting.parts(), plan)
        if greeting.close:
            self.ended_by = "closed by server"
            raise _Stop()
        while True:
            line = self._read_line()
            self._answer(line)

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
            self._goodbye(
                "login timeout", Response("-ERR", self.server.config.text("login_timeout"))
            )
        idle = self.server.idle_timeout
        self._wait_at_most(left if idle is None or left < idle else idle)

    def _goodbye(self, reason: str, response: Response) -> None:
        """End the session for `reason`, telling the client why."""
        self.ended_by = reason
        with contextlib.suppress(OSError, _Stop):
            self._send(response.encode())
        raise _Stop()

    def _read_line(self) -> Line:
        reader = self.reader
        while True:
            session = self.session
            assert session is not None
            line = reader.next_line()
            if line is not None:
                if (
                    reader.buffered
                    and not session.config.has("PIPELINING")
                    and not session.in_sasl
                    and self.record is not None
                ):
                    self.server.journal.note(
                        self.record,
                        violation="commands pipelined although PIPELINING is not advertised",
                    )
                return line
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
                config = self.server.config
                self._goodbye("dropped: server full", system_error(config, "too_many_connections"))
            if not data:
                last = reader.end_of_stream()
                if last is not None:
                    return last
                self.ended_by = self.ended_by or "client closed"
                raise _Stop()
            reader.feed(data)

    def _answer(self, line: Line) -> None:
        session = self.session
        record = self.record
        assert session is not None and record is not None
        journal = self.server.journal
        state = session.state.value
        in_sasl = session.in_sasl
        args: tuple[str, ...]
        data = line.data
        if line.truncated and len(data) > journal.reply_cap:
            # The core only needs to know the line was cut; the journal keeps its start, so
            # a client that sends endless lines cannot fill memory through the records.
            data = data[: journal.reply_cap]
        credential = credential_line(self.previous_verb, in_sasl=in_sasl)
        if in_sasl:
            verb, args = "", (data.decode("ascii", "replace"),)
        else:
            verb, rest = Session.verb_of(data)
            args = tuple([rest] if verb == "PASS" and rest else rest.split())
            if garbled_secret(verb):
                # A garbled PASS/APOP/AUTH: the credential is in the "verb" and its arguments;
                # the record keeps neither (raw still holds the exact line).
                verb, args = mask_verb(verb), ()
        self.answering = (verb, args, credential)
        self.previous_verb = None if in_sasl else verb
        plan = None
        if not in_sasl and verb:
            plan = self._plan(
                FaultPoint(verb, args, session.user or session.pending_user, record.id, state)
            )
        response: Response | None = None
        if plan is not None and plan.replace is not None:
            wire = plan.replace
            parts: tuple[bytes, ...] = (wire,)
            status, text = _split_status(wire)
        else:
            try:
                response = session.handle(line.data, truncated=line.truncated, ending=line.ending)
            except Exception as exc:
                raise _Failed(exc) from None
            parts = response.parts()
            wire = b""
            status, text = response.status, response.first_line[:-2].decode("utf-8", "replace")
            text = text[len(status) + 1 :]
        out = _outgoing(wire, parts, plan)
        journal.add_command(
            record,
            CommandRecord(
                session=record.id,
                seq=record.command_count + 1,
                time=journal.clock(),
                state=state,
                raw=data + line.ending,
                verb=verb,
                args=args,
                user=session.user or (session.pending_user if verb == "USER" else None),
                status=status,
                reply=text,
                bytes_sent=sum(len(p) for p in out),
                fault=plan.rule if plan is not None else None,
                violation=response.violation if response is not None else None,
                response=journal.kept(out),
                credential=credential,
            ),
        )
        if plan is not None and response is not None:
            wire = b"".join(parts)
        if response is not None and response.pause:
            self._execute([Sleep(response.pause)])  # a failed login's delay
        if not self.logged_in and session.state is State.TRANSACTION:
            self._on_login()  # before the reply: the client may act on it at once
        if verb == "QUIT" and (response is None or session.closed):
            # Accepted: whatever happens to the reply, the client did say QUIT.
            self.said_quit = True
            self.ended_by = "quit"
        self._reply(wire, parts, plan)
        if response is None:
            if verb == "QUIT":
                # The server closes after answering QUIT whatever it answered (RFC 1939
                # section 6); a replaced reply only means that nothing was committed.
                self.ended_by = "quit"
                raise _Stop()
            return
        if response.start_tls:
            if self.reader.clear():
                # Never run inside TLS what came in plaintext after STLS (C-140).
                journal.note(
                    record, violation="plaintext sent after STLS, before the handshake: discarded"
                )
            self._start_tls()
            session.tls_started()
            journal.note(record, tls=True)
        if response.close:
            self.ended_by = "quit" if verb == "QUIT" else "closed by server"
            raise _Stop()

    # -- sending -----------------------------------------------------------------------------

    def _plan(self, point: FaultPoint) -> FaultPlan | None:
        faults = self.server.faults
        if not faults:
            return None
        plan = faults.plan(point)
        if plan is not None and self.record is not None:
            self.server.journal.note(self.record, fault=plan.rule)
        return plan

    def _reply(self, wire: bytes, parts: tuple[bytes, ...], plan: FaultPlan | None) -> None:
        if plan is None:
            self._send_parts(parts)
        else:
            self._execute(plan.steps(wire or b"".join(parts)))

    def _send_parts(self, parts: tuple[bytes, ...]) -> None:
        sock = self.sock
        if len(parts) == 1:
            self._send(parts[0])
            return
        total = sum(len(p) for p in parts)
        if total <= _BIG or isinstance(sock, ssl.SSLSocket):
            if total <= _BIG:
                self._send(b"".join(parts))
            else:
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
        view = memoryview(data)
        while view:
            try:
                sent = sock.send(view, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            view = view[sent:]
            if view and not sent:
                self._wait_writable()

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


def _outgoing(wire: bytes, parts: tuple[bytes, ...], plan: FaultPlan | None) -> list[bytes]:
    # What a reply puts on the wire, fault included, for the journal (steps are pure).
    if plan is None:
        return list(parts)
    steps = plan.steps(wire or b"".join(parts))
    return [step.data for step in steps if isinstance(step, (Send, Paced))]


def _split_status(wire: bytes) -> tuple[str, str]:
    first = wire.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    status, _, text = first.partition(" ")
    return status, text


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
