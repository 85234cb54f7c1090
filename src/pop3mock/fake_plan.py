"""What is decided about message n before it is built: its own random streams, and its
shape, exact size, uid and malformed kind from a plan table and SHAKE plan blocks (no Faker,
no body), in integer arithmetic only.
"""

from __future__ import annotations

import bisect
import hashlib
import struct
from random import Random

import attrs

__all__: list[str] = []  # used by pop3mock.fake and its fake_* modules only


def _stream(seed: int, index: int, purpose: bytes) -> Random:
    digest = hashlib.blake2b(b"%d:%d:%s" % (seed, index, purpose), digest_size=16).digest()
    return Random(int.from_bytes(digest, "big"))


@attrs.frozen
class _Spread:
    """Sizes in [lo, hi], each octave about equally likely, in integer arithmetic only.

    Floating-point exp/log may round differently between C libraries; sizes must not.
    """

    lows: tuple[int, ...]
    widths: tuple[int, ...]

    @classmethod
    def of(cls, lo: int, hi: int) -> _Spread:
        octaves = max(1, (hi // lo).bit_length() - 1)
        lows = tuple(lo << n for n in range(octaves))
        highs = (*(min(hi, low * 2) for low in lows[:-1]), hi)
        return cls(lows, tuple(high - low + 1 for low, high in zip(lows, highs, strict=True)))

    def pick(self, x: int, y: int) -> int:
        octave = x % len(self.lows)
        return self.lows[octave] + y % self.widths[octave]


def _spread(lo: int, hi: int, x: int, y: int) -> int:
    return _Spread.of(lo, hi).pick(x, y)


@attrs.frozen
class _PlanTable:
    thresholds: tuple[int, ...]  # cumulative shape weights scaled to 2**32
    shapes: tuple[str, ...]
    text: _Spread
    attachment: _Spread
    large: _Spread
    malformed: int
    kinds: tuple[str, ...]

    @classmethod
    def of(
        cls,
        shapes: tuple[tuple[str, float], ...],
        text_size: tuple[int, int],
        attachment_size: tuple[int, int],
        large_size: tuple[int, int],
        malformed: float,
        kinds: tuple[str, ...],
    ) -> _PlanTable:
        total = sum(weight for _, weight in shapes)
        running = 0.0
        thresholds = []
        for _, weight in shapes[:-1]:
            running += weight
            thresholds.append(int(running / total * 2**32))
        return cls(
            tuple(thresholds),
            tuple(name for name, _ in shapes),
            _Spread.of(*text_size),
            _Spread.of(*attachment_size),
            _Spread.of(*large_size),
            int(malformed * 2**32),
            kinds,
        )

    def at(self, buf: bytes, offset: int) -> tuple[str, int, str, str | None]:
        """Shape, exact size, uid and malformed kind planned at `offset` of a plan block."""
        x, y, z, w, a, b, k = _PLAN_FIELDS.unpack_from(buf, offset)
        shape = self.shapes[bisect.bisect_right(self.thresholds, x)]
        text = self.text
        if shape in ("plain", "html"):
            size = text.pick(a, y)
        elif shape == "alternative":
            size = 1_500 + text.pick(a, y)
        elif shape in ("attachment", "inline_image"):
            size = 3_000 + text.pick(a, y) // 2 + self.attachment.pick(b, z)
        elif shape == "forward":
            size = 3_000 + text.pick(a, y) + text.pick(b, z)
        else:
            size = self.large.pick(a, y)
        kind = None
        if w < self.malformed:
            kind = self.kinds[k % len(self.kinds)]
        return shape, size, buf[offset + 20 : offset + 30].hex(), kind


_PLAN_FIELDS = struct.Struct(">IIIIBBB")


def _plan_block_of(seed: int, block: int) -> bytes:
    """The plans of messages 256 * block to 256 * block + 255, 32 octets each."""
    # One SHAKE output covers 256 messages: a 100,000-message lazy maildrop costs
    # 391 hash calls, not 100,000.
    return hashlib.shake_256(b"%d:%d:plan" % (seed, block)).digest(256 * 32)
