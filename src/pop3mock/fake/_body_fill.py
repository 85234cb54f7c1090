"""Body text to an exact size: the transfer encodings (7bit, 8bit, quoted-printable,
base64), their octet arithmetic, and the loops that fill a part to its budget.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from random import Random

import attrs

from pop3mock.fake._mime import CRLF

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["Encoder", "b64", "b64_fit", "fill_base64", "fill_lines"]


def _b64_size(n: int) -> int:
    """Octets of `n` bytes in base64 with 76-character lines and CRLF."""
    chars = 4 * ((n + 2) // 3)
    return chars + 2 * ((chars + 75) // 76)


def b64_fit(budget: int) -> int:
    """The most bytes whose base64 form fits in `budget` octets."""
    n = max(0, budget * 57 // 78)
    while n > 0 and _b64_size(n) > budget:
        n -= 1
    while _b64_size(n + 1) <= budget:
        n += 1
    return n


def b64(raw: bytes) -> bytes:
    return base64.encodebytes(raw).replace(b"\n", b"\r\n")


def _pad_lines(gap: int, rng: Random) -> list[str]:
    """ASCII lines whose lengths plus CRLF add up to exactly `gap` (at least 3) octets."""
    lines = []
    while gap > 0:
        length = min(gap - 2, 70)
        rest = gap - length - 2
        if 0 < rest < 3:
            length -= 3 - rest
        token = f"{rng.getrandbits(4 * length + 4):0{length + 1}x}"
        line = ("Ref: " + token)[:length] if length >= 8 else token[:length]
        lines.append(line)
        gap -= length + 2
    return lines


@attrs.frozen
class Encoder:
    codec: str
    cte: str  # 7bit, 8bit or quoted-printable (base64 is handled by fill_base64)

    def raw(self, text: str) -> bytes | None:
        try:
            raw = text.encode(self.codec)
        except UnicodeEncodeError:
            return None
        if self.cte == "7bit" and not raw.isascii():
            return None
        return raw

    def line(self, text: str, limit: int = 998) -> bytes | None:
        """The encoded line with its CRLF, or None when it cannot be sent in this encoding."""
        raw = self.raw(text)
        if raw is None:
            return None
        if self.cte == "quoted-printable":
            return binascii.b2a_qp(raw, istext=False).replace(b"\n", b"\r\n") + CRLF
        if len(raw) > limit:
            return None
        return raw + CRLF


def fill_lines(
    enc: Encoder,
    prefix: list[str],
    content: Iterator[str],
    suffixes: list[list[str]],
    target: int,
    exact: bool,
    rng: Random,
    short: tuple[str, ...],
    limit: int = 998,
) -> bytes:
    """Encoded text of at most `target` octets; with `exact`, of `target` minus at most 2."""
    out: list[bytes] = []
    used = 0
    tail: list[bytes] = []
    for suffix in suffixes:  # the longest ending that leaves room for some text
        encoded = [e for e in (enc.line(s) for s in suffix) if e is not None]
        if sum(map(len, encoded)) <= target // 2:
            tail = encoded
            break
    budget = target - sum(map(len, tail))
    for text in prefix:
        line = enc.line(text, limit)
        if line is not None and used + len(line) <= budget:
            out.append(line)
            used += len(line)
    misses = 0
    for text in content:
        line = enc.line(text, limit)
        if line is None or used + len(line) > budget:
            misses += 1
            if misses > 4:
                break
            continue
        misses = 0
        out.append(line)
        used += len(line)
    if exact:
        # Close most of the gap with short prose lines, the last few octets with pad lines.
        misses = 0
        while budget - used >= 80 and misses < 8:
            line = enc.line(rng.choice(short))
            rest = budget - used - (len(line) if line is not None else budget)
            if line is None or rest < 0 or 0 < rest < 3:
                misses += 1
                continue
            out.append(line)
            used += len(line)
        if budget - used >= 3:
            for text in _pad_lines(budget - used, rng):
                line = enc.line(text)
                assert line is not None
                out.append(line)
                used += len(line)
    out.extend(tail)
    return b"".join(out)


def fill_base64(
    codec: str,
    prefix: list[str],
    content: Iterator[str],
    suffixes: list[list[str]],
    target: int,
    exact: bool,
    rng: Random,
) -> bytes:
    """Base64 of CRLF text, at most `target` octets; with `exact`, at most 7 short of it."""

    def raw(text: str) -> bytes | None:
        try:
            return text.encode(codec) + CRLF
        except UnicodeEncodeError:
            return None

    tail = b""
    for suffix in suffixes:
        encoded = b"".join(e for e in (raw(s) for s in suffix) if e is not None)
        if _b64_size(len(encoded)) <= target // 2:
            tail = encoded
            break
    out: list[bytes] = []
    used = len(tail)
    for text in prefix:
        line = raw(text)
        if line is not None and _b64_size(used + len(line)) <= target:
            out.append(line)
            used += len(line)
    misses = 0
    for text in content:
        line = raw(text)
        if line is None or len(line) > 1000 or _b64_size(used + len(line)) > target:
            misses += 1
            if misses > 4:
                break
            continue
        misses = 0
        out.append(line)
        used += len(line)
    if exact:
        best = b64_fit(target)
        while best - used in (1, 2):
            best -= 1
        if best - used >= 3:
            out.extend(t.encode("ascii") + CRLF for t in _pad_lines(best - used, rng))
    out.append(tail)
    return b64(b"".join(out))
