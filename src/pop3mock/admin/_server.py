"""AdminServer: the control API over HTTP, on the standard library's HTTP server.

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
import socketserver
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError, ServerError
from pop3mock.server._server import POP3Server

from ._api import Api
from ._http import ApiError, Reply, Request, json_reply
from ._openapi import document
from ._routes import ROUTES, match

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
        self._httpd: _HTTPServer | None = None
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
        httpd = _HTTPServer(self, (self.host, self._wanted_port))
        self._httpd = httpd
        self.port = httpd.server_address[1]
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
        httpd.server_close()
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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of test processes connecting at once
    block_on_close = False  # stop() joins the threads itself, after closing their sockets

    def __init__(self, owner: AdminServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._open: dict[threading.Thread, socket.socket] = {}
        self._open_lock = threading.Lock()
        self._stopping = threading.Event()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own looks the host up in DNS (socket.getfqdn), which can take seconds
        # on a machine without a resolver; the name is only used in CGI variables.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def accept_loop(self) -> None:
        # Not serve_forever(): its shutdown() waits for a poll interval to pass, while a
        # listening socket shut down wakes accept() at once.
        while not self._stopping.is_set():
            try:
                request, client_address = self.get_request()
            except OSError:
                break
            if self._stopping.is_set():
                self.shutdown_request(request)
                break
            self.process_request(request, client_address)

    def stop_accepting(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_one,
            args=(request, client_address),
            name=f"pop3mock-admin-{next(_numbers)}",
            daemon=True,
        )
        with self._open_lock:
            self._open[thread] = request
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(threading.current_thread(), None)

    def close_all(self) -> list[str]:
        """Shut down every open connection, join its thread; the names of stuck ones."""
        with self._open_lock:
            open_now = dict(self._open)
        for sock in open_now.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        stuck = []
        for thread in open_now:
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-reply is not the server's failure; anything else is.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or exc is None:
            return
        self.owner.pop3._record_error(exc, "the control API")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    #: A keep-alive connection idle this long is closed (stop() closes them all at once).
    timeout = 120
    # Status line, headers and a small body in one segment, sent at once: otherwise Nagle's
    # algorithm and the client's delayed ACK hold each reply back by tens of milliseconds.
    wbufsize = 65536
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # Nothing: a request line or header could hold a token; the journal is the record.
        return

    def handle_expect_100(self) -> bool:
        # No "100 Continue" for a body that will be refused (curl asks before large ones):
        # the client then does not send it at all.
        length = self.headers.get("Content-Length", "").strip()
        if length.isdigit() and int(length) > self.server.owner.max_body:
            return True
        return super().handle_expect_100()

    def _handle(self) -> None:
        owner = self.server.owner
        body_pending = self._announced_body()
        try:
            reply = self._route(owner)
        except ApiError as exc:
            reply = exc.reply()
        except Exception as exc:
            owner.pop3._record_error(exc, f"the control API, {self.command} {self.path}")
            reply = json_reply(500, {"error": f"server error: {type(exc).__name__}"})
        if body_pending and not self._body_read:
            # The body was refused unread: the connection cannot be reused.
            self.close_connection = True
        self._send(reply)

    def _announced_body(self) -> bool:
        self._body_read = False
        return bool(self.headers.get("Content-Length", "0").strip() not in ("", "0")) or (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        )

    def _route(self, owner: AdminServer) -> Reply:
        if not owner._authorized(self.headers.get("Authorization")):
            raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        url = urllib.parse.urlsplit(self.path)
        try:
            found = match(url.path)
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise ApiError(400, "the path or query is not UTF-8 when decoded") from None
        if found is None:
            raise ApiError(404, f"no route {url.path}", routes=list(ROUTES))
        template, params = found
        methods = ["GET"] if template == "/openapi.json" else sorted(ROUTES[template])
        if self.command not in methods:
            raise ApiError(
                405,
                f"{self.command} is not allowed on {template}: {', '.join(methods)}",
                headers={"Allow": ", ".join(methods)},
            )
        body = self._body(owner.max_body)
        if template == "/openapi.json":
            return json_reply(200, document())
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        request = Request(self.command, url.path, query, content_type, body, params)
        return ROUTES[template][self.command](owner.api, request)

    def _body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(
                411, "send the body with Content-Length (Transfer-Encoding is not accepted)"
            )
        text = self.headers.get("Content-Length")
        if text is None:
            return b""
        if not text.strip().isdigit():
            raise ApiError(400, f"Content-Length: not a number: {text!r}", field="Content-Length")
        length = int(text)
        if length > limit:
            # Refused before reading a byte of it.
            raise ApiError(
                413, f"the body of {length} octets is over the limit of {limit}", limit=limit
            )
        data = self.rfile.read(length)
        self._body_read = True
        if len(data) < length:
            self.close_connection = True
            raise ApiError(400, "the body ended before Content-Length octets", field="body")
        return data

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", _content_type(reply.content_type))
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    # Errors the standard library answers itself (a malformed request line, headers too
    # long) are JSON too.
    error_content_type = "application/json; charset=utf-8"
    error_message_format = '{"error":"%(code)d %(message)s"}\n'

    def __getattr__(self, name: str) -> Any:
        # Every method reaches the router, which answers 405 with Allow for those a route
        # does not take (the standard library would answer 501 with an HTML page).
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def _content_type(value: str) -> str:
    if value == "application/json":
        return "application/json; charset=utf-8"
    return value
