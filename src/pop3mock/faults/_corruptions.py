"""Corruptions: pure functions on a reply's wire bytes, the table of kinds (`CORRUPTIONS`)
and the `Corrupt` action that applies one.
"""

from __future__ import annotations

import random
import re
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.faults._actions import (
    Action,
    Call,
    check_int,
    check_then,
    ending,
    send,
    then_keywords,
)
from pop3mock.faults._targets import can_be_multiline
from pop3mock.protocol._steps import Step

__all__ = ["CORRUPTIONS", "Corrupt"]

_CRLF = b"\r\n"
_TRAILING = b"+OK unexpected line after the reply\r\n"
# Garbage never begins like a status indicator, so no client can take it for one.
_NOISE_FIRST = bytes(b for b in range(256) if b not in b"\r\n+-.")
_NOISE = bytes(b for b in range(256) if b not in b"\r\n")


def _split_reply(wire: bytes) -> tuple[bytes, bytes | None]:
    """The status line (no CRLF) and, for a multi-line +OK reply, its body (None otherwise)."""
    head, sep, rest = wire.partition(_CRLF)
    if sep and head.startswith(b"+OK") and (rest == b".\r\n" or rest.endswith(b"\r\n.\r\n")):
        return head, rest[:-3]
    return head, None


def _lines(body: bytes) -> list[bytes]:
    return body.split(_CRLF)[:-1] if body else []


def _multi(head: bytes, lines: list[bytes], *, terminator: bool = True) -> bytes:
    out = head + _CRLF + b"".join(line + _CRLF for line in lines)
    return out + b".\r\n" if terminator else out


def _status(wire: bytes, change: Callable[[bytes], bytes]) -> bytes:
    head, sep, rest = wire.partition(_CRLF)
    return change(head) + sep + rest


def _field(line: bytes, index: int, change: Callable[[bytes], bytes]) -> bytes:
    words = line.split(b" ")
    if len(words) > index:
        words[index] = change(words[index])
    return b" ".join(words)


def _plus(delta: int) -> Callable[[bytes], bytes]:
    def change(word: bytes) -> bytes:
        return b"%d" % max(0, int(word) + delta) if word.isdigit() else word

    return change


def _wrong_size(wire: bytes, delta: int) -> bytes:
    """LIST/STAT: every octet count off by `delta` (`+OK n size`, or each `n size` line)."""
    head, body = _split_reply(wire)
    if body is None:
        return _status(wire, lambda line: _field(line, 2, _plus(delta)))
    return _multi(head, [_field(line, 1, _plus(delta)) for line in _lines(body)])


def _wrong_count(wire: bytes, delta: int) -> bytes:
    """STAT: the message count off by `delta`, so STAT disagrees with LIST."""
    return _status(wire, lambda line: _field(line, 1, _plus(delta)))


def _drop_terminator(wire: bytes) -> bytes:
    """A multi-line reply without its final `.` line."""
    head, body = _split_reply(wire)
    return wire if body is None else _multi(head, _lines(body), terminator=False)


def _cr_terminator(wire: bytes) -> bytes:
    """A multi-line reply whose final line is `.` and a bare CR, without the LF."""
    head, body = _split_reply(wire)
    return wire if body is None else _multi(head, _lines(body), terminator=False) + b".\r"


def _unstuff(wire: bytes) -> bytes:
    """Byte-stuffing undone: a body line `..x` goes out as `.x`, a lone `.` line ends early."""
    head, body = _split_reply(wire)
    if body is None:
        return wire
    return _multi(head, [line[1:] if line[:1] == b"." else line for line in _lines(body)])


def _double_stuff(wire: bytes) -> bytes:
    """Byte-stuffing applied twice: `.x` in the message arrives as `..x` after unstuffing."""
    head, body = _split_reply(wire)
    if body is None:
        return wire
    return _multi(head, [b"." + line if line[:1] == b"." else line for line in _lines(body)])


def _bare_lf(wire: bytes) -> bytes:
    """Every CRLF sent as a bare LF."""
    return wire.replace(_CRLF, b"\n")


def _long_line(wire: bytes, length: int) -> bytes:
    """A line of `length` octets (CRLF not counted): an extra first body line of a multi-line
    reply, or the status line padded."""
    head, body = _split_reply(wire)
    if body is not None:
        return _multi(head, [b"x" * length, *_lines(body)])

    def pad(line: bytes) -> bytes:
        return line if len(line) >= length else (line + b" " + b"x" * length)[:length]

    return _status(wire, pad)


def _garbage(length: int, draw: float) -> bytes:
    """`length` random octets (no CR or LF; never starting like a status) and a CRLF."""
    rng = random.Random(int(draw * 2**32))
    noise = bytes([rng.choice(_NOISE_FIRST)]) + bytes(rng.choices(_NOISE, k=length - 1))
    return noise + _CRLF


def _trailing_data(wire: bytes, data: bytes) -> bytes:
    """`data` right after a multi-line reply's terminator."""
    return wire if _split_reply(wire)[1] is None else wire + data


def _duplicate_uid(wire: bytes) -> bytes:
    """UIDL: message 2 listed with the unique-id of message 1."""
    head, body = _split_reply(wire)
    lines = _lines(body) if body is not None else []
    if len(lines) < 2 or b" " not in lines[0]:
        return wire
    first = lines[0].split(b" ", 1)[1]
    lines[1] = _field(lines[1], 1, lambda _: first)
    return _multi(head, lines)


def _changing_uid(wire: bytes, session: int) -> bytes:
    """UIDL: every unique-id depends on the session number, so it changes between sessions."""

    def change(uid: bytes) -> bytes:
        return uid[:60] + b".%d" % session  # still at most 70 printable octets

    head, body = _split_reply(wire)
    if body is None:
        if not head.startswith(b"+OK"):
            return wire
        return _status(wire, lambda line: _field(line, 2, change))
    return _multi(head, [_field(line, 1, change) for line in _lines(body)])


def _drop_timestamp(wire: bytes) -> bytes:
    """The greeting without its APOP `<timestamp>`."""
    return _status(wire, lambda line: re.sub(rb" *<[^<>]*>", b"", line))


@attrs.frozen
class _Kind:
    apply: Callable[[bytes, Corrupt, int, float], bytes]
    params: tuple[str, ...] = ()
    #: The only targets whose replies this changes (None: any reply).
    targets: frozenset[str] | None = None
    multiline: bool = False


_KINDS: Mapping[str, _Kind] = types.MappingProxyType(
    {
        "size": _Kind(
            lambda w, c, s, d: _wrong_size(w, c.delta or 1), ("delta",), frozenset({"LIST", "STAT"})
        ),
        "stat_count": _Kind(
            lambda w, c, s, d: _wrong_count(w, c.delta or 1), ("delta",), frozenset({"STAT"})
        ),
        "no_terminator": _Kind(lambda w, c, s, d: _drop_terminator(w), multiline=True),
        "cr_terminator": _Kind(lambda w, c, s, d: _cr_terminator(w), multiline=True),
        "unstuffed": _Kind(lambda w, c, s, d: _unstuff(w), multiline=True),
        "double_stuffed": _Kind(lambda w, c, s, d: _double_stuff(w), multiline=True),
        "bare_lf": _Kind(lambda w, c, s, d: _bare_lf(w)),
        "long_line": _Kind(lambda w, c, s, d: _long_line(w, c.length or 2100), ("length",)),
        "garbage": _Kind(lambda w, c, s, d: _garbage(c.length or 64, d), ("length",)),
        "trailing_data": _Kind(
            lambda w, c, s, d: _trailing_data(w, c.data or _TRAILING), ("data",), multiline=True
        ),
        "duplicate_uid": _Kind(
            lambda w, c, s, d: _duplicate_uid(w), targets=frozenset({"UIDL"}), multiline=True
        ),
        "changing_uid": _Kind(lambda w, c, s, d: _changing_uid(w, s), targets=frozenset({"UIDL"})),
        "no_timestamp": _Kind(
            lambda w, c, s, d: _drop_timestamp(w), targets=frozenset({"greeting"})
        ),
    }
)
CORRUPTIONS = tuple(_KINDS)


@attrs.frozen
class Corrupt(Action):
    """The reply, corrupted on the wire (see `CORRUPTIONS`)."""

    kind: str
    delta: int | None = None
    length: int | None = None
    data: bytes | None = None
    then: str | None = None
    word: ClassVar[str] = "corrupt"

    def __attrs_post_init__(self) -> None:
        kind = _KINDS.get(self.kind) if isinstance(self.kind, str) else None
        if kind is None:
            raise ConfigurationError(
                f"unknown corruption {self.kind!r}: one of {', '.join(CORRUPTIONS)}"
            )
        for name in ("delta", "length", "data"):
            value = getattr(self, name)
            if value is not None and name not in kind.params:
                raise ConfigurationError(f"corrupt {self.kind!r} takes no {name}")
        delta = self.delta
        if delta is not None and (not whole_number(delta, None) or not delta):
            raise ConfigurationError(f"delta={self.delta!r}: a non-zero integer")
        if self.length is not None:
            check_int("length", self.length, 1)
        if self.data is not None and (not isinstance(self.data, bytes) or not self.data):
            raise ConfigurationError(f"data={self.data!r}: non-empty bytes")
        check_then(self.then)

    def check(self, target: str, args: tuple[str, ...]) -> None:
        super().check(target, args)
        kind = _KINDS[self.kind]
        if kind.targets is not None and target not in kind.targets:
            raise ConfigurationError(
                f"corrupt {self.kind!r} changes {' and '.join(sorted(kind.targets))} replies, "
                f"not {target!r} ones"
            )
        if kind.multiline and not can_be_multiline(target, args):
            command = " ".join((target, *args))
            raise ConfigurationError(
                f"corrupt {self.kind!r} changes multi-line replies, and {command!r} is "
                "answered with one line"
            )

    def apply(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> bytes:
        """The corrupted wire bytes."""
        return _KINDS[self.kind].apply(wire, self, session, draw)

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return send(self.apply(wire, session=session, draw=draw)) + ending(self.then)

    def builder_call(self) -> Call:
        keywords: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("delta", "length", "data")
            if getattr(self, name) is not None
        }
        return "corrupt", (self.kind,), keywords | then_keywords(self.then)
