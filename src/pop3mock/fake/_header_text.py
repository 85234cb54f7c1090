"""Header text of generated messages: RFC 2047 encoded-words in a language's charsets,
folding, address and unstructured fields, RFC 2231 parameters, and Date values.
"""

from __future__ import annotations

import base64
import email.utils
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from random import Random

from pop3mock.fake._vocabulary import LEGACY, encodes

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["address_tokens", "date", "fold", "header_param", "params_header", "unstructured_tokens"]

_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def date(when: int, tz_minutes: int) -> str:
    return email.utils.format_datetime(
        datetime.fromtimestamp(when, timezone(timedelta(minutes=tz_minutes)))
    )


def _encoded_words(text: str, charset: str, codec: str, rng: Random) -> list[str]:
    """RFC 2047 encoded-words for `text`, each at most 75 characters, split between characters."""
    b_encoding = rng.random() < 0.6
    head = f"=?{charset}?{'B' if b_encoding else 'Q'}?"
    room = 75 - len(head) - 2
    words: list[str] = []
    chunk = ""

    def encode(piece: str) -> str:
        raw = piece.encode(codec)
        if b_encoding:
            return base64.b64encode(raw).decode("ascii")
        return "".join(
            chr(b)
            if (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A)
            else ("_" if b == 0x20 else f"={b:02X}")
            for b in raw
        )

    encoded = ""
    for char in text:
        candidate = encode(chunk + char)
        if len(candidate) > room and chunk:
            words.append(head + encoded + "?=")
            chunk, encoded = char, encode(char)
        else:
            chunk, encoded = chunk + char, candidate
    if chunk:
        words.append(head + encoded + "?=")
    return words


def fold(name: str, tokens: list[str]) -> str:
    """`Name: tokens...` folded before a token where a line would pass 78 characters."""
    out = [name + ":"]
    length = len(name) + 1
    for token in tokens:
        if length + 1 + len(token) > 78 and length > len(name) + 1:
            out.append("\r\n " + token)
            length = 1 + len(token)
        else:
            out.append(" " + token)
            length += 1 + len(token)
    return "".join(out)


def _header_charset(text: str, language: str, rng: Random) -> tuple[str, str]:
    if rng.random() < 0.2:
        for label in LEGACY.get(language, ()):
            if encodes(text, label):
                return label.upper() if rng.random() < 0.5 else label, label
    return ("UTF-8" if rng.random() < 0.5 else "utf-8"), "utf-8"


def _phrase_tokens(text: str, language: str, rng: Random) -> list[str]:
    if not text:
        return []
    if text.isascii():
        if _SPECIALS.search(text):
            return ['"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"']
        return text.split()
    label, codec = _header_charset(text, language, rng)
    return _encoded_words(text, label, codec, rng)


def address_tokens(people: tuple[tuple[str, str], ...], language: str, rng: Random) -> list[str]:
    tokens: list[str] = []
    for n, (name, address) in enumerate(people):
        part = _phrase_tokens(name, language, rng)
        part.append(f"<{address}>" if part else address)
        if n < len(people) - 1:
            part[-1] += ","
        tokens.extend(part)
    return tokens


def unstructured_tokens(text: str, language: str, rng: Random) -> list[str]:
    if text.isascii():
        return text.split()
    label, codec = _header_charset(text, language, rng)
    return _encoded_words(text, label, codec, rng)


def header_param(name: str, value: str) -> list[str]:
    """`name="value"`, or RFC 2231 `name*=utf-8''...` (with continuations) for non-ASCII."""
    if value.isascii() and '"' not in value and "\\" not in value:
        return [f'{name}="{value}"']
    quoted = urllib.parse.quote(value.encode("utf-8"), safe="")
    if len(quoted) <= 60:
        return [f"{name}*=utf-8''{quoted}"]
    # Continuations split between characters: Python decodes each piece on its own.
    pieces = [""]
    for char in value:
        piece = urllib.parse.quote(char.encode("utf-8"), safe="")
        if len(pieces[-1]) + len(piece) > 60:
            pieces.append("")
        pieces[-1] += piece
    return [
        f"{name}*{n}*=utf-8''{piece}" if n == 0 else f"{name}*{n}*={piece}"
        for n, piece in enumerate(pieces)
    ]


def params_header(name: str, value: str, params: list[str]) -> str:
    line = f"{name}: {value}"
    for param in params:
        if len(line) - line.rfind("\n") + len(param) + 2 > 78:
            line += ";\r\n\t" + param
        else:
            line += "; " + param
    return line
