"""Probing a real POP3 server (`pop3mock probe`) and recording a client's conversation
through a proxy (`pop3mock record`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._connection import ProbeError, Target
    from ._probe import probe
    from ._proxy import ProxyError
    from ._render import render

__all__ = [
    "ProbeError",
    "ProxyError",
    "Target",
    "probe",
    "render",
]

_HOMES: dict[str, str] = {
    "ProbeError": "_connection",
    "ProxyError": "_proxy",
    "Target": "_connection",
    "probe": "_probe",
    "render": "_render",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
