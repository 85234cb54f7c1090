"""I/O steps: the small vocabulary the server carries out for replies and faults.

A reply is normally one `Send`. Faults compile to other lists (sleep, send part, reset...),
so every fault can be tested without sockets by looking at the steps it makes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

import attrs

__all__ = ["Close", "Hang", "Paced", "Reset", "Send", "Sleep", "Step", "sent_bytes"]


@attrs.frozen
class Send:
    """Send these bytes (one write)."""

    data: bytes


@attrs.frozen
class Paced:
    """Send `data` in `chunk`-octet pieces with `interval` seconds between them."""

    data: bytes
    chunk: int
    interval: float


@attrs.frozen
class Sleep:
    """Wait (interrupted at once when the server stops)."""

    seconds: float


@attrs.frozen
class Close:
    """Close the connection cleanly (FIN); the session ends without UPDATE."""


@attrs.frozen
class Reset:
    """Abort the connection with a TCP RST (SO_LINGER 0)."""


@attrs.frozen
class Hang:
    """Stop answering: read nothing, send nothing; close after `seconds` (None: at stop)."""

    seconds: float | None = None


Step = Union[Send, Paced, Sleep, Close, Reset, Hang]


def sent_bytes(steps: Iterable[Step]) -> bytes:
    """Everything these steps put on the wire, in order."""
    return b"".join(step.data for step in steps if isinstance(step, (Send, Paced)))
