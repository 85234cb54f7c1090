"""The threaded POP3 server (`POP3Server`); `pop3mock.server.tls` makes its certificates and
the client contexts that trust them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._server import POP3Server

__all__ = ["POP3Server"]

_HOMES: dict[str, str] = {"POP3Server": "_server"}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
