"""Generated maildrops: realistic, seeded messages of every common MIME shape, lazy at any
scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._factory import (
        DEFAULT_SHAPES,
        MALFORMED_KINDS,
        SHAPES,
        MessageFactory,
        fake_messages,
        lazy_fake_messages,
    )

__all__ = [
    "DEFAULT_SHAPES",
    "MALFORMED_KINDS",
    "SHAPES",
    "MessageFactory",
    "fake_messages",
    "lazy_fake_messages",
]

_HOMES: dict[str, str] = {
    "DEFAULT_SHAPES": "_factory",
    "MALFORMED_KINDS": "_factory",
    "MessageFactory": "_factory",
    "SHAPES": "_factory",
    "fake_messages": "_factory",
    "lazy_fake_messages": "_factory",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
