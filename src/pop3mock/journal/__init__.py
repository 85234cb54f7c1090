"""The journal: every command of every session, what the server answered, which faults fired
and which client violations it saw; what a test asserts on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._journal import Journal
    from ._records import CommandRecord, SessionRecord, Violation

__all__ = [
    "CommandRecord",
    "Journal",
    "SessionRecord",
    "Violation",
]

_HOMES: dict[str, str] = {
    "CommandRecord": "_records",
    "Journal": "_journal",
    "SessionRecord": "_records",
    "Violation": "_records",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
