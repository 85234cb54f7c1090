"""AdminServer: the control API over HTTP (`_connection` reads and answers the requests).

One thread accepts (`pop3mock-admin`), one daemon thread serves each connection
(`pop3mock-admin-N`); `stop()` ends long-polls, shuts every open connection down (which
wakes a thread blocked on a keep-alive connection at once) and joins every thread.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import itertools
import socket
import threading

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError, ServerError
from pop3mock.server._server import POP3Server

from ._api import Api
from ._connection import IDLE_LIMIT, Connection, HttpDate, Target, idle_limit
from ._wire import Head

__all__ = ["DEFAULT_MAX_BODY", "AdminServer"]

#: Largest request body read (POST /users/{name}/messages with many messages): 64 MiB.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
_JOIN_TIMEOUT = 5.0
_numbers = itertools.count(1)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminServer:
    """The HTTP control API of a running `POP3Server`: users, mail, faults and the journal.

    >>> with POP3Server() as pop, AdminServer(pop) as admin:
    ...     print(admin.url)  # http://127.0.0.1:PORT

    Binds loopback by default; another address needs `token` (every request then carries
    `Authorization: Bearer TOKEN`). POST /reset goes back to the server as it is when this
    object is made.
    """

    def __init__(
        self,
        server: POP3Server,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not isinstance(server, POP3Server):
            raise ConfigurationError(f"AdminServer serves a POP3Server, not {server!r}")
        if not isinstance(host, str) or not host:
            raise ConfigurationError(f"admin host {host!r}: a non-empty string")
        if not whole_number(port, 0) or port > 65535:
            raise ConfigurationError(f"admin port {port!r}: a whole number from 0 to 65535")
        if token is not None and (
            not isinstance(token, str)
            or not token
            or any(c.isspace() or not c.isprintable() for c in token)
        ):
            raise ConfigurationError(
                "admin token: a non-empty string without spaces or control characters"
            )
        if token is None and not is_loopback(host):
            raise ConfigurationError(
                f"the control API on {host} would let anyone who reaches it change the "
                "server: give an admin token (--admin-token) or bind it to loopback"
            )
        if not whole_number(max_body, 1):
            raise ConfigurationError(f"admin max body {max_body!r}: a whole number >= 1")
        self.pop3 = server
        self.host = host
        self.max_body = max_body
        self._wanted_port = port
        self._token = token.encode("utf-8") if token is not None else None
        self.api = Api(server)
        #: The port asked for until start(), then the one bound.
        self.port = port
        self._httpd: _Listener | None = None
        self._date = HttpDate()
        # Requests its clients sent before, parsed and routed (`_connection`).
        self._heads: dict[bytes, Head] = {}
        self._targets: dict[str, Target] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """`http://HOST:PORT` of the API (once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> AdminServer:
        """Bind, listen and start serving; the API answers when this returns."""
        if self._httpd is not None or self._stopped:
            raise RuntimeError("an AdminServer can be started once (make a new one)")
        httpd = _Listener(self, (self.host, self._wanted_port))
        self._httpd = httpd
        self.port = httpd.port
        # Subscribed now, not earlier: a server that never starts keeps no listener.
        self.pop3.journal.subscribe(self.api.metrics)
        thread = threading.Thread(
            target=httpd.accept_loop,
            name="pop3mock-admin",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: end long-polls, close connections, join every thread."""
        httpd, self._httpd = self._httpd, None
        self._stopped = True
        if httpd is None:
            return
        self.api.stop()
        self.pop3.journal.unsubscribe(self.api.metrics)
        httpd.stop_accepting()
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)
        stuck = httpd.close_all()
        httpd.close()
        if stuck:
            raise ServerError(f"admin threads did not stop: {', '.join(stuck)}")

    def __enter__(self) -> AdminServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "serving" if self._httpd is not None else "stopped"
        return f"<AdminServer {self.url} {state}>"

    def _authorized(self, header: str | None) -> bool:
        if self._token is None:
            return True
        given = (header or "").encode("utf-8", "replace")
        return hmac.compare_digest(given, b"Bearer " + self._token)


class _Listener:
    """The listening socket, the accept loop and the thread of each open connection."""

    def __init__(self, owner: AdminServer, address: tuple[str, int]) -> None:
        self.owner = owner
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            # A restarted server takes its port back at once, as http.server's does.
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(128)  # a burst of test processes connecting at once
        except BaseException:
            self.socket.close()
            raise
        self.port: int = self.socket.getsockname()[1]
        self._open: dict[threading.Thread, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._open_lock = threading.Lock()
        self._stopping = threading.Event()

    def accept_loop(self) -> None:
        # A listening socket shut down wakes accept() at once: no polling interval.
        while not self._stopping.is_set():
            try:
                sock, _ = self.socket.accept()
            except OSError:
                break
            if self._stopping.is_set():
                sock.close()
                break
            thread = threading.Thread(
                target=self._serve,
                args=(sock,),
                name=f"pop3mock-admin-{next(_numbers)}",
                daemon=True,
            )
            with self._open_lock:
                # A thread takes its socket out when it ends, but stays until close_all()
                # has seen it end (or a later connection finds it ended).
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                self._open[thread] = sock
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            # Status line, fields and a small body go out in one send, at once.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            idle_limit(sock, IDLE_LIMIT)
            Connection(self.owner, sock).serve()
        except Exception as exc:
            # A client that goes away mid-reply is not the server's failure; anything else is.
            if not isinstance(exc, OSError):
                self.owner.pop3._record_error(exc, "the control API")
        finally:
            with self._open_lock:
                self._open.pop(threading.current_thread(), None)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            sock.close()

    def stop_accepting(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)

    def close_all(self) -> list[str]:
        """Shut down every open connection, join its thread; the names of stuck ones."""
        with self._open_lock:
            open_now = list(self._open.values())
            threads = list(self._threads)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        stuck = []
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck

    def close(self) -> None:
        self.socket.close()
