"""The lexical side of the fault text syntax: the action words, quoting and escapes, tokens,
values read from tokens and rendered back. The parser is `pop3mock.faults._parser`; a rule renders
itself (`str(rule)`) in `pop3mock.faults._rules`.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from pop3mock.errors import ConfigurationError

__all__ = [
    "ACTION_WORDS",
    "OPTION_RE",
    "TEXT_PARAMS",
    "Signature",
    "base_type",
    "find_colon",
    "parse_value",
    "render_text",
    "render_value",
    "split_tokens",
    "text_value",
    "trailing_option",
]

# -- the text syntax -------------------------------------------------------------------------
#
#   spec   = target *(SP match) ":" SP action
#   target = COMMAND *("|" COMMAND) | "greeting" | "connect" | "*"
#   match  = ARG | "#" N | "once" | "always" | "times=" N | "p=" P
#          | "user=" NAME | "session=" N | "state=" STATE
#   action = WORD *(SP VALUE) *(SP KEY "=" VALUE) [SP TEXT]
#
# A value is bare (no space, quote, ':' or '='), or "quoted" with \\ \" \r \n \t \xHH \uHHHH
# escapes. TEXT (error, ok, reply_raw) is the rest of the line, or one quoted string.

ACTION_WORDS = (
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
TEXT_PARAMS = types.MappingProxyType({"error": "text", "ok": "text", "reply_raw": "data"})
_NAMED = types.MappingProxyType({"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n", "\t": "\\t"})
_UNNAMED = types.MappingProxyType({"\\": "\\", '"': '"', "r": "\r", "n": "\n", "t": "\t"})
_HEX_WIDTH = types.MappingProxyType({"x": 2, "u": 4, "U": 8})
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
OPTION_RE = re.compile(r"([a-z_]+)=")
_TRAILING_OPTION_RE = re.compile(r"(?:^|\s)(([a-z_]+)=\S*)\s*$")


@attrs.frozen
class Signature:
    positional: tuple[str, ...]
    required: int
    hints: Mapping[str, Any]
    text: str | None


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


def split_tokens(text: str, *, free_text: bool = False) -> list[tuple[int, str]]:
    """Whitespace-separated tokens and where each starts; quoted parts keep their spaces.

    With `free_text`, the tokens of an action: once the action word takes a free text (which
    may hold a lone quote), the rest of the line is that text, not tokenised.
    """
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
            if not free_text or not out or out[0][1] not in TEXT_PARAMS:
                raise
            out.append((start, text[start:]))
            return out
        out.append((start, text[start:i]))


def parse_value(token: str, kind: Any) -> Any:
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


def base_type(hint: Any) -> Any:
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    return members[0] if members else hint


def _bare(text: str) -> bool:
    return (
        bool(text)
        and all(c.isprintable() and not c.isspace() and c not in '":=' for c in text)
        and not text.startswith("#")
        and text not in ("once", "always")
    )


def render_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return _quote_bytes(value)
    return value if _bare(value) else _quote(value)


def trailing_option(text: str, keywords: Collection[str]) -> str | None:
    """The `key=value` that `text` ends with, when `key` is one of `keywords`: in a spec it
    reads like a keyword written after the text instead of before it."""
    found = _TRAILING_OPTION_RE.search(text)
    return found.group(1) if found and found.group(2) in keywords else None


def render_text(value: str | bytes, signature: Signature, keywords: Collection[str]) -> str:
    if isinstance(value, bytes):
        return _quote_bytes(value)
    option = OPTION_RE.match(value)
    plain = (
        value
        and value == value.strip()
        and value.isprintable()
        and not value.startswith('"')
        and not (option and option.group(1) in signature.hints)
        and trailing_option(value, keywords) is None
    )
    return value if plain else _quote(value)


def find_colon(spec: str) -> int:
    i = 0
    while i < len(spec):
        if spec[i] == '"':
            i = _read_quoted(spec, i)[1]
        elif spec[i] == ":":
            return i
        else:
            i += 1
    return -1


def text_value(rest: str, hint: Any) -> str | bytes:
    kind = base_type(hint)
    if rest.startswith('"'):
        pieces, end = _read_quoted(rest, 0)
        if end != len(rest):
            raise ConfigurationError(f"text after the closing quote in {rest!r}")
        return _as_bytes(pieces) if kind is bytes else _as_text(pieces)
    return rest.encode("utf-8") if kind is bytes else rest
