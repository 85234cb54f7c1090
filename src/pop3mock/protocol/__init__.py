"""The sans-IO protocol core: a POP3 session as a pure state machine (command lines in,
responses out; no sockets, threads or clocks), its configuration and personalities, SASL,
framing, the I/O steps a reply becomes, and the rule for which arguments are secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._capabilities import ALL_CAPABILITIES, DEFAULT_CAPA_ORDER
    from ._config import ServerConfig
    from ._personality import (
        BUILTIN_FOLDER,
        PERSONALITIES,
        SERVER_DEFAULTS,
        load_personality,
        personality_config,
    )
    from ._reply_texts import DEFAULT_TEXTS
    from ._response import Response, system_error
    from ._session import Session
    from ._session_base import State
    from ._steps import Close, Hang, Paced, Reset, Send, Sleep, Step
    from ._uids import UID_FORMATS

__all__ = [
    "ALL_CAPABILITIES",
    "BUILTIN_FOLDER",
    "DEFAULT_CAPA_ORDER",
    "DEFAULT_TEXTS",
    "PERSONALITIES",
    "SERVER_DEFAULTS",
    "UID_FORMATS",
    "Close",
    "Hang",
    "Paced",
    "Reset",
    "Response",
    "Send",
    "ServerConfig",
    "Session",
    "Sleep",
    "State",
    "Step",
    "load_personality",
    "personality_config",
    "system_error",
]

_HOMES: dict[str, str] = {
    "BUILTIN_FOLDER": "_personality",
    "ALL_CAPABILITIES": "_capabilities",
    "Close": "_steps",
    "DEFAULT_CAPA_ORDER": "_capabilities",
    "DEFAULT_TEXTS": "_reply_texts",
    "Hang": "_steps",
    "PERSONALITIES": "_personality",
    "Paced": "_steps",
    "Reset": "_steps",
    "Response": "_response",
    "SERVER_DEFAULTS": "_personality",
    "Send": "_steps",
    "ServerConfig": "_config",
    "Session": "_session",
    "Sleep": "_steps",
    "State": "_session_base",
    "Step": "_steps",
    "UID_FORMATS": "_uids",
    "load_personality": "_personality",
    "personality_config": "_personality",
    "system_error": "_response",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
