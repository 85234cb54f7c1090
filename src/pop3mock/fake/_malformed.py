"""Malformed-but-seen-in-the-wild message variants: their kinds, which shapes can carry
each, the bogus charset labels, and the cut-off base64 body.
"""

from __future__ import annotations

from collections.abc import Callable

from pop3mock.fake._mime import CRLF

__all__ = ["BAD_CHARSETS", "MALFORMED_KINDS", "feasible", "truncated"]

#: Malformed-but-seen-in-the-wild variants, each labelled `malformed:<kind>` in the flags.
MALFORMED_KINDS = (
    "bad-charset",
    "missing-date",
    "bare-lf",
    "8bit-header",
    "overlong-line",
    "unterminated-multipart",
    "bad-base64",
)
BAD_CHARSETS = ("x-unknown", "unknown-8bit", "utf8mb4", "_iso-2022-jp$ESC", "default")


def feasible(kind: str | None, shape: str) -> str | None:
    """The malformed kind a shape can carry (a plain message has no boundary to leave open)."""
    if kind == "unterminated-multipart" and shape in ("plain", "html"):
        return "missing-date"
    if kind in ("overlong-line", "bare-lf") and shape == "html":
        return "bad-charset"
    return kind


def truncated(fill: Callable[[int], bytes], budget: int) -> bytes:
    # One character short: the base64 padding no longer adds up (a cut-off upload).
    encoded = fill(budget)
    return encoded[:-3] + CRLF if len(encoded) > 8 else encoded
