"""Probing a real POP3 server (`pop3mock probe`) and recording a client's conversation
through a proxy (`pop3mock record`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._probe import ProbeError, Target, probe, render
    from ._proxy import ProxyError

__all__ = [
    "ProbeError",
    "ProxyError",
    "Target",
    "probe",
    "render",
]

_HOMES: dict[str, str] = {
    "ProbeError": "_probe",
    "ProxyError": "_proxy",
    "Target": "_probe",
    "probe": "_probe",
    "render": "_probe",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
