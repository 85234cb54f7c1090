"""Fault actions: what a fired rule does to one reply (answer instead of it, delay it, pace
it, cut the connection before, during or after it), each a frozen value compiled to I/O steps,
with the checks of their settings. The corruptions are in `pop3mock.faults._corruptions`.
"""

from __future__ import annotations

import abc
import re
from typing import Any, ClassVar

import attrs

from pop3mock.checks import DURATION_RULE, duration, whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.protocol import _steps as io
from pop3mock.protocol._steps import Step

__all__ = [
    "LEADING_CODE_RE",
    "Action",
    "Bandwidth",
    "Call",
    "Delay",
    "Disconnect",
    "Dribble",
    "Error",
    "Hang",
    "Ok",
    "ReplyRaw",
    "Reset",
    "check_int",
    "check_text",
    "check_then",
    "ending",
    "send",
    "then_keywords",
]

# RFC 2449 section 8: resp-code = "[" resp-level *("/" resp-level) "]", rchar %x21-2E / %x30-5C
# / %x5E-7F (no "/" or "]" inside a level).
_LEVEL = r"[!-.0-\\^-~]+"
_CODE_RE = re.compile(rf"{_LEVEL}(?:/{_LEVEL})*")
LEADING_CODE_RE = re.compile(rf"\[({_LEVEL}(?:/{_LEVEL})*)\](?: |$)")

_ENDINGS = ("close", "reset", "hang")


def ending(then: str | None) -> list[Step]:
    if then == "close":
        return [io.Close()]
    if then == "reset":
        return [io.Reset()]
    if then == "hang":
        return [io.Hang()]
    return []


def send(data: bytes) -> list[Step]:
    return [io.Send(data)] if data else []


def check_then(then: object) -> None:
    if then is not None and then not in _ENDINGS:
        raise ConfigurationError(f"then={then!r}: one of 'close', 'reset', 'hang'")


def check_int(name: str, value: object, low: int) -> None:
    if not whole_number(value, low):
        raise ConfigurationError(f"{name}={value!r}: an integer >= {low}")


def _seconds(value: object) -> float:
    if not duration(value, zero=True):
        raise ConfigurationError(f"{value!r}: seconds must be 0 or {DURATION_RULE}")
    return float(value)


def _optional_seconds(value: object) -> float | None:
    return None if value is None else _seconds(value)


def check_text(text: object) -> None:
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
        check_text(self.text)
        if self.code is not None and not (
            isinstance(self.code, str) and _CODE_RE.fullmatch(self.code)
        ):
            raise ConfigurationError(
                f"response code {self.code!r}: like 'SYS/TEMP', 'IN-USE' (RFC 2449 syntax)"
            )
        check_then(self.then)

    def replacement(self) -> bytes:
        line = "-ERR"
        if self.code:
            line += f" [{self.code}]"
        if self.text:
            line += f" {self.text}"
        return line.encode("utf-8") + b"\r\n"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return send(self.replacement()) + ending(self.then)

    def builder_call(self) -> Call:
        text = self.text
        if self.code:
            text = f"[{self.code}] {text}" if text else f"[{self.code}]"
        return "error", (text,), then_keywords(self.then)


@attrs.frozen
class Ok(Action):
    """`+OK text` instead of the reply: the client believes a command the server never ran."""

    text: str = ""
    then: str | None = None
    word: ClassVar[str] = "ok"

    def __attrs_post_init__(self) -> None:
        check_text(self.text)
        check_then(self.then)

    def replacement(self) -> bytes:
        return (f"+OK {self.text}" if self.text else "+OK").encode("utf-8") + b"\r\n"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return send(self.replacement()) + ending(self.then)

    def builder_call(self) -> Call:
        return "ok", (self.text,) if self.text else (), then_keywords(self.then)


@attrs.frozen
class ReplyRaw(Action):
    """These exact bytes instead of the reply (no CRLF is added)."""

    data: bytes
    then: str | None = None
    word: ClassVar[str] = "reply_raw"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ConfigurationError(f"reply_raw({self.data!r}): give bytes")
        check_then(self.then)

    def replacement(self) -> bytes:
        return self.data

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return send(self.data) + ending(self.then)

    def builder_call(self) -> Call:
        return "reply_raw", (self.data,), then_keywords(self.then)


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
        check_then(self.then)

    def check(self, target: str, args: tuple[str, ...]) -> None:
        pass  # a delayed connection is fine: the greeting comes later

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        seconds = self.seconds
        if self.upto is not None:
            seconds += (self.upto - self.seconds) * draw
        pause: list[Step] = [io.Sleep(seconds)] if seconds else []
        return pause + send(wire) + ending(self.then)

    def builder_call(self) -> Call:
        args = (self.seconds,) if self.upto is None else (self.seconds, self.upto)
        return "delay", args, then_keywords(self.then)


@attrs.frozen
class Bandwidth(Action):
    """The reply at `bytes_per_second`."""

    bytes_per_second: int
    then: str | None = None
    word: ClassVar[str] = "bandwidth"
    #: Send every this many seconds (a finer grain costs a wake-up per slice for nothing).
    grain: ClassVar[float] = 0.05

    def __attrs_post_init__(self) -> None:
        check_int("bytes_per_second", self.bytes_per_second, 1)
        check_then(self.then)

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        rate = self.bytes_per_second
        chunk = max(1, int(rate * self.grain))
        return [io.Paced(wire, chunk, chunk / rate), *ending(self.then)]

    def builder_call(self) -> Call:
        return "bandwidth", (self.bytes_per_second,), then_keywords(self.then)


@attrs.frozen
class Dribble(Action):
    """The reply in `chunk`-octet pieces, `interval` seconds apart."""

    chunk: int = 1
    interval: float = attrs.field(default=0.0, converter=_seconds)
    then: str | None = None
    word: ClassVar[str] = "dribble"

    def __attrs_post_init__(self) -> None:
        check_int("chunk", self.chunk, 1)
        check_then(self.then)

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [io.Paced(wire, self.chunk, self.interval), *ending(self.then)]

    def builder_call(self) -> Call:
        return "dribble", (self.chunk, self.interval), then_keywords(self.then)


def then_keywords(then: str | None) -> dict[str, Any]:
    """The `then=` keyword of an action's builder call: how the connection ends after it."""
    return {"then": then} if then is not None else {}


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
                check_int(name, value, 0)
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
        return [*send(self._part(wire)), io.Close()]

    def builder_call(self) -> Call:
        return "disconnect", (), self._cut_keywords()


@attrs.frozen
class Reset(_Cut):
    """Abort the connection with a TCP RST: before the reply, after part of it or all of it."""

    word: ClassVar[str] = "reset"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [*send(self._part(wire)), io.Reset()]

    def builder_call(self) -> Call:
        return "reset", (), self._cut_keywords()


@attrs.frozen
class Hang(_Cut):
    """Stop answering (optionally after part of the reply); close after `close_after` seconds,
    or only when the server stops."""

    close_after: float | None = attrs.field(default=None, converter=_optional_seconds, kw_only=True)
    word: ClassVar[str] = "hang"

    def compile(self, wire: bytes, *, session: int = 1, draw: float = 0.5) -> list[Step]:
        return [*send(self._part(wire)), io.Hang(self.close_after)]

    def builder_call(self) -> Call:
        args = () if self.close_after is None else (self.close_after,)
        return "hang", args, self._cut_keywords()
