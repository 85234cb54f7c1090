"""POP3Server: sockets and threads around the sans-IO protocol core.

`start()` binds and listens in the caller's thread, so the server is reachable when it
returns. One accept thread per listener, one daemon thread per open connection (kept for
the next one; `_connection` serves it); `stop()` shuts every socket down and joins them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import socket
import ssl
import threading
import time
import traceback
import urllib.parse
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from pop3mock.checks import unknown_user
from pop3mock.errors import ClientViolationError, ConfigurationError, ServerError
from pop3mock.faults._faultset import FaultSet
from pop3mock.journal._journal import Journal
from pop3mock.maildrop._entries import LazyMaildrop
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.maildrop._message import LazyMessage, MessageInput
from pop3mock.protocol._config import ServerConfig
from pop3mock.protocol._personality import server_default
from pop3mock.protocol._recording import Recording
from pop3mock.protocol._replay import Replay
from pop3mock.protocol._session import system_error
from pop3mock.server._connection import Connection, bind_error, shutdown
from pop3mock.server._options import check_values, config_from_options, option_names

__all__ = ["POP3Server"]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_JOIN_TIMEOUT = 5.0
#: Commands of one session the journal keeps at each end (the first and the last ones); the
#: ones in between are counted, so that a session of a million commands stays small.
SESSION_KEEP_COMMANDS = 1000
_MAX_IDLE_THREADS = 16  # connection threads kept waiting for the next connection
_timestamps = itertools.count(1)
_thread_numbers = itertools.count(1)


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
            config = config_from_options(options, option_names(POP3Server), stls=stls)
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
        check_values(
            idle_timeout=idle_timeout,
            max_connections=max_connections,
            login_timeout=login_timeout,
            max_line=max_line,
            journal_keep=journal_keep,
            session_keep_commands=session_keep_commands,
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
        self.journal = Journal(keep_sessions=journal_keep, keep_commands=session_keep_commands)
        # A failing journal listener (a --journal file on a full disk) is a server failure.
        # Held weakly: with no reference back, a server is freed as soon as a test drops it.
        self.journal.on_listener_error = _weakly(self._record_error)
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
        self._handoff: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        self._idle_threads = 0
        self._connections: set[Connection] = set()
        # Connections dropped to make room (drop_oldest_when_full), until their thread ends.
        self._leaving: set[Connection] = set()
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
                raise bind_error(exc, self._host, port) from None
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
                conn = Connection(self, sock, peer, tls)
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

    def _make_room(self) -> Connection | None:
        # Under the lock. Clients that logged in keep their place; the oldest one still
        # logging in (or holding a slot without trying) gives its slot to the newcomer.
        waiting = [c for c in self._connections if not c.logged_in]
        if not waiting:
            return None
        oldest = min(waiting, key=lambda c: c.number)
        self._connections.discard(oldest)
        self._leaving.add(oldest)
        return oldest

    def _no_thread(self, conn: Connection, thread: threading.Thread, exc: RuntimeError) -> None:
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

    def _connection_thread(self, conn: Connection | None) -> None:
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
            shutdown(listener)
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

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._leaving.discard(conn)


def _weakly(method: Callable[[BaseException, str], None]) -> Callable[[BaseException, str], None]:
    ref = weakref.WeakMethod(method)
    return lambda exc, place: None if (bound := ref()) is None else bound(exc, place)
