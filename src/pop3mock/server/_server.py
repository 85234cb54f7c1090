"""POP3Server: sockets and threads around the sans-IO protocol core.

`start()` binds and listens in the caller's thread, so the server is reachable when it
returns. One accept thread per listener and one daemon thread per open connection (kept
for the next connection when it ends); `stop()` shuts every socket down (which wakes
blocked threads at once) and joins every thread.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import select
import socket
import ssl
import struct
import threading
import time
import traceback
import urllib.parse
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from pop3mock.checks import DURATION_RULE, duration, suggestion, unknown_user, whole_number
from pop3mock.errors import ClientViolationError, ConfigurationError, ServerError
from pop3mock.faults._faultset import FaultPlan, FaultPoint, FaultSet
from pop3mock.journal._journal import CommandRecord, Journal, SessionRecord, mask
from pop3mock.maildrop._entries import LazyMaildrop
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.maildrop._message import LazyMessage, MessageInput
from pop3mock.protocol._config import ServerConfig
from pop3mock.protocol._framing import Line, LineReader
from pop3mock.protocol._personality import server_default
from pop3mock.protocol._recording import Recording
from pop3mock.protocol._replay import Replay, ReplaySession
from pop3mock.protocol._session import Response, Session, State, system_error
from pop3mock.protocol._steps import Close, Hang, Paced, Reset, Send, Sleep, Step
from pop3mock.protocol._text import credential_line, garbled_secret, mask_verb

__all__ = ["POP3Server"]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_BIG = 256 * 1024  # replies above this go out by scatter-gather instead of one joined copy
_TLS_CHUNK = 256 * 1024  # octets per TLS write (each write gets idle_timeout to finish)
_JOIN_TIMEOUT = 5.0
#: Commands of one session the journal keeps at each end (the first and the last ones); the
#: ones in between are counted, so that a session of a million commands stays small.
SESSION_KEEP_COMMANDS = 1000
_MAX_IDLE_THREADS = 16  # connection threads kept waiting for the next connection
_timestamps = itertools.count(1)
_connection_numbers = itertools.count(1)  # in the order accepted: the oldest is the lowest
_thread_numbers = itertools.count(1)


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


class POP3Server:
    """A real POP3 server for tests, on an ephemeral loopback port by default.

    >>> with POP3Server(users={"alice": "secret"}) as server:
    ...     server.mailbox("alice").add(b"Subject: hi\\r\\n\\r\\nHello\\r\\n")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: Mapping[str, str | Mailbox] | None = None,
        config: ServerConfig | None = None,
        ssl_context: ssl.SSLContext | None = None,
        stls: bool = False,
        implicit_tls: bool | None = None,
        tls_port: int = 0,
        idle_timeout: float | None = 600.0,
        max_connections: int | None = None,
        login_timeout: float | None = None,
        drop_oldest_when_full: bool = False,
        max_line: int = 65536,
        strict: bool = False,
        check_faults: bool = True,
        fault_seed: int | None = None,
        journal_keep: int | None = None,
        session_keep_commands: int | None = None,
        replay: str | os.PathLike[str] | Recording | None = None,
        replay_timing: bool = False,
        **options: Any,
    ) -> None:
        if host not in _LOOPBACK:
            warnings.warn(
                f"pop3mock is listening on {host!r}, not loopback: other machines can reach it",
                stacklevel=2,
            )
        if config is None:
            config = _config_from_options(options, stls=stls)
        elif options:
            raise ConfigurationError(
                f"give either config= or options, not both (got {sorted(options)})"
            )
        if stls and not config.stls_available:
            config = attrs.evolve(config, stls_available=True)
        implicit_tls = bool(server_default(config.personality, "implicit_tls", implicit_tls))
        if config.require_tls and not (config.stls_available or implicit_tls):
            raise ConfigurationError(
                "require_tls=True refuses every login before TLS: also give stls=True "
                "and/or implicit_tls=True, or nobody can log in"
            )
        if (stls or implicit_tls) and ssl_context is None:
            from pop3mock.server.tls import server_context

            ssl_context = server_context()
        if idle_timeout is not None and not duration(idle_timeout):
            raise ConfigurationError(
                f"idle_timeout must be {DURATION_RULE}, or None (never), not {idle_timeout!r}"
            )
        if max_connections is not None and not whole_number(max_connections, 1):
            raise ConfigurationError(
                f"max_connections must be a whole number >= 1 or None, not {max_connections!r}"
            )
        if login_timeout is not None and not duration(login_timeout):
            raise ConfigurationError(
                f"login_timeout must be a positive {DURATION_RULE.removeprefix('a ')}, or None, "
                f"not {login_timeout!r}"
            )
        if not whole_number(max_line, 1):
            raise ConfigurationError(
                f"max_line must be a whole number of octets >= 1, not {max_line!r}"
            )
        if users is not None and not isinstance(users, Mapping):
            raise ConfigurationError(
                f"users must map names to passwords (or Mailbox objects), not {users!r}"
            )
        self.config = config
        #: A recording answered instead of the maildrops (`pop3mock.protocol._replay`), or None.
        self.replay = None if replay is None else Replay(replay, timing=bool(replay_timing))
        self.ssl_context = ssl_context
        self.implicit_tls = implicit_tls
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        #: Seconds from connecting to a successful login (None: no limit).
        self.login_timeout = login_timeout
        #: When max_connections is reached, a new client takes the place of the oldest
        #: connection not logged in yet (Dovecot's way); otherwise the new client is refused.
        self.drop_oldest_when_full = bool(drop_oldest_when_full)
        self.max_line = max_line
        self.strict = strict
        self.check_faults = check_faults
        if journal_keep is not None and not whole_number(journal_keep, 1):
            raise ConfigurationError(
                f"journal_keep must be a whole number >= 1 or None, not {journal_keep!r}"
            )
        if session_keep_commands is not None and not whole_number(session_keep_commands, 1):
            raise ConfigurationError(
                "session_keep_commands must be a whole number >= 1 or None, "
                f"not {session_keep_commands!r}"
            )
        self.journal = Journal(keep_sessions=journal_keep, keep_commands=session_keep_commands)
        # A failing journal listener (a --journal file on a full disk) is a server failure.
        self.journal.on_listener_error = self._record_error
        self.faults = FaultSet(fault_seed)
        self.errors: list[BaseException] = []
        self._error_places: dict[int, str] = {}  # id() of an `errors` item: where it happened
        self._host = host
        self._port = port
        self._tls_port_wanted = tls_port
        self._users: dict[str, Mailbox] = {}
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        # Connection threads are reused: starting a thread costs more than a whole session
        # (clone, stack, and the start handshake that blocks the accept loop meanwhile).
        self._handoff: queue.SimpleQueue[_Connection | None] = queue.SimpleQueue()
        self._idle_threads = 0
        self._connections: set[_Connection] = set()
        # Connections dropped to make room (drop_oldest_when_full), until their thread ends.
        self._leaving: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = False
        self.port = 0
        self.tls_port: int | None = None
        for name, value in (users or {}).items():
            if isinstance(value, Mailbox):
                self._users[name] = value
            else:
                self.add_user(name, value)

    # -- users and mailboxes -------------------------------------------------------------

    def add_user(
        self,
        name: str,
        password: str,
        messages: Iterable[MessageInput | LazyMessage | LazyMaildrop] = (),
        *,
        token: str | None = None,
    ) -> Mailbox:
        """Create a user with a maildrop and return its `Mailbox`.

        `messages` may be a `LazyMaildrop`, or hold some: the mailbox keeps their columns.
        """
        if name in self._users:
            raise ConfigurationError(f"user {name!r} already exists")
        mailbox = Mailbox(name, password, messages, token=token)
        self._users[name] = mailbox
        return mailbox

    def mailbox(self, name: str) -> Mailbox:
        """The `Mailbox` of user `name`."""
        try:
            return self._users[name]
        except KeyError:
            raise KeyError(f"no user {name!r} (users: {sorted(self._users)})") from None

    def remove_user(self, name: str) -> Mailbox:
        """Remove user `name` and return its `Mailbox`; a session already logged in keeps
        its maildrop to its end, and new logins fail as for any unknown user."""
        try:
            return self._users.pop(name)
        except KeyError:
            raise KeyError(f"no user {name!r} (users: {sorted(self._users)})") from None

    @property
    def users(self) -> dict[str, Mailbox]:
        return dict(self._users)

    # -- life cycle ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self.port

    @property
    def url(self) -> str:
        """`pop3://HOST:PORT` (curl's scheme; no credentials in it)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"pop3://{host}:{self.port}"

    @property
    def tls_url(self) -> str | None:
        """`pop3s://HOST:TLS_PORT` for the implicit-TLS listener (None without one)."""
        if self.tls_port is None:
            return None
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"pop3s://{host}:{self.tls_port}"

    def pop_url(self, user: str | None = None, *, auth: str | None = None) -> str:
        """An RFC 2384 POP URL for the plain port: `pop://[user[;AUTH=mech]@]host[:port]`.

        `auth` is a SASL mechanism, `"+APOP"` or `"*"` (any). Unsafe characters are
        percent-encoded; a password is never part of a POP URL.
        """
        if auth is not None and user is None:
            raise ConfigurationError("an RFC 2384 URL names an AUTH mechanism only with a user")
        host = f"[{self._host}]" if ":" in self._host else self._host
        port = "" if self.port == 110 else f":{self.port}"
        who = ""
        if user is not None:
            who = urllib.parse.quote(user, safe="!$&'()*+,=-._~")
            if auth is not None:
                who += ";AUTH=" + urllib.parse.quote(auth, safe="*+-_")
            who += "@"
        return f"pop://{who}{host}{port}"

    @property
    def running(self) -> bool:
        return self._started and not self._stopping.is_set()

    def start(self) -> POP3Server:
        """Bind, listen and start accepting; the port is ready when this returns."""
        if self._started:
            raise RuntimeError("a POP3Server can be started once (make a new one)")
        self._started = True
        try:
            plain = self._listen(self._port)
            self.port = plain.getsockname()[1]
            self._accept_in_thread(plain, tls=False)
            if self.implicit_tls:
                secure = self._listen(self._tls_port_wanted)
                self.tls_port = secure.getsockname()[1]
                self._accept_in_thread(secure, tls=True)
        except BaseException:
            self.stop()
            raise
        return self

    def _listen(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self._host, port))
            except OSError as exc:
                raise _bind_error(exc, self._host, port) from None
            # The kernel caps this at net.core.somaxconn. A queue of 128 overflows under a
            # burst of connections, and the server speaks first: an overflowed client waits
            # for SYN-ACK retries or, with SYN cookies, for a greeting that never comes.
            sock.listen(socket.SOMAXCONN)
        except OSError:
            sock.close()
            raise
        self._listeners.append(sock)
        return sock

    def _accept_in_thread(self, listener: socket.socket, *, tls: bool) -> None:
        name = f"pop3mock-accept-{listener.getsockname()[1]}"
        thread = threading.Thread(
            target=self._accept_loop, args=(listener, tls), name=name, daemon=True
        )
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket, tls: bool) -> None:
        while not self._stopping.is_set():
            try:
                sock, peer = listener.accept()
            except OSError:
                return  # the listener was shut down by stop()
            try:
                self._serve(sock, peer, tls)
            except Exception as exc:  # pragma: no cover - defensive: never kill accept
                self._record_error(exc, f"accepting a connection from {peer[0]}:{peer[1]}")
                sock.close()

    def _serve(self, sock: socket.socket, peer: Any, tls: bool) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = None
        with self._lock:
            if self._stopping.is_set():
                sock.close()
                return
            full = (
                self.max_connections is not None and len(self._connections) >= self.max_connections
            )
            dropped = self._make_room() if full and self.drop_oldest_when_full else None
            if dropped is not None:
                full = False
            if not full:
                conn = _Connection(self, sock, peer, tls)
                self._connections.add(conn)
                if self._idle_threads:
                    self._idle_threads -= 1
                else:
                    thread = threading.Thread(
                        target=self._connection_thread,
                        args=(conn,),
                        name=f"pop3mock-conn-{next(_thread_numbers)}",
                        daemon=True,
                    )
                    if len(self._threads) > 2 * len(self._connections) + 64:
                        # Threads beyond the idle ones end with their connection; a
                        # long-running server must not keep every one it ever started.
                        self._threads = [t for t in self._threads if t.is_alive()]
                    self._threads.append(thread)
        if dropped is not None:
            dropped.drop()
        if full:
            self._refuse(sock)
        elif thread is None:
            self._handoff.put(conn)  # an idle connection thread takes it
        else:
            try:
                thread.start()
            except RuntimeError as exc:  # "can't start new thread": a process or memory limit
                self._no_thread(conn, thread, exc)

    def _make_room(self) -> _Connection | None:
        # Under the lock. Clients that logged in keep their place; the oldest one still
        # logging in (or holding a slot without trying) gives its slot to the newcomer.
        waiting = [c for c in self._connections if not c.logged_in]
        if not waiting:
            return None
        oldest = min(waiting, key=lambda c: c.number)
        self._connections.discard(oldest)
        self._leaving.add(oldest)
        return oldest

    def _no_thread(self, conn: _Connection, thread: threading.Thread, exc: RuntimeError) -> None:
        # The connection never ran: free its slot, forget the thread (joining a thread that
        # never started raises), tell the client it is a passing failure, and report it.
        with self._lock:
            self._connections.discard(conn)
            with contextlib.suppress(ValueError):
                self._threads.remove(thread)
        peer = f"{conn.peer[0]}:{conn.peer[1]}"
        error = ServerError(f"cannot start a thread for the connection from {peer}: {exc}")
        error.__cause__ = exc
        self._record_error(error, f"accepting the connection from {peer}")
        self._refuse(conn.sock, "internal")

    def _connection_thread(self, conn: _Connection | None) -> None:
        # Serve connections one after another; between them wait for the next one.
        while conn is not None:
            conn.thread = threading.current_thread()
            conn.run()
            with self._lock:
                if self._stopping.is_set() or self._idle_threads >= _MAX_IDLE_THREADS:
                    return
                self._idle_threads += 1
            conn = self._handoff.get()

    def _refuse(self, sock: socket.socket, key: str = "too_many_connections") -> None:
        # Beyond max_connections a real server answers -ERR [SYS/TEMP] and closes (RFC 3206).
        try:
            sock.settimeout(1.0)
            if not self.implicit_tls or sock.getsockname()[1] == self.port:
                sock.sendall(system_error(self.config, key).encode())
        except OSError:
            pass
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop accepting, end every connection, join every thread. Safe to call twice."""
        self._stopping.set()
        for listener in self._listeners:
            _shutdown(listener)
            listener.close()
        with self._lock:
            connections = [*self._connections, *self._leaving]
            threads = list(self._threads)
            idle, self._idle_threads = self._idle_threads, 0
        for _ in range(idle):
            self._handoff.put(None)  # wakes one idle connection thread, which then ends
        for conn in connections:
            conn.abort()
        deadline = time.monotonic() + _JOIN_TIMEOUT
        stuck = []
        for thread in threads:
            if thread is threading.current_thread() or thread.ident is None:
                continue  # (a thread that never started has nothing to join)
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
        if stuck:
            error = ServerError(f"server threads did not stop within {_JOIN_TIMEOUT} s: {stuck}")
            self._record_error(error, "stop()")
            raise error

    def __enter__(self) -> POP3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- errors and checks ---------------------------------------------------------------

    def _record_error(self, exc: BaseException, place: str) -> None:
        with self._lock:
            self.errors.append(exc)
            self._error_places[id(exc)] = place

    def check(self) -> None:
        """Raise what went wrong on the server side, in this order: an exception inside
        the server, client violations (strict mode, or a replay the client left), a fault
        rule whose user= names no user, counted faults that did not fire."""
        with self._lock:
            errors = [(e, self._error_places.get(id(e), "the server")) for e in self.errors]
        if errors:
            # One line per failure; the first one's traceback is printed once, as the cause.
            lines = [
                f"{place}: {''.join(traceback.format_exception_only(type(exc), exc)).strip()}"
                for exc, place in errors
            ]
            if len(lines) == 1:
                text = f"the POP3 server failed in {lines[0]}"
            else:
                listed = "\n".join(f"  {line}" for line in lines)
                text = f"the POP3 server failed {len(lines)} times:\n{listed}"
            raise ServerError(f"{text}\n(traceback of the first failure above)") from errors[0][0]
        if self.strict or self.replay is not None:
            # A replayed client that left the recording's script fails the test.
            report = self.journal.violation_report()
            if report:
                raise ClientViolationError(report)
        if self.check_faults:
            self._check_fault_users()
            self.faults.check()

    def _check_fault_users(self) -> None:
        # Users may be added until the end, so only now is a user= that names nobody known
        # for sure to be a mistake (the marker and `serve` refuse it before the start).
        with self._lock:
            users = list(self._users)
        for rule in self.faults.rules:
            problem = unknown_user(rule.user, users)
            if problem:
                raise ConfigurationError(f"fault spec {rule.spec()!r}: {problem}")

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._started else "not started"
        return f"<POP3Server {self.url} {state} users={sorted(self._users)}>"

    # -- helpers for connections ---------------------------------------------------------

    def _timestamp(self) -> str:
        return f"<{os.getpid()}.{next(_timestamps)}.{int(time.time())}@{self.config.hostname}>"

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._leaving.discard(conn)


def _bind_error(exc: OSError, host: str, port: int) -> OSError:
    # The same OSError subclass (an `except OSError` or `except PermissionError` still
    # catches it) and errno, with the address in the message: "[Errno 98] Address already
    # in use" alone does not say which of a test's servers failed.
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot listen on {address}: {reason}")


#: ServerConfig's names that POP3Server takes under another (documented) name; the old
#: name still works but is never suggested.
_RENAMED = {"max_command_length": "max_line_length"}


def option_names() -> frozenset[str]:
    """Every keyword option of POP3Server, under the names the documentation uses."""
    import inspect

    own = set(inspect.signature(POP3Server.__init__).parameters) - {"self", "options"}
    config = {_RENAMED.get(name, name) for name in attrs.fields_dict(ServerConfig)}
    # stls_available is what stls= sets.
    return frozenset((own | config | {"greeting", "sasl_mechanisms"}) - {"stls_available"})


def _config_from_options(options: dict[str, Any], *, stls: bool) -> ServerConfig:
    from pop3mock.protocol._personality import personality_config

    options = dict(options)
    known = option_names()
    for name in sorted(options):
        if name not in known and name not in _RENAMED:
            raise ConfigurationError(f"unknown POP3Server option {name}{suggestion(name, known)}")
    personality = options.pop("personality", "default")
    greeting = options.pop("greeting", None)
    if greeting is not None:
        texts = dict(options.pop("texts", {}) or {})
        texts["greeting"] = greeting
        options["texts"] = texts
    if "max_line_length" in options:
        options["max_command_length"] = options.pop("max_line_length")
    if "sasl_mechanisms" in options:
        options["mechanisms"] = options.pop("sasl_mechanisms")
    try:
        return personality_config(personality, stls_available=stls, **options)
    except TypeError as exc:
        raise ConfigurationError(f"unknown POP3Server option: {exc}") from None


def _shutdown(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: wake the owner thread without
    # touching the TLS object another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Connection:
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
        _shutdown(self.sock)

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
