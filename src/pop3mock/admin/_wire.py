"""HTTP/1.1 as the control API reads and writes it: the head of a request parsed from bytes,
a reply rendered to bytes. No sockets here, so that every edge is tested without one.

Only what the API needs (RFC 9112): a request line, header fields, a body framed by
Content-Length. Limits are checked before anything is kept: a request line over
`MAX_LINE` octets is refused with 414, a header section over `MAX_HEAD` octets or with more
than `MAX_FIELDS` fields with 431, anything malformed with 400; each of them closes the
connection, as the framing of what follows is unknown.
"""

from __future__ import annotations

import functools
import http
import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from ._http import ApiError, Reply

__all__ = [
    "MAX_FIELDS",
    "MAX_HEAD",
    "MAX_LINE",
    "Head",
    "head_end",
    "parse_head",
    "render",
    "skip_blank_lines",
]

#: Longest request line (method, target, version), in octets.
MAX_LINE = 65536
#: Longest head: request line and header section, in octets.
MAX_HEAD = 65536
#: Most header fields in one request.
MAX_FIELDS = 100

# RFC 9110 section 5.6.2: a token (methods, field names).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(r"HTTP/(\d)\.(\d)")
# Control characters other than HT are not field content (RFC 9110 section 5.5).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The blank line that ends a head; a bare LF is taken for CRLF (RFC 9112 section 2.2).
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# Words of the request line: lenient on the white space between them (RFC 9112 section 3).
_BLANKS = re.compile(r"[ \t\x0b\x0c\r]+")
_OWS = " \t"
# The common case in one pass: "METHOD /path HTTP/1.x", then fields "Name: value" with
# lower-case-able names and values free of control characters, CRLF throughout.
_TOKEN_CLASS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_PLAIN_HEAD = re.compile(
    rf"({_TOKEN_CLASS}+) (/[!-~]*) HTTP/1\.([0-9])\r\n"
    rf"((?:{_TOKEN_CLASS}+:[^\x00-\x1f\x7f]*\r\n)*)\r\n"
)
_PLAIN_FIELD = re.compile(rf"({_TOKEN_CLASS}+):[ \t]*([^\x00-\x1f\x7f]*?)[ \t]*\r\n")


@attrs.frozen
class Head:
    """A request line and its header fields, names in lower case."""

    method: str
    target: str
    version: tuple[int, int]
    #: A field given more than once holds its values joined by ", " (RFC 9110 section 5.3).
    #: Read-only: a connection keeps a head it has read, for the same request sent again.
    fields: Mapping[str, str]
    # Worked out once per head, not on every look (a keep-alive client sends the same head
    # again and again, and the connection keeps it parsed).
    #: Whether the client wants the connection kept after the reply.
    keep_alive: bool = attrs.field(init=False)
    #: The announced body length, None without one (checked by `parse_head`).
    content_length: int | None = attrs.field(init=False)
    #: The media type of Content-Type in lower case, without parameters ("" without one).
    content_type: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        tokens = {t.strip().lower() for t in self.get("connection").split(",")}
        keep = "close" not in tokens if self.version >= (1, 1) else "keep-alive" in tokens
        length = self.fields.get("content-length")
        media = self.get("content-type").split(";")[0].strip().lower()
        object.__setattr__(self, "keep_alive", keep)
        object.__setattr__(self, "content_length", None if length is None else int(length))
        object.__setattr__(self, "content_type", media)

    def get(self, name: str, default: str = "") -> str:
        """The value of the field `name` (in lower case), or `default`."""
        return self.fields.get(name, default)


def head_end(data: bytes | bytearray) -> int:
    """Where the head in `data` ends (past its blank line), -1 when it has not yet.

    Raises the 414 or 431 for a head that can no longer fit its limit.
    """
    found = _HEAD_END.search(data, 0, MAX_HEAD + 4)
    if found is not None:
        return found.end()
    first = data.find(b"\n", 0, MAX_LINE + 2)
    if first < 0 and len(data) > MAX_LINE + 1:
        raise ApiError(414, f"the request line is over {MAX_LINE} octets")
    if len(data) > MAX_HEAD + 3:
        raise ApiError(431, f"the request head is over {MAX_HEAD} octets")
    return -1


def skip_blank_lines(data: bytearray) -> None:
    """Drop the empty lines a client may send before a request (RFC 9112 section 2.2)."""
    start = 0
    while data.startswith(b"\r\n", start) or data.startswith(b"\n", start):
        start += 2 if data[start] == 0x0D else 1
    if start:
        del data[:start]


def parse_head(data: bytes) -> Head:
    """The request line and header fields of `data` (a whole head, its blank line included)."""
    # Latin-1 keeps every octet as one character: the target's percent-escapes and any
    # 8-bit octets reach the router unchanged.
    text = data.decode("latin-1")
    found = _PLAIN_HEAD.fullmatch(text)
    if found is not None and found.group(4).count("\n") <= MAX_FIELDS:
        # The usual head, read with one regular expression; anything else (bare LF line
        # ends, folding, repeated fields, errors) takes the general way below.
        method, target, minor, block = found.groups()
        fields = {name.lower(): value for name, value in _PLAIN_FIELD.findall(block)}
        length = fields.get("content-length", "0")
        if len(fields) == block.count("\n") and length.isdigit() and length.isascii():
            if target.startswith("//"):
                target = "/" + target.lstrip("/")
            return Head(method, target, (1, int(minor)), MappingProxyType(fields))
    lines = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise ApiError(400, "an empty request")
    method, target, version = _request_line(lines[0])
    return Head(method, target, version, MappingProxyType(_fields(lines[1:])))


def _request_line(line: str) -> tuple[str, str, tuple[int, int]]:
    if len(line) > MAX_LINE:
        raise ApiError(414, f"the request line is over {MAX_LINE} octets")
    words = _BLANKS.split(line.strip(" \t\x0b\x0c\r"))
    if len(words) != 3:
        raise ApiError(400, "malformed request line: expected METHOD TARGET HTTP/1.1")
    method, target, version = words
    if not _TOKEN.fullmatch(method):
        raise ApiError(400, "malformed request line: the method is not a token")
    found = _VERSION.fullmatch(version)
    if found is None:
        raise ApiError(400, "malformed request line: the version is not HTTP/x.y")
    if found.group(1) != "1":
        raise ApiError(505, f"{version} is not supported: send HTTP/1.1")
    if not target.startswith("/") and not target.lower().startswith(("http://", "https://")):
        raise ApiError(400, "malformed request line: the target is not a path")
    if target.startswith("//"):
        # Not a host name: the path "//x" is "/x" (as http.server reads it).
        target = "/" + target.lstrip("/")
    return method, target, (1, int(found.group(2)))


def _fields(lines: list[str]) -> dict[str, str]:
    names: list[str] = []
    values: list[str] = []
    for number, line in enumerate(lines, 1):
        if line[:1] in (" ", "\t"):
            # Obsolete line folding: the continuation of the field before, joined by one
            # space (RFC 9112 section 5.2).
            if not names:
                raise ApiError(400, "header field 1 starts with white space")
            values[-1] = f"{values[-1]} {line.strip(_OWS)}".strip(_OWS)
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise ApiError(400, f"header field {number}: expected NAME: VALUE")
        if len(names) == MAX_FIELDS:
            raise ApiError(431, f"more than {MAX_FIELDS} header fields")
        names.append(name.lower())
        values.append(value.strip(_OWS))
    fields: dict[str, str] = {}
    for name, value in zip(names, values, strict=True):
        if _CONTROL.search(value):
            # The value is not quoted: it may be a credential.
            raise ApiError(400, f"header field {name}: a control character in its value")
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    length = fields.get("content-length")
    if length is not None:
        # "5, 5" (the field repeated, or a list) is 5; two different lengths are refused
        # (RFC 9112 section 6.3).
        given = {part.strip(_OWS) for part in length.split(",")}
        single = given.pop() if len(given) == 1 else ""
        if not single.isdigit() or not single.isascii():
            raise ApiError(400, f"Content-Length: not a number: {length!r}", field="Content-Length")
        fields["content-length"] = single
    return fields


_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}


def render(
    reply: Reply, *, date: str, close: bool, keep_alive_10: bool = False, body: bool = True
) -> bytes:
    """The octets of `reply`: status line, header fields, body; `close` says so to the client.

    `keep_alive_10`: the request was HTTP/1.0 with `Connection: keep-alive`, which needs
    the same in the reply. `body=False` (HEAD): the fields only, Content-Length included.
    """
    start, middle, end = _fixed(
        reply.status, reply.content_type, tuple(reply.headers.items()), close, keep_alive_10
    )
    length = str(len(reply.body)).encode("ascii")
    data = b"".join((start, date.encode("latin-1"), middle, length, end))
    return data + reply.body if body else data


@functools.lru_cache(maxsize=256)
def _fixed(
    status: int,
    content_type: str,
    headers: tuple[tuple[str, str], ...],
    close: bool,
    keep_alive_10: bool,
) -> tuple[bytes, bytes, bytes]:
    # The parts of a reply's head that do not change from one reply to the next (all but
    # the Date and Content-Length values), built once per kind of reply.
    if content_type == "application/json":
        content_type = "application/json; charset=utf-8"
    start = f"HTTP/1.1 {status} {_PHRASES.get(status, '')}\r\nDate: "
    middle = f"\r\nContent-Type: {content_type}\r\nContent-Length: "
    end = ["", "Cache-Control: no-store"]
    end += [f"{name}: {value}" for name, value in headers]
    if close:
        end.append("Connection: close")
    elif keep_alive_10:
        end.append("Connection: keep-alive")
    end.append("\r\n")
    return (
        start.encode("latin-1"),
        middle.encode("latin-1"),
        "\r\n".join(end).encode("latin-1"),
    )
