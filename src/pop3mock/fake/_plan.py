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

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["PLANS_PER_BLOCK", "Plan", "PlanTable", "plan_block_of", "spread", "stream"]


def stream(seed: int, index: int, purpose: bytes) -> Random:
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


def spread(lo: int, hi: int, x: int, y: int) -> int:
    return _Spread.of(lo, hi).pick(x, y)


@attrs.frozen
class PlanTable:
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
    ) -> PlanTable:
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

    def block(self, buf: bytes) -> tuple[Plan, ...]:
        """The plans of the 256 messages of one plan block, in order.

        A whole block at a time: a 100,000-message lazy maildrop is planned in a few tens of
        milliseconds, as the fields come out of `struct.iter_unpack` and the size arithmetic
        below runs with every table in a local name.
        """
        shapes, thresholds, find = self.shapes, self.thresholds, bisect.bisect_right
        text_lows, text_widths = self.text.lows, self.text.widths
        attachment_lows, attachment_widths = self.attachment.lows, self.attachment.widths
        large_lows, large_widths = self.large.lows, self.large.widths
        nt, na, nl = len(text_lows), len(attachment_lows), len(large_lows)
        malformed, kinds = self.malformed, self.kinds
        plans = []
        for x, y, z, w, a, b, k, uid in _PLAN_FIELDS.iter_unpack(buf):
            shape = shapes[find(thresholds, x)]
            text = text_lows[a % nt] + y % text_widths[a % nt]
            if shape == "plain" or shape == "html":
                size = text
            elif shape == "alternative":
                size = 1_500 + text
            elif shape == "attachment" or shape == "inline_image":
                size = 3_000 + text // 2 + attachment_lows[b % na] + z % attachment_widths[b % na]
            elif shape == "forward":
                size = 3_000 + text + text_lows[b % nt] + z % text_widths[b % nt]
            else:
                size = large_lows[a % nl] + y % large_widths[a % nl]
            kind = kinds[k % len(kinds)] if w < malformed else None
            plans.append((shape, size, uid.hex(), kind))
        return tuple(plans)


#: Shape, exact size, uid and malformed kind (None: well-formed) of one message.
Plan = tuple[str, int, str, str | None]

# 32 octets per message: four 32-bit and three 8-bit draws, then the 10 octets of its uid.
_PLAN_FIELDS = struct.Struct(">IIIIBBBx10s2x")
PLANS_PER_BLOCK = 256


def plan_block_of(seed: int, block: int) -> bytes:
    """The plans of messages 256 * block to 256 * block + 255, 32 octets each."""
    # One SHAKE output covers 256 messages: a 100,000-message lazy maildrop costs
    # 391 hash calls, not 100,000.
    return hashlib.shake_256(b"%d:%d:plan" % (seed, block)).digest(
        PLANS_PER_BLOCK * _PLAN_FIELDS.size
    )
