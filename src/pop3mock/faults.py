"""Fault rules: when to misbehave and how, compiled to the I/O steps the server carries out.

    server.faults.on("RETR", 2).error("[SYS/TEMP] storage offline")
    server.faults.on("RETR").nth(3).disconnect(after_bytes=1000)
    server.faults.on("greeting").delay(2.0)
    server.faults.add_spec("LIST once: corrupt size")

A `Rule` is a frozen value: what it matches (a `FaultPoint`: the command, its arguments,
the user, the session number, the state; the greeting and the connection itself are points
too), how often it fires, and an `Action`. The server asks `FaultSet.plan(point)` before each
reply. A plan may replace the reply (the protocol core then never sees the command) and turns
the reply's wire bytes into `steps`; everything random is drawn when the rule fires, so
compiling is a pure function. Every rule has a text form (`str(rule)`, `parse_spec`) that maps
one to one onto the Python calls.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
import random
import re
import threading
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from . import steps as io
from .errors import ConfigurationError, UnfiredFaultError
from .steps import Step

__all__ = [
    "CORRUPTIONS",
    "KNOWN_TARGETS",
    "Action",
    "Bandwidth",
    "Corrupt",
    "Delay",
    "Disconnect",
    "Dribble",
    "Error",
    "FaultPlan",
    "FaultPoint",
    "FaultSet",
    "Hang",
    "Ok",
    "ReplyRaw",
    "Reset",
    "Rule",
    "RuleBuilder",
    "parse_spec",
]

# -- what a rule can match -------------------------------------------------------------------

# The arguments of each command by position: "n" a message number (1, 2...), "k" a line count
# (0, 1...), "w" one word, "rest" the rest of the line (a password may hold spaces), "mech" a
# SASL mechanism (compared case-insensitively). A rule may give a prefix of them.
_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "connect": (),
    "greeting": (),
    "*": (),
    "USER": ("w",),
    "PASS": ("rest",),
    "APOP": ("w", "w"),
    "AUTH": ("mech", "w"),
    "CAPA": (),
    "STLS": (),
    "UTF8": (),
    "LANG": ("w",),
    "QUIT": (),
    "STAT": (),
    "LIST": ("n",),
    "RETR": ("n",),
    "DELE": ("n",),
    "NOOP": (),
    "RSET": (),
    "TOP": ("n", "k"),
    "UIDL": ("n",),
    "LAST": (),
}
KNOWN_TARGETS = frozenset(_ARGUMENTS)
_COMMANDS = sorted(t for t in _ARGUMENTS if t.isupper())
_STATES = ("AUTHORIZATION", "TRANSACTION")
# +OK replies that are multi-line: always, or when the command has no argument.
_MULTILINE_ALWAYS = frozenset({"RETR", "TOP", "CAPA"})
_MULTILINE_BARE = frozenset({"LIST", "UIDL", "AUTH", "LANG"})
# RFC 2449 section 8: resp-code = "[" resp-level *("/" resp-level) "]", rchar %x21-2E / %x30-5C
# / %x5E-7F (no "/" or "]" inside a level).
_LEVEL = r"[!-.0-\\^-~]+"
_CODE_RE = re.compile(rf"{_LEVEL}(?:/{_LEVEL})*")
_LEADING_CODE_RE = re.compile(rf"\[({_LEVEL}(?:/{_LEVEL})*)\](?: |$)")


def _number(text: str) -> int | None:
    # As the protocol core parses numbers: ASCII digits, leading zeros allowed.
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    return int(text)


@attrs.frozen
class FaultPoint:
    """Where the server is: what it is about to answer, for whom, in which session."""

    target: str
    args: tuple[str, ...] = ()
    user: str | None = None
    session: int = 1
    state: str = "AUTHORIZATION"


def _target(name: object) -> str:
    if isinstance(name, str):
        if name.lower() in ("connect", "greeting"):
            return name.lower()
        if name.upper() in _ARGUMENTS:
            return name.upper()
    raise ConfigurationError(
        f"unknown fault target {name!r}: a POP3 command ({' '.join(_COMMANDS)}), "
        "'greeting', 'connect' or '*'"
    )


def _arguments(target: str, args: tuple[object, ...]) -> tuple[str, ...]:
    """The rule's arguments in canonical form; arguments no client can send are rejected."""
    kinds = _ARGUMENTS[target]
    if len(args) > len(kinds):
        if not kinds:
            raise ConfigurationError(f"{target!r} takes no arguments, so {args!r} never matches")
        raise ConfigurationError(
            f"{target} takes at most {len(kinds)} argument(s), so {args!r} never matches"
        )
    return tuple(_argument(target, kind, arg) for kind, arg in zip(kinds, args, strict=False))


def _argument(target: str, kind: str, arg: object) -> str:
    if isinstance(arg, bool) or not isinstance(arg, (str, int)):
        raise ConfigurationError(f"{target} argument {arg!r}: give a str or an int")
    text = str(arg)
    if kind in ("n", "k"):
        number = _number(text)
        low = 1 if kind == "n" else 0
        if number is None or number < low:
            what = "a message number (1, 2, ...)" if kind == "n" else "a line count (0, 1, ...)"
            raise ConfigurationError(
                f"{target} {text}: the argument must be {what}, so this rule never matches"
            )
        return str(number)
    spaced = any(c.isspace() for c in text) if kind != "rest" else "\r" in text or "\n" in text
    if not text or spaced:
        raise ConfigurationError(
            f"{target} argument {text!r}: a client never sends that as one argument"
        )
    return text.upper() if kind == "mech" else text


def _argument_matches(kind: str, want: str, got: str) -> bool:
    if kind in ("n", "k"):
        number = _number(got)
        return number is not None and str(number) == want
    if kind == "mech":
        return got.upper() == want
    return got == want


def _multiline(target: str, args: tuple[str, ...]) -> bool:
    """Whether the commands the rule matches can get a multi-line reply."""
    return target == "*" or target in _MULTILINE_ALWAYS or (target in _MULTILINE_BARE and not args)


# -- actions ---------------------------------------------------------------------------------

_ENDINGS = ("close", "reset", "hang")


def _ending(then: str | None) -> list[Step]:
    if then == "close":
        return [io.Close()]
    if then == "reset":
        return [io.Reset()]
    if then == "hang":
        return [io.Hang()]
    return []


def _send(data: bytes) -> list[Step]:
    return [io.Send(data)] if data else []


def _check_then(then: object) -> None:
    if then is not None and then not in _ENDINGS:
        raise ConfigurationError(f"then={then!r}: one of 'close', 'reset', 'hang'")


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"{name}={value!r}: an integer >= {low}")


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{value!r} is not a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(f"{value!r}: seconds must be finite and >= 0")
    return seconds


def _optional_seconds(value: object) -> float | None:
    return None if value is None else _seconds(value)


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise ConfigurationError(f"reply text {text!r}: give a str")
    if "\r" in text or "\n" in text:
        raise ConfigurationError(f"reply text {text!r} cannot contain a line end")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(f"reply text {text!r} is not valid Unicode") from None


Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class Action(abc.ABC):
    """What a fired rule does to one reply (a frozen value; compiling it is pure)."""

    __slots__ = ()
    word: ClassVar[str]

    def replacement(self) -> bytes | None:
        """What is sent instead of the reply (the protocol core then never sees the command),
        or None: the command runs and its reply goes through `compile`."""
        return None

    @abc.abstractmethod
    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        """The steps that deliver `wire` (the reply's bytes) this way.

        `session` is the session number and `draw` a number in [0, 1) drawn from the seeded
        random source when the rule fired.
        """

    @abc.abstractmethod
    def builder_call(self) -> Call:
        """The `RuleBuilder` method, arguments and keywords that make this action."""

    def check(self, target: str, args: tuple[str, ...]) -> None:
        """Reject this action where it can never apply."""
        if target == "connect":
            raise ConfigurationError(
                f"{self.word}: 'connect' comes before any reply; use 'greeting' to change the "
                "greeting, or delay/disconnect/reset/hang on 'connect'"
            )


@attrs.frozen
class Error(Action):
    """`-ERR [code] text` instead of the reply."""

    text: str = ""
    code: str | None = None
    then: str | None = None
    word: ClassVar[str] = "error"

    def __attrs_post_init__(self) -> None:
        _check_text(self.text)
        if self.code is not None and not (
            isinstance(self.code, str) and _CODE_RE.fullmatch(self.code)
        ):
            raise ConfigurationError(
                f"response code {self.code!r}: like 'SYS/TEMP', 'IN-USE' (RFC 2449 syntax)"
            )
        _check_then(self.then)

    def replacement(self) -> bytes:
        line = "-ERR"
        if self.code:
            line += f" [{self.code}]"
        if self.text:
            line += f" {self.text}"
        return line.encode("utf-8") + b"\r\n"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return _send(self.replacement()) + _ending(self.then)

    def builder_call(self) -> Call:
        text = self.text
        if self.code:
            text = f"[{self.code}] {text}" if text else f"[{self.code}]"
        return "error", (text,), _then(self)


@attrs.frozen
class Ok(Action):
    """`+OK text` instead of the reply: the client believes a command the server never ran."""

    text: str = ""
    then: str | None = None
    word: ClassVar[str] = "ok"

    def __attrs_post_init__(self) -> None:
        _check_text(self.text)
        _check_then(self.then)

    def replacement(self) -> bytes:
        return (f"+OK {self.text}" if self.text else "+OK").encode("utf-8") + b"\r\n"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return _send(self.replacement()) + _ending(self.then)

    def builder_call(self) -> Call:
        return "ok", (self.text,) if self.text else (), _then(self)


@attrs.frozen
class ReplyRaw(Action):
    """These exact bytes instead of the reply (no CRLF is added)."""

    data: bytes
    then: str | None = None
    word: ClassVar[str] = "reply_raw"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ConfigurationError(f"reply_raw({self.data!r}): give bytes")
        _check_then(self.then)

    def replacement(self) -> bytes:
        return self.data

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return _send(self.data) + _ending(self.then)

    def builder_call(self) -> Call:
        return "reply_raw", (self.data,), _then(self)


@attrs.frozen
class Delay(Action):
    """The reply, after `seconds` (or a uniform draw between `seconds` and `upto`)."""

    seconds: float = attrs.field(converter=_seconds)
    upto: float | None = attrs.field(default=None, converter=_optional_seconds)
    then: str | None = None
    word: ClassVar[str] = "delay"

    def __attrs_post_init__(self) -> None:
        if self.upto is not None and self.upto < self.seconds:
            raise ConfigurationError(f"delay({self.seconds}, {self.upto}): the range is empty")
        _check_then(self.then)

    def check(self, target: str, args: tuple[str, ...]) -> None:
        pass  # a delayed connection is fine: the greeting comes later

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        seconds = self.seconds
        if self.upto is not None:
            seconds += (self.upto - self.seconds) * draw
        pause: list[Step] = [io.Sleep(seconds)] if seconds else []
        return pause + _send(wire) + _ending(self.then)

    def builder_call(self) -> Call:
        args = (self.seconds,) if self.upto is None else (self.seconds, self.upto)
        return "delay", args, _then(self)


@attrs.frozen
class Bandwidth(Action):
    """The reply at `bytes_per_second`."""

    bytes_per_second: int
    then: str | None = None
    word: ClassVar[str] = "bandwidth"
    #: Send every this many seconds (a finer grain costs a wake-up per slice for nothing).
    grain: ClassVar[float] = 0.05

    def __attrs_post_init__(self) -> None:
        _check_int("bytes_per_second", self.bytes_per_second, 1)
        _check_then(self.then)

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        rate = self.bytes_per_second
        chunk = max(1, int(rate * self.grain))
        return [io.Paced(wire, chunk, chunk / rate), *_ending(self.then)]

    def builder_call(self) -> Call:
        return "bandwidth", (self.bytes_per_second,), _then(self)


@attrs.frozen
class Dribble(Action):
    """The reply in `chunk`-octet pieces, `interval` seconds apart."""

    chunk: int = 1
    interval: float = attrs.field(default=0.0, converter=_seconds)
    then: str | None = None
    word: ClassVar[str] = "dribble"

    def __attrs_post_init__(self) -> None:
        _check_int("chunk", self.chunk, 1)
        _check_then(self.then)

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [io.Paced(wire, self.chunk, self.interval), *_ending(self.then)]

    def builder_call(self) -> Call:
        return "dribble", (self.chunk, self.interval), _then(self)


def _then(action: Error | Ok | ReplyRaw | Delay | Bandwidth | Dribble | Corrupt) -> dict[str, Any]:
    return {"then": action.then} if action.then is not None else {}


@attrs.frozen
class _Cut(Action):
    """Send nothing, or the first bytes/lines of the reply, or all of it; then end."""

    after_bytes: int | None = None
    after_lines: int | None = None
    after_reply: bool = False

    def __attrs_post_init__(self) -> None:
        given = [
            name
            for name, value in (
                ("after_bytes", self.after_bytes),
                ("after_lines", self.after_lines),
                ("after_reply", self.after_reply),
            )
            if value
        ]
        if len(given) > 1:
            raise ConfigurationError(f"{self.word}: give only one of {', '.join(given)}")
        for name in ("after_bytes", "after_lines"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 0)
        if not isinstance(self.after_reply, bool):
            raise ConfigurationError(f"after_reply={self.after_reply!r}: True or False")

    @property
    def before_reply(self) -> bool:
        return not (self.after_bytes or self.after_lines or self.after_reply)

    def replacement(self) -> bytes | None:
        # Nothing of the reply is sent: the command is not run either (no UPDATE for a QUIT
        # whose reply never leaves, no login for a PASS).
        return b"" if self.before_reply else None

    def check(self, target: str, args: tuple[str, ...]) -> None:
        if target == "connect" and not self.before_reply:
            raise ConfigurationError(f"{self.word}: 'connect' has no reply to send part of")

    def _part(self, wire: bytes) -> bytes:
        if self.before_reply:
            return b""
        if self.after_bytes:
            return wire[: self.after_bytes]
        if self.after_lines:
            end = 0
            for _ in range(self.after_lines):
                found = wire.find(b"\n", end)
                if found < 0:
                    return wire
                end = found + 1
            return wire[:end]
        return wire

    def _cut_keywords(self) -> dict[str, Any]:
        keywords: dict[str, Any] = {}
        if self.after_bytes:
            keywords["after_bytes"] = self.after_bytes
        if self.after_lines:
            keywords["after_lines"] = self.after_lines
        if self.after_reply:
            keywords["after_reply"] = True
        return keywords


@attrs.frozen
class Disconnect(_Cut):
    """Close the connection (FIN): before the reply, after part of it, or after all of it."""

    word: ClassVar[str] = "disconnect"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [*_send(self._part(wire)), io.Close()]

    def builder_call(self) -> Call:
        return "disconnect", (), self._cut_keywords()


@attrs.frozen
class Reset(_Cut):
    """Abort the connection with a TCP RST: before the reply, after part of it or all of it."""

    word: ClassVar[str] = "reset"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [*_send(self._part(wire)), io.Reset()]

    def builder_call(self) -> Call:
        return "reset", (), self._cut_keywords()


@attrs.frozen
class Hang(_Cut):
    """Stop answering (optionally after part of the reply); close after `close_after` seconds,
    or only when the server stops."""

    close_after: float | None = attrs.field(default=None, converter=_optional_seconds, kw_only=True)
    word: ClassVar[str] = "hang"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [*_send(self._part(wire)), io.Hang(self.close_after)]

    def builder_call(self) -> Call:
        args = () if self.close_after is None else (self.close_after,)
        return "hang", args, self._cut_keywords()


# -- corruptions: pure functions on a reply's wire bytes --------------------------------------

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


_KINDS: dict[str, _Kind] = {
    "size": _Kind(
        lambda w, c, s, d: _wrong_size(w, c.delta or 1), ("delta",), frozenset({"LIST", "STAT"})
    ),
    "stat_count": _Kind(
        lambda w, c, s, d: _wrong_count(w, c.delta or 1), ("delta",), frozenset({"STAT"})
    ),
    "no_terminator": _Kind(lambda w, c, s, d: _drop_terminator(w), multiline=True),
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
    "no_timestamp": _Kind(lambda w, c, s, d: _drop_timestamp(w), targets=frozenset({"greeting"})),
}
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
        if delta is not None and (
            isinstance(delta, bool) or not isinstance(delta, int) or not delta
        ):
            raise ConfigurationError(f"delta={self.delta!r}: a non-zero integer")
        if self.length is not None:
            _check_int("length", self.length, 1)
        if self.data is not None and (not isinstance(self.data, bytes) or not self.data):
            raise ConfigurationError(f"data={self.data!r}: non-empty bytes")
        _check_then(self.then)

    def check(self, target: str, args: tuple[str, ...]) -> None:
        super().check(target, args)
        kind = _KINDS[self.kind]
        if kind.targets is not None and target not in kind.targets:
            raise ConfigurationError(
                f"corrupt {self.kind!r} changes {' and '.join(sorted(kind.targets))} replies, "
                f"not {target!r} ones"
            )
        if kind.multiline and not _multiline(target, args):
            command = " ".join((target, *args))
            raise ConfigurationError(
                f"corrupt {self.kind!r} changes multi-line replies, and {command!r} is "
                "answered with one line"
            )

    def apply(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> bytes:
        """The corrupted wire bytes."""
        return _KINDS[self.kind].apply(wire, self, session, draw)

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return _send(self.apply(wire, session=session, draw=draw)) + _ending(self.then)

    def builder_call(self) -> Call:
        keywords: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("delta", "length", "data")
            if getattr(self, name) is not None
        }
        return "corrupt", (self.kind,), keywords | _then(self)


# -- rules -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Rule:
    """One fault: which points it matches, how often it fires, and what it does.

    `nth` is the first matching occurrence that may fire; `times` how many times it fires
    (None: every time after that); `probability` the chance it fires when it may.
    """

    target: str
    action: Action
    args: tuple[str, ...] = ()
    user: str | None = None
    session: int | None = None
    state: str | None = None
    nth: int = 1
    times: int | None = None
    probability: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.target not in _ARGUMENTS:
            raise ConfigurationError(
                f"fault target {self.target!r}: write it as {_target(self.target)!r}"
            )
        if not isinstance(self.action, Action):
            raise ConfigurationError(f"not a fault action: {self.action!r}")
        _arguments(self.target, self.args)
        early = self.target in ("connect", "greeting")
        if self.user is not None:
            if not isinstance(self.user, str) or not self.user or " " in self.user:
                raise ConfigurationError(f"user={self.user!r}: a user name")
            if early:
                raise ConfigurationError(
                    f"{self.target!r} comes before any login, so user={self.user!r} never matches"
                )
        if self.session is not None:
            _check_int("session", self.session, 1)
        if self.state is not None:
            if self.state not in _STATES:
                raise ConfigurationError(f"state={self.state!r}: one of {', '.join(_STATES)}")
            if early and self.state != "AUTHORIZATION":
                raise ConfigurationError(
                    f"{self.target!r} happens in AUTHORIZATION, so state={self.state} never matches"
                )
        _check_int("nth", self.nth, 1)
        if self.times is not None:
            _check_int("times", self.times, 1)
        p = self.probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ConfigurationError(f"probability {p!r}: a number from 0 to 1")
        if p == 0 and (self.times is not None or self.nth > 1):
            raise ConfigurationError(
                "probability 0 never fires, so a counted rule (once, times, nth) never fires "
                "as configured"
            )
        if early and self.session is not None and (self.nth > 1 or (self.times or 1) > 1):
            raise ConfigurationError(
                f"a session has one {self.target!r}, so nth={self.nth} times={self.times} "
                f"with session={self.session} never fires as configured"
            )
        self.action.check(self.target, self.args)

    @property
    def counted(self) -> bool:
        """Whether `FaultSet.check()` expects this rule to fire (once, times or nth)."""
        return self.times is not None or self.nth > 1

    def matches(self, point: FaultPoint) -> bool:
        if self.target == "*":
            if point.target in ("connect", "greeting"):
                return False
        elif self.target != point.target:
            return False
        if len(point.args) < len(self.args):
            return False
        kinds = _ARGUMENTS[self.target]
        for kind, want, got in zip(kinds, self.args, point.args, strict=False):
            if not _argument_matches(kind, want, got):
                return False
        return (
            (self.user is None or self.user == point.user)
            and (self.session is None or self.session == point.session)
            and (self.state is None or self.state == point.state)
        )

    def spec(self) -> str:
        """The rule in the text syntax; `parse_spec(rule.spec()) == rule`."""
        return _render(self)

    def describe(self) -> str:
        """The rule as the journal and `check()` show it: `RETR 2 -> error [SYS/TEMP] x`."""
        return _render(self, " -> ")

    def __str__(self) -> str:
        return self.spec()


class RuleBuilder:
    """Chain `nth`, `once`, `times`, `always`, `probability`, then one action, which makes the
    rule (and adds it to the `FaultSet` it came from)."""

    def __init__(
        self,
        owner: FaultSet | None,
        target: str,
        args: tuple[str, ...],
        user: str | None,
        session: int | None,
        state: str | None,
    ) -> None:
        self._owner = owner
        self._match: dict[str, Any] = {
            "target": target,
            "args": args,
            "user": user,
            "session": session,
            "state": state,
        }
        self._nth = 1
        self._times: int | None = None
        self._counted = False
        self._probability = 1.0

    # -- when --------------------------------------------------------------------------------

    def nth(self, n: int) -> RuleBuilder:
        """Fire from the `n`-th matching occurrence (once, unless `times`/`always` says more).

        server.faults.on("RETR").nth(3).error()  # the third RETR of the server
        """
        _check_int("nth", n, 1)
        self._nth = n
        if not self._counted:
            self._times = 1
        return self

    def times(self, n: int) -> RuleBuilder:
        """Fire `n` times.      server.faults.on("PASS").times(2).error("[IN-USE] locked")"""
        _check_int("times", n, 1)
        self._times = n
        self._counted = True
        return self

    def once(self) -> RuleBuilder:
        """Fire once.           server.faults.on("LIST").once().corrupt("size")"""
        return self.times(1)

    def always(self) -> RuleBuilder:
        """Fire every time (the default without nth).
        server.faults.on("RETR").nth(2).always().delay(1.0)"""
        self._times = None
        self._counted = True
        return self

    def probability(self, p: float) -> RuleBuilder:
        """Fire with chance `p` (seeded).   server.faults.on("RETR").probability(0.3).error()"""
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ConfigurationError(f"probability {p!r}: a number from 0 to 1")
        self._probability = float(p)
        return self

    def _add(self, action: Action) -> Rule:
        rule = Rule(
            **self._match,
            nth=self._nth,
            times=self._times,
            probability=self._probability,
            action=action,
        )
        if self._owner is not None:
            self._owner.add(rule)
        return rule

    # -- what --------------------------------------------------------------------------------

    def error(
        self,
        text: str = "[SYS/TEMP] Fault injected.",
        *,
        code: str | None = None,
        then: str | None = None,
    ) -> Rule:
        """Answer `-ERR` (a leading `[CODE]` in `text` is the response code); the command is
        not run.     server.faults.on("RETR", 2).error("[SYS/TEMP] storage offline")"""
        _check_text(text)
        found = _LEADING_CODE_RE.match(text)
        if found:
            if code is not None:
                raise ConfigurationError(f"two response codes: code={code!r} and {text!r}")
            code, text = found.group(1), text[found.end() :]
        return self._add(Error(text, code, then))

    def ok(self, text: str = "", *, then: str | None = None) -> Rule:
        """Answer `+OK text` without running the command (a lie: DELE acknowledged, not
        applied).    server.faults.on("DELE").ok("message deleted")"""
        return self._add(Ok(text, then))

    def lie(self) -> Rule:
        """`ok()`: a bare `+OK`, the command not run.    server.faults.on("DELE").lie()"""
        return self.ok()

    def reply_raw(self, data: bytes, *, then: str | None = None) -> Rule:
        """Send exactly `data` instead of the reply; the command is not run.
        server.faults.on("STAT").reply_raw(b"+OK lots\\r\\n")"""
        return self._add(ReplyRaw(data, then))

    def delay(self, seconds: float, upto: float | None = None, *, then: str | None = None) -> Rule:
        """Answer after `seconds`, or after a seeded uniform draw in [seconds, upto].
        server.faults.on("RETR").delay(0.1, 0.3)"""
        return self._add(Delay(seconds, upto, then))

    def bandwidth(self, bytes_per_second: int, *, then: str | None = None) -> Rule:
        """Send the reply at `bytes_per_second`.  server.faults.on("RETR").bandwidth(10_000)"""
        return self._add(Bandwidth(bytes_per_second, then))

    def dribble(self, chunk: int = 1, interval: float = 0.0, *, then: str | None = None) -> Rule:
        """Send the reply in `chunk`-octet writes `interval` seconds apart.
        server.faults.on("LIST").dribble(3, 0.01)"""
        return self._add(Dribble(chunk, interval, then))

    def disconnect(
        self,
        *,
        after_bytes: int | None = None,
        after_lines: int | None = None,
        after_reply: bool = False,
    ) -> Rule:
        """Close the connection before the reply (the command is not run), or after its first
        bytes/lines, or after all of it.  server.faults.on("RETR").disconnect(after_bytes=1000)"""
        return self._add(Disconnect(after_bytes or None, after_lines or None, after_reply))

    def reset(
        self,
        *,
        after_bytes: int | None = None,
        after_lines: int | None = None,
        after_reply: bool = False,
    ) -> Rule:
        """Abort the connection with a TCP RST, at the same points as `disconnect`.
        server.faults.on("connect").reset()"""
        return self._add(Reset(after_bytes or None, after_lines or None, after_reply))

    def hang(
        self,
        close_after: float | None = None,
        *,
        after_bytes: int | None = None,
        after_lines: int | None = None,
        after_reply: bool = False,
    ) -> Rule:
        """Never answer (or stop after part of the reply); close after `close_after` seconds,
        or when the server stops.   server.faults.on("RETR").hang()"""
        return self._add(
            Hang(after_bytes or None, after_lines or None, after_reply, close_after=close_after)
        )

    def corrupt(
        self,
        kind: str,
        *,
        delta: int | None = None,
        length: int | None = None,
        data: bytes | None = None,
        then: str | None = None,
    ) -> Rule:
        """Send the reply corrupted (`CORRUPTIONS` lists the kinds).
        server.faults.on("LIST").once().corrupt("size", delta=-2)"""
        return self._add(Corrupt(kind, delta, length, data, then))


def _builder(
    owner: FaultSet | None,
    target: str,
    args: tuple[object, ...],
    user: str | None,
    session: int | None,
    state: str | None,
) -> RuleBuilder:
    name = _target(target)
    if isinstance(state, str):
        state = state.upper()
    return RuleBuilder(owner, name, _arguments(name, args), user, session, state)


# -- the rule set ----------------------------------------------------------------------------


@attrs.frozen
class FaultPlan:
    """What a fired rule does to one reply: replace it (skipping the session) and/or turn the
    reply's wire bytes into steps (pure: calling it twice gives the same steps)."""

    rule: str
    replace: bytes | None
    steps: Callable[[bytes], list[Step]]


def _new_seed(seed: int | None) -> int:
    if seed is None:
        return random.SystemRandom().randrange(2**32)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigurationError(f"fault seed {seed!r}: an integer")
    return seed


class FaultSet:
    """The rules of one server, how often each matched and fired, and the seeded random
    source for probabilities, delay ranges and garbage (one stream per session, so the
    pattern of a session does not depend on other sessions running beside it)."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._names: list[str] = []
        self._seen: list[int] = []
        self._fired: list[int] = []
        self._seed = _new_seed(seed)
        self._streams: dict[int, random.Random] = {}

    @property
    def seed(self) -> int:
        """The seed of every random draw (printed in every fault failure message)."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        with self._lock:
            self._seed = _new_seed(value)
            self._streams.clear()

    def on(
        self,
        target: str,
        *args: object,
        user: str | None = None,
        session: int | None = None,
        state: str | None = None,
    ) -> RuleBuilder:
        """Start a rule for a command (`"RETR"`), `"greeting"`, `"connect"` or `"*"` (every
        command), optionally only with these leading arguments, user, session or state."""
        return _builder(self, target, args, user, session, state)

    def add(self, rule: Rule) -> Rule:
        """Add a rule made elsewhere (e.g. by `parse_spec`)."""
        if not isinstance(rule, Rule):
            raise ConfigurationError(f"not a fault Rule: {rule!r}")
        name = rule.describe()
        with self._lock:
            self._rules.append(rule)
            self._names.append(name)
            self._seen.append(0)
            self._fired.append(0)
        return rule

    def add_spec(self, spec: str) -> Rule:
        """Add a rule written in the text syntax: `"RETR 2: error [SYS/TEMP] offline"`."""
        return _parse(spec, self)

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def fired(self, rule: Rule) -> int:
        """How many times `rule` (this very object) fired."""
        with self._lock:
            return sum(n for r, n in zip(self._rules, self._fired, strict=True) if r is rule)

    def matched(self, rule: Rule) -> int:
        """How many points `rule` (this very object) matched, fired or not."""
        with self._lock:
            return sum(n for r, n in zip(self._rules, self._seen, strict=True) if r is rule)

    def clear(self) -> None:
        """Drop every rule and count (the seed stays; its streams restart)."""
        with self._lock:
            self._rules.clear()
            self._names.clear()
            self._seen.clear()
            self._fired.clear()
            self._streams.clear()

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"<FaultSet seed={self._seed} rules={len(self._rules)}>"

    def _stream(self, session: int) -> random.Random:
        stream = self._streams.get(session)
        if stream is None:
            stream = self._streams[session] = random.Random(f"{self._seed}/{session}")
        return stream

    def plan(self, point: FaultPoint) -> FaultPlan | None:
        """The plan of the first rule (in the order added) that fires at this point.

        Every matching rule counts the occurrence, fired or not, so `nth` means the n-th
        matching command whatever other rules do.
        """
        chosen: tuple[int, float] | None = None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(point):
                    continue
                self._seen[index] += 1
                if chosen is not None or self._seen[index] < rule.nth:
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                p = rule.probability
                if p < 1 and (p == 0 or self._stream(point.session).random() >= p):
                    continue
                self._fired[index] += 1
                chosen = index, self._stream(point.session).random()
            if chosen is None:
                return None
            index, draw = chosen
            rule, spec = self._rules[index], self._names[index]
        action = rule.action
        return FaultPlan(
            spec,
            action.replacement(),
            functools.partial(action.compile, session=point.session, draw=draw),
        )

    def unfired(self) -> list[str]:
        """Counted rules (once, times, nth) that did not fire as often as configured."""
        with self._lock:
            out = []
            rows = zip(self._rules, self._names, self._seen, self._fired, strict=True)
            for rule, spec, seen, fired in rows:
                if not rule.counted:
                    continue
                want = rule.times if rule.times is not None else 1
                if fired < want:
                    out.append(f"{spec}  (fired {fired} of {want}, matched {seen})")
            return out

    def check(self) -> None:
        """Raise `UnfiredFaultError` naming the counted rules that did not fire."""
        missing = self.unfired()
        if missing:
            raise UnfiredFaultError(
                f"fault rules that did not fire as configured (fault seed {self._seed}):\n  "
                + "\n  ".join(missing)
            )


# -- the text syntax -------------------------------------------------------------------------
#
#   spec   = target *(SP match) ":" SP action
#   match  = ARG | "#" N | "once" | "always" | "times=" N | "p=" P
#          | "user=" NAME | "session=" N | "state=" STATE
#   action = WORD *(SP VALUE) *(SP KEY "=" VALUE) [SP TEXT]
#
# A value is bare (no space, quote, ':' or '='), or "quoted" with \\ \" \r \n \t \xHH \uHHHH
# escapes. TEXT (error, ok, reply_raw) is the rest of the line, or one quoted string.

_ACTION_WORDS = (
    "error",
    "ok",
    "lie",
    "reply_raw",
    "delay",
    "bandwidth",
    "dribble",
    "disconnect",
    "reset",
    "hang",
    "corrupt",
)
_TEXT_PARAMS = {"error": "text", "ok": "text", "reply_raw": "data"}
_MATCH_KEYS = ("user", "session", "state", "times", "nth", "p", "probability")
_NAMED = {"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n", "\t": "\\t"}
_UNNAMED = {"\\": "\\", '"': '"', "r": "\r", "n": "\n", "t": "\t"}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_OPTION_RE = re.compile(r"([a-z_]+)=")


@attrs.frozen
class _Signature:
    positional: tuple[str, ...]
    required: int
    hints: Mapping[str, Any]
    text: str | None


def _signature(word: str) -> _Signature:
    method = getattr(RuleBuilder, word)
    params = list(inspect.signature(method).parameters.values())[1:]
    hints = typing.get_type_hints(method)
    return _Signature(
        tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD),
        sum(1 for p in params if p.default is p.empty),
        {p.name: hints[p.name] for p in params},
        _TEXT_PARAMS.get(word),
    )


_SIGNATURES = {word: _signature(word) for word in _ACTION_WORDS}


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _quote(text: str) -> str:
    out = [_NAMED.get(c) or (c if c.isprintable() else _escape(ord(c))) for c in text]
    return '"' + "".join(out) + '"'


def _quote_bytes(data: bytes) -> str:
    out = [_NAMED.get(chr(b)) or (chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data]
    return '"' + "".join(out) + '"'


def _read_quoted(text: str, start: int) -> tuple[list[str | int], int]:
    """The quoted string at `text[start]`: its pieces (characters, or octets from \\x
    escapes) and the index after the closing quote."""
    pieces: list[str | int] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return pieces, i + 1
        if char != "\\":
            pieces.append(char)
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _UNNAMED:
            pieces.append(_UNNAMED[escape])
            i += 2
        elif escape in _HEX_WIDTH:
            digits = text[i + 2 : i + 2 + _HEX_WIDTH[escape]]
            if len(digits) != _HEX_WIDTH[escape] or not all(
                c in "0123456789abcdefABCDEF" for c in digits
            ):
                raise ConfigurationError(f"bad escape \\{escape}{digits} in {text[start:]!r}")
            code = int(digits, 16)
            if escape == "x":
                pieces.append(code)
            elif code > 0x10FFFF:
                raise ConfigurationError(f"bad escape \\{escape}{digits}: beyond Unicode")
            else:
                pieces.append(chr(code))
            i += 2 + len(digits)
        else:
            raise ConfigurationError(f"unknown escape \\{escape} in {text[start:]!r}")
    raise ConfigurationError(f"unterminated quoted string {text[start:]!r}")


def _as_text(pieces: list[str | int]) -> str:
    return "".join(chr(p) if isinstance(p, int) else p for p in pieces)


def _as_bytes(pieces: list[str | int]) -> bytes:
    return b"".join(bytes([p]) if isinstance(p, int) else p.encode("utf-8") for p in pieces)


def _tokens(text: str) -> list[tuple[int, str]]:
    """Whitespace-separated tokens and where each starts; quoted parts keep their spaces."""
    out: list[tuple[int, str]] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        start = i
        while i < len(text) and not text[i].isspace():
            i = _read_quoted(text, i)[1] if text[i] == '"' else i + 1
        out.append((start, text[start:i]))


def _value(token: str, kind: Any) -> Any:
    """A bare or quoted token as a value of type `kind`."""
    if token.startswith('"'):
        pieces, end = _read_quoted(token, 0)
        if end != len(token):
            raise ConfigurationError(f"text after the closing quote in {token!r}")
        if kind is bytes:
            return _as_bytes(pieces)
        if kind is str:
            return _as_text(pieces)
        token = _as_text(pieces)
    if kind is bytes:
        return token.encode("utf-8")
    if kind is str:
        return token
    if kind is bool:
        if token not in ("true", "false"):
            raise ConfigurationError(f"{token!r}: true or false")
        return token == "true"
    if kind is int:
        if not _INT_RE.fullmatch(token):
            raise ConfigurationError(f"{token!r}: an integer")
        return int(token)
    if not _FLOAT_RE.fullmatch(token):
        raise ConfigurationError(f"{token!r}: a number")
    return float(token)


def _base_type(hint: Any) -> Any:
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    return members[0] if members else hint


def _bare(text: str) -> bool:
    return (
        bool(text)
        and all(c.isprintable() and not c.isspace() and c not in '":=' for c in text)
        and not text.startswith("#")
        and text not in ("once", "always")
    )


def _render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return _quote_bytes(value)
    return value if _bare(value) else _quote(value)


def _render_text(value: str | bytes, signature: _Signature) -> str:
    if isinstance(value, bytes):
        return _quote_bytes(value)
    option = _OPTION_RE.match(value)
    plain = (
        value
        and value == value.strip()
        and value.isprintable()
        and not value.startswith('"')
        and not (option and option.group(1) in signature.hints)
    )
    return value if plain else _quote(value)


def _render(rule: Rule, separator: str = ": ") -> str:
    parts = [rule.target, *(_render_value(a) for a in rule.args)]
    if rule.nth != 1:
        parts.append(f"#{rule.nth}")
        if rule.times is None:
            parts.append("always")
        elif rule.times != 1:
            parts.append(f"times={rule.times}")
    elif rule.times == 1:
        parts.append("once")
    elif rule.times is not None:
        parts.append(f"times={rule.times}")
    for key in ("user", "session", "state"):
        value = getattr(rule, key)
        if value is not None:
            parts.append(f"{key}={_render_value(value)}")
    if rule.probability != 1:
        parts.append(f"p={float(rule.probability)!r}")
    word, args, keywords = rule.action.builder_call()
    signature = _SIGNATURES[word]
    action = [word]
    text = None
    for name, value in zip(signature.positional, args, strict=False):
        if name == signature.text:
            text = _render_text(value, signature)
        else:
            action.append(_render_value(value))
    action += [f"{key}={_render_value(value)}" for key, value in keywords.items()]
    if text is not None:
        action.append(text)
    return f"{' '.join(parts)}{separator}{' '.join(action)}"


def _colon(spec: str) -> int:
    i = 0
    while i < len(spec):
        if spec[i] == '"':
            i = _read_quoted(spec, i)[1]
        elif spec[i] == ":":
            return i
        else:
            i += 1
    return -1


def parse_spec(spec: str) -> Rule:
    """Parse one rule written in the text syntax (docs/faults.md), without adding it.

    >>> str(parse_spec("retr 2 : error [SYS/TEMP]  storage offline"))
    'RETR 2: error [SYS/TEMP]  storage offline'
    """
    return _parse(spec, None)


def _parse(spec: str, owner: FaultSet | None) -> Rule:
    if not isinstance(spec, str):
        raise ConfigurationError(f"a fault spec is a str, not {spec!r}")
    try:
        colon = _colon(spec)
        if colon < 0:
            raise ConfigurationError("expected 'TARGET [match...]: ACTION [options...]'")
        builder = _parse_match(spec[:colon], owner)
        return _parse_action(spec[colon + 1 :], builder)
    except ConfigurationError as exc:
        raise ConfigurationError(f"fault spec {spec!r}: {exc}") from None


def _parse_match(head: str, owner: FaultSet | None) -> RuleBuilder:
    tokens = [token for _, token in _tokens(head)]
    if not tokens:
        raise ConfigurationError("no target before ':'")
    target, args = tokens[0], []
    filters: dict[str, Any] = {}
    counts: list[tuple[str, float | None]] = []
    for token in tokens[1:]:
        key, eq, raw = token.partition("=")
        if token.startswith('"'):
            args.append(_value(token, str))
        elif token.startswith("#"):
            counts.append(("nth", _value(token[1:], int)))
        elif token in ("once", "always"):
            counts.append((token, None))
        elif not eq:
            args.append(token)
        elif key not in _MATCH_KEYS:
            raise ConfigurationError(
                f"unknown match option {key!r}: one of {', '.join(_MATCH_KEYS)}"
            )
        elif key in ("times", "nth"):
            counts.append((key, _value(raw, int)))
        elif key in ("p", "probability"):
            counts.append(("probability", _value(raw, float)))
        elif key in filters:
            raise ConfigurationError(f"{key}= given twice")
        else:
            filters[key] = _value(raw, int if key == "session" else str)
    builder = _builder(
        owner,
        target,
        tuple(args),
        filters.get("user"),
        filters.get("session"),
        filters.get("state"),
    )
    for name, value in counts:
        method: Callable[..., RuleBuilder] = getattr(builder, name)
        if value is None:
            method()
        else:
            method(value)
    return builder


def _parse_action(text: str, builder: RuleBuilder) -> Rule:
    tokens = _tokens_until_text(text)
    if not tokens:
        raise ConfigurationError("no action after ':'")
    word = tokens[0][1]
    signature = _SIGNATURES.get(word)
    if signature is None:
        raise ConfigurationError(f"unknown action {word!r}: one of {', '.join(_ACTION_WORDS)}")
    args: list[Any] = []
    keywords: dict[str, Any] = {}
    i = 1
    while True:
        at_text = signature.text is not None and len(args) == signature.positional.index(
            signature.text
        )
        rest = text[tokens[i][0] :].strip() if i < len(tokens) else ""
        option = _OPTION_RE.match(rest)
        if at_text and rest and not (option and option.group(1) in signature.hints):
            name = signature.text or ""
            if name in keywords:
                raise ConfigurationError(f"{name}= given twice")
            args.append(_text_value(rest, signature.hints[name]))
            break
        if i >= len(tokens):
            break
        token = tokens[i][1]
        i += 1
        key, eq, raw = token.partition("=")
        if eq and not token.startswith('"') and key in signature.hints:
            if key in keywords or key in signature.positional[: len(args)]:
                raise ConfigurationError(f"{key}= given twice")
            keywords[key] = _value(raw, _base_type(signature.hints[key]))
        elif len(args) < len(signature.positional) and not at_text:
            name = signature.positional[len(args)]
            if name in keywords:
                raise ConfigurationError(f"{name}= given twice")
            args.append(_value(token, _base_type(signature.hints[name])))
        else:
            raise ConfigurationError(f"unexpected {token!r} in {word!r}")
    given = len(args) + sum(1 for name in signature.positional[len(args) :] if name in keywords)
    if given < signature.required:
        missing = signature.positional[len(args) : signature.required]
        raise ConfigurationError(f"{word!r} needs {', '.join(missing)}")
    action: Callable[..., Rule] = getattr(builder, word)
    return action(*args, **keywords)


def _tokens_until_text(text: str) -> list[tuple[int, str]]:
    """Tokens of an action; a free text (which may hold a lone quote) is not tokenised."""
    out: list[tuple[int, str]] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        start = i
        try:
            while i < len(text) and not text[i].isspace():
                i = _read_quoted(text, i)[1] if text[i] == '"' else i + 1
        except ConfigurationError:
            if not out or out[0][1] not in _TEXT_PARAMS:
                raise
            out.append((start, text[start:]))
            return out
        out.append((start, text[start:i]))


def _text_value(rest: str, hint: Any) -> str | bytes:
    kind = _base_type(hint)
    if rest.startswith('"'):
        pieces, end = _read_quoted(rest, 0)
        if end != len(rest):
            raise ConfigurationError(f"text after the closing quote in {rest!r}")
        return _as_bytes(pieces) if kind is bytes else _as_text(pieces)
    return rest.encode("utf-8") if kind is bytes else rest
