"""The `pop3mock` command: `serve`, `probe`, `record`, and their configuration file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._main import build_parser, main

__all__ = [
    "build_parser",
    "main",
]

_HOMES: dict[str, str] = {
    "build_parser": "_arguments",
    "main": "_main",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
