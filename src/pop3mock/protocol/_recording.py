"""Recorded POP3 conversations: the JSON-lines format `pop3mock proxy` writes and `pop3mock
serve --replay` reads, with the rules both sides share (no sockets, no clocks).

A recording is one header line, then one event per line, each tagged with the number of
the connection it belongs to (1, 2, ... in the order the proxy accepted them) and the
seconds since the recording started::

    {"pop3mock": "recording", "version": 1, "bodies": "placeholders"}
    {"conn": 1, "t": 0.0, "event": "open"}
    {"conn": 1, "t": 0.0021, "event": "reply", "data": "+OK Dovecot ready.\\r\\n"}
    {"conn": 1, "t": 0.0104, "event": "command", "line": "USER alice"}
    {"conn": 1, "t": 0.0107, "event": "reply", "data": "+OK\\r\\n"}
    {"conn": 1, "t": 0.0301, "event": "close", "by": "client"}

A reply's ``data`` is the exact bytes the server sent (a whole multi-line reply, its
terminator included), as text: UTF-8 where it decodes, each other byte as a lone surrogate
(``surrogateescape``), so that replaying it gives the same bytes. A command's ``line`` is
what the client sent as `pop3mock.protocol._text.mask` shows it: credentials are ``***`` (the
arguments of PASS, the digest of APOP, AUTH exchanges, the line after USER), which is also
how a replayed client's line is compared with it. Message bodies (the multi-line replies to
RETR and TOP) are same-size placeholders unless recorded with ``--keep-bodies``
(`placeholder_body`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from pop3mock.checks import finite_number, whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.protocol._text import credential_line, escape_json, garbled_secret, mask, mask_verb

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Connection",
    "Event",
    "Recording",
    "data_text",
    "expects_body",
    "header",
    "load_recording",
    "placeholder_body",
    "read_recording",
    "shown_command",
    "to_json",
]

#: The value of the header's ``pop3mock`` key.
FORMAT_NAME = "recording"
#: The format version this pop3mock writes and reads.
FORMAT_VERSION = 1

_EVENTS = ("open", "reply", "command", "close")
_CLOSERS = ("client", "server", "proxy")  # "proxy": it was stopped


@attrs.frozen
class Event:
    """One recorded event of a connection."""

    kind: str  # "open", "reply", "command" or "close"
    seconds: float
    #: Where it is in the file (1-based), for messages that point at it.
    line_number: int
    #: A reply's exact bytes.
    data: bytes = b""
    #: A command as shown (masked).
    line: str = ""
    #: Who closed ("client" or "server"), for "close".
    by: str = ""


@attrs.frozen
class Connection:
    """The events of one recorded connection, in order."""

    number: int
    events: tuple[Event, ...]


@attrs.frozen
class Recording:
    """A whole recording: its connections in the order they were opened."""

    connections: tuple[Connection, ...]
    path: str = "<recording>"
    bodies: str = "placeholders"


def header(*, keep_bodies: bool) -> dict[str, Any]:
    """The first line of a recording."""
    return {
        "pop3mock": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "bodies": "kept" if keep_bodies else "placeholders",
    }


def to_json(value: Mapping[str, Any]) -> str:
    """One line of the file: JSON with terminal controls escaped (``tail -f`` is safe)."""
    return escape_json(json.dumps(value, ensure_ascii=False))


def data_text(data: bytes) -> str:
    """Bytes as a JSON string that gives the same bytes back."""
    return data.decode("utf-8", "surrogateescape")


def shown_command(
    line: bytes, previous_verb: str | None, *, in_sasl: bool
) -> tuple[str | None, str]:
    """(the verb, for the next line's `previous_verb`; the line as shown, masked).

    Splits a line as the server does (`Session.verb_of`), so that the recording and the
    replay mask the same words.
    """
    from pop3mock.protocol._session import Session

    credential = credential_line(previous_verb, in_sasl=in_sasl)
    if in_sasl:
        return None, mask("", (line.decode("ascii", "replace"),), credential=credential)
    verb, rest = Session.verb_of(line)
    args = tuple([rest] if verb == "PASS" and rest else rest.split())
    if garbled_secret(verb):
        verb, args = mask_verb(verb), ()
    return verb, mask(verb, args, credential=credential)


def expects_body(verb: str, args: str, status_line: bytes) -> bool:
    """Whether the reply whose first line is `status_line` goes on to a multi-line body."""
    if not status_line.startswith(b"+OK"):
        return False
    if verb in ("RETR", "TOP", "CAPA"):
        return True
    # LIST and UIDL list every message without an argument; AUTH without one lists the
    # mechanisms on the servers that answer it with +OK.
    return verb in ("LIST", "UIDL", "AUTH") and not args.strip()


# -- placeholders -----------------------------------------------------------------------------

# Headers whose values are the message's shape, not its content: kept as they are.
_SHAPE_HEADERS = frozenset({b"content-type", b"content-transfer-encoding", b"mime-version"})
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]*)"|([^\s;]+))', re.IGNORECASE)
_FILLER = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "


def _fill(length: int, base64: bool) -> bytes:
    if length <= 0:
        return b""
    if base64:
        return b"A" * length
    repeated = _FILLER * (length // len(_FILLER) + 1)
    return repeated[:length]


def _split_ending(line: bytes) -> tuple[bytes, bytes]:
    for ending in (b"\r\n", b"\n", b"\r"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, b""


def placeholder_body(body: bytes) -> bytes:
    """A message as sent on the wire (byte-stuffed lines, no terminator) with its text
    replaced by filler of the same length.

    Every line keeps its length and its line end, so the message keeps its size (LIST stays
    true) and its line count (TOP stays true). Kept: header names, the values of
    Content-Type, Content-Transfer-Encoding and MIME-Version (and their folded lines), the
    MIME boundary lines, empty lines, and the dot that byte-stuffs a line. Base64 parts get
    base64-shaped filler.
    """
    out: list[bytes] = []
    boundaries: list[bytes] = []
    in_headers = True
    keep_folded = False
    part_type = b""
    part_base64 = False
    body_base64 = False
    current_name = b""
    for line in body.splitlines(keepends=True):
        text, ending = _split_ending(line)
        stuffed = text.startswith(b".")
        bare = text[1:] if stuffed else text
        if in_headers:
            if bare == b"":
                in_headers = False
                found = _BOUNDARY.search(part_type) if b"multipart" in part_type.lower() else None
                if found is not None:
                    boundaries.append(found.group(1) or found.group(2))
                body_base64 = part_base64
                part_type, part_base64 = b"", False
                out.append(line)
                continue
            if bare[:1] in (b" ", b"\t"):
                # A folded line: part of the header above.
                if keep_folded:
                    if current_name == b"content-type":
                        part_type += bare
                    out.append(line)
                else:
                    indent = len(bare) - len(bare.lstrip(b" \t"))
                    kept = text[: len(text) - len(bare) + indent]
                    out.append(kept + _fill(len(bare) - indent, False) + ending)
                continue
            name, colon, value = bare.partition(b":")
            current_name = name.strip().lower()
            keep_folded = bool(colon) and current_name in _SHAPE_HEADERS
            if keep_folded:
                if current_name == b"content-type":
                    part_type = value
                elif current_name == b"content-transfer-encoding":
                    part_base64 = value.strip().lower() == b"base64"
                out.append(line)
            elif colon:
                space = len(value) - len(value.lstrip(b" \t"))
                prefix = text[: len(text) - len(value) + space]
                out.append(prefix + _fill(len(value) - space, False) + ending)
            else:
                out.append(_filled(text, False) + ending)
            continue
        mark = _boundary_mark(bare.rstrip(), boundaries)
        if mark is not None:
            out.append(line)
            if mark == "open":
                in_headers, keep_folded = True, False
            else:
                body_base64 = False  # the epilogue
            continue
        out.append(_filled(text, body_base64) + ending)
    return b"".join(out)


def _boundary_mark(text: bytes, boundaries: list[bytes]) -> str | None:
    """The kind of boundary line `text` is: "open" for a line that starts a MIME part,
    "close" for one that ends the parts, None for any other line."""
    for boundary in boundaries:
        if text == b"--" + boundary:
            return "open"
        if text == b"--" + boundary + b"--":
            return "close"
    return None


def _filled(text: bytes, base64: bool) -> bytes:
    """`text` as filler, its leading dots kept: a byte-stuffed line stays byte-stuffed and
    the message keeps its size once unstuffed."""
    dots = 2 if text.startswith(b"..") else 1 if text.startswith(b".") else 0
    return text[:dots] + _fill(len(text) - dots, base64)


# -- reading ------------------------------------------------------------------------------


class _Bad(Exception):
    pass


def read_recording(lines: Iterable[str], path: str = "<recording>") -> Recording:
    """Parse the lines of a recording; a ConfigurationError names the line and the fault."""
    events: dict[int, list[Event]] = {}
    closed: set[int] = set()
    bodies = "placeholders"
    number = 0
    for number, text in enumerate(lines, 1):
        try:
            if number == 1:
                bodies = _header(text)
                continue
            if not text.strip():
                raise _Bad("an empty line")
            conn, event = _event(text, number)
            if conn in closed:
                raise _Bad(f"connection {conn} has an event after its close")
            if conn not in events:
                if event.kind != "open":
                    raise _Bad(f"connection {conn} starts with {event.kind!r}, not 'open'")
                if events and conn != max(events) + 1:
                    raise _Bad(f"connection {conn} opens out of order (expected {max(events) + 1})")
                if not events and conn != 1:
                    raise _Bad(f"the first connection is {conn}, not 1")
                events[conn] = []
            elif event.kind == "open":
                raise _Bad(f"connection {conn} is opened twice")
            if event.kind == "close":
                closed.add(conn)
            events[conn].append(event)
        except _Bad as exc:
            raise ConfigurationError(f"{path}, line {number}: {exc}") from None
    if number == 0:
        raise ConfigurationError(f"{path}: empty, not a pop3mock recording")
    return Recording(
        tuple(Connection(n, tuple(e)) for n, e in sorted(events.items())), path, bodies
    )


def load_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording file; ConfigurationError if it cannot be read or is malformed."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8", errors="surrogateescape", newline="\n") as handle:
            return read_recording([line.rstrip("\n") for line in handle], name)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the recording {name}: {exc.strerror or exc}"
        ) from None


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _Bad(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _Bad(f"expected a JSON object, got {type(value).__name__}")
    return value


def _header(text: str) -> str:
    try:
        value = _json(text)
    except _Bad as exc:
        raise _Bad(f"not a pop3mock recording header: {exc}") from None
    if value.get("pop3mock") != FORMAT_NAME:
        raise _Bad('not a pop3mock recording: the first line lacks "pop3mock": "recording"')
    version = value.get("version")
    if version != FORMAT_VERSION:
        raise _Bad(
            f"a recording of format version {version!r}; this pop3mock reads version "
            f"{FORMAT_VERSION} (record it again with this pop3mock proxy)"
        )
    bodies = value.get("bodies", "placeholders")
    if bodies not in ("placeholders", "kept"):
        raise _Bad(f"'bodies' must be 'placeholders' or 'kept', not {bodies!r}")
    return str(bodies)


def _event(text: str, number: int) -> tuple[int, Event]:
    value = _json(text)
    conn = value.get("conn")
    if not whole_number(conn, 1):
        raise _Bad(f"'conn' must be a connection number >= 1, not {conn!r}")
    seconds = value.get("t")
    if not finite_number(seconds) or seconds < 0:
        raise _Bad(f"'t' must be seconds since the start (a number >= 0), not {seconds!r}")
    kind = value.get("event")
    if kind not in _EVENTS:
        raise _Bad(f"'event' must be one of {', '.join(_EVENTS)}, not {kind!r}")
    known = {"conn", "t", "event", "data", "line", "by"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise _Bad(f"unknown key {unknown[0]!r} in a {kind!r} event")
    if kind == "reply":
        data = value.get("data")
        if not isinstance(data, str) or not data:
            raise _Bad("a 'reply' needs 'data': the reply's text")
        try:
            raw = data.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise _Bad("'data' holds a character that is no byte") from None
        if not raw.endswith(b"\n"):
            raise _Bad("a reply's 'data' must end with its line end")
        return conn, Event(kind, float(seconds), number, data=raw)
    if kind == "command":
        line = value.get("line")
        if not isinstance(line, str):
            raise _Bad("a 'command' needs 'line': the command as shown")
        return conn, Event(kind, float(seconds), number, line=line)
    if kind == "close":
        by = value.get("by")
        if by not in _CLOSERS:
            raise _Bad(f"a 'close' needs 'by': {', '.join(_CLOSERS)}, not {by!r}")
        return conn, Event(kind, float(seconds), number, by=str(by))
    return conn, Event(kind, float(seconds), number)
