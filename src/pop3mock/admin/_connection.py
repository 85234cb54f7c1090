"""One connection of the control API: read a request, route it, write the reply, and keep
the connection for the next one (HTTP/1.1 keep-alive) until the client closes it, it stays
idle too long, or the server stops. A request sent again (a client polling /health or the
journal) is neither parsed nor routed again: the server keeps the heads and targets it read.

The socket stays in blocking mode with its idle limit kept by the kernel (SO_RCVTIMEO,
SO_SNDTIMEO): a socket timeout in Python would poll before every recv and send, and each
such call lets go of the GIL and then waits to get it back behind the POP3 threads. A
request costs one recv and one send.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import socket
import struct
import time
import urllib.parse
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from ._api import Api
from ._http import ApiError, Reply, Request, json_reply
from ._openapi import document
from ._routes import ROUTES, Handler, match
from ._wire import Head, head_end, parse_head, render, skip_blank_lines

if TYPE_CHECKING:
    from ._server import AdminServer

__all__ = ["Connection", "HttpDate", "Target"]

#: A keep-alive connection idle this long is closed (stop() closes them all at once).
IDLE_LIMIT = 120
_CHUNK = 65536
_CR_LF = (0x0D, 0x0A)
# Parsed heads and resolved targets kept per server, for clients that send the same
# request again: at most this many, each at most this long (then the lot is dropped).
_KEPT_HEADS = 256
_KEPT_HEAD = 2048
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HttpDate:
    """The Date field of replies, formatted at most once a second (RFC 9110 section 6.6.1)."""

    def __init__(self) -> None:
        self._held = (0, "")

    def __call__(self) -> str:
        now = int(time.time())
        held = self._held
        if held[0] != now:
            # One tuple, replaced whole: threads that race here each write a correct one.
            held = self._held = (now, email.utils.formatdate(now, usegmt=True))
        return held[1]


def idle_limit(sock: socket.socket, seconds: int) -> None:
    """Make a blocking `sock` give up a recv or send after `seconds` (then OSError)."""
    limit = struct.pack("ll", seconds, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
    except OSError:
        # A platform whose timeval differs: Python's own timeout does the same, slower.
        sock.settimeout(seconds)


@attrs.frozen
class Target:
    """A request target resolved to its route. Kept per target, so that a client that
    sends the same request again (polling /health or the journal) does not have it split,
    decoded and matched each time."""

    path: str
    query: Mapping[str, list[str]]
    template: str
    params: Mapping[str, str]
    #: The handler of each allowed method, and those methods as the Allow field lists them.
    handlers: Mapping[str, Handler]
    allow: str

    @classmethod
    def of(cls, target: str) -> Target:
        """The route of `target`, or the 400 or 404 that refuses it."""
        url = urllib.parse.urlsplit(target)
        try:
            found = match(url.path)
            query = (
                urllib.parse.parse_qs(url.query, keep_blank_values=True, errors="strict")
                if url.query
                else {}
            )
        except UnicodeDecodeError:
            raise ApiError(400, "the path or query is not UTF-8 when decoded") from None
        if found is None:
            raise ApiError(404, f"no route {url.path}", routes=list(ROUTES))
        template, params = found
        handlers, allow = _ALLOWED[template]
        # Read-only: every request for this target gets these same mappings.
        return cls(
            url.path, MappingProxyType(query), template, MappingProxyType(params), handlers, allow
        )


def _allowed(template: str) -> tuple[Mapping[str, Handler], str]:
    if template == "/openapi.json":
        # Answered by the connection, not by a handler (the document knows the routes).
        return {"GET": _answered_by_connection}, "GET"
    handlers = ROUTES[template]
    return handlers, ", ".join(sorted(handlers))


def _answered_by_connection(api: Api, request: Request) -> Reply:
    return _document_reply()


_ALLOWED = {template: _allowed(template) for template in ROUTES}


@functools.cache
def _document_reply() -> Reply:
    return json_reply(200, document())


class Connection:
    """Serves the requests of one client socket, one after the other."""

    def __init__(self, owner: AdminServer, sock: socket.socket) -> None:
        self.owner = owner
        self.sock = sock
        self._buffer = bytearray()
        self._body_read = False

    def serve(self) -> None:
        """Answer requests until the connection ends (a closed socket ends it quietly)."""
        with contextlib.suppress(OSError):
            while self._one():
                pass

    def _one(self) -> bool:
        """Read and answer one request; whether to go on with the connection."""
        try:
            head = self._read_head()
        except ApiError as exc:
            # The framing of whatever follows is unknown: answer, then close.
            self._send(exc.reply(), close=True)
            return False
        if head is None:
            return False
        self._body_read = False
        try:
            reply = self._route(head)
        except ApiError as exc:
            reply = exc.reply()
        except Exception as exc:
            self.owner.pop3._record_error(
                exc, f"the control API, {head.method} {head.target.split('?')[0]}"
            )
            reply = json_reply(500, {"error": f"server error: {type(exc).__name__}"})
        announced = bool(head.content_length) or "transfer-encoding" in head.fields
        # A body refused unread (or cut short) leaves the connection unusable.
        close = not head.keep_alive or (announced and not self._body_read)
        keep_alive_10 = not close and head.version < (1, 1)
        self._send(reply, close=close, keep_alive_10=keep_alive_10, body=head.method != "HEAD")
        return not close

    def _send(self, reply: Reply, **how: bool) -> None:
        self.sock.sendall(render(reply, date=self.owner._date(), **how))

    def _read_head(self) -> Head | None:
        buffer = self._buffer
        while True:
            if buffer:
                if buffer[0] in _CR_LF:
                    skip_blank_lines(buffer)
                end = head_end(buffer)
                if end >= 0:
                    break
            data = self.sock.recv(_CHUNK)
            if not data:
                return None  # closed, also in the middle of a head: nobody to answer
            buffer += data
        raw = bytes(buffer[:end])
        del buffer[:end]
        heads = self.owner._heads
        head = heads.get(raw)
        if head is None:
            head = parse_head(raw)
            if len(raw) <= _KEPT_HEAD:
                if len(heads) >= _KEPT_HEADS:
                    heads.clear()
                heads[raw] = head
        return head

    def _route(self, head: Head) -> Reply:
        owner = self.owner
        if owner._token is not None and not owner._authorized(head.fields.get("authorization")):
            raise ApiError(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        targets = owner._targets
        target = targets.get(head.target)
        if target is None:
            target = Target.of(head.target)
            if len(head.target) <= _KEPT_HEAD:
                if len(targets) >= _KEPT_HEADS:
                    targets.clear()
                targets[head.target] = target
        if head.method not in target.handlers:
            raise ApiError(
                405,
                f"{head.method} is not allowed on {target.template}: {target.allow}",
                headers={"Allow": target.allow},
            )
        body = self._body(head, owner.max_body)
        request = Request(
            head.method, target.path, target.query, head.content_type, body, target.params
        )
        return target.handlers[head.method](owner.api, request)

    def _body(self, head: Head, limit: int) -> bytes:
        if "transfer-encoding" in head.fields:
            raise ApiError(
                411, "send the body with Content-Length (Transfer-Encoding is not accepted)"
            )
        expect = head.fields.get("expect")
        if expect is not None and expect.lower() != "100-continue":
            raise ApiError(417, f"Expect: only 100-continue is understood, not {expect!r}")
        length = head.content_length
        if not length:
            self._body_read = True
            return b""
        if length > limit:
            # Refused before reading a byte of it (and without "100 Continue": a client
            # that asked first does not send it at all).
            raise ApiError(
                413, f"the body of {length} octets is over the limit of {limit}", limit=limit
            )
        if expect is not None and head.version >= (1, 1):
            self.sock.sendall(_CONTINUE)
        data = self._read(length)
        if len(data) < length:
            raise ApiError(400, "the body ended before Content-Length octets", field="body")
        self._body_read = True
        return data

    def _read(self, length: int) -> bytes:
        buffer = self._buffer
        if len(buffer) >= length:
            data = bytes(buffer[:length])
            del buffer[:length]
            return data
        out = bytearray(length)
        have = len(buffer)
        out[:have] = buffer
        buffer.clear()
        with memoryview(out) as view:
            while have < length:
                got = self.sock.recv_into(view[have:])
                if not got:
                    break
                have += got
            return bytes(view[:have])
