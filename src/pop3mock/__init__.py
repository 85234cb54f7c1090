"""pop3mock: a real POP3 server for tests.

Start one with `POP3Server` (or the `pop3_server` pytest fixture), give it users and
messages, point any POP3 client at it, then assert on what the client did.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from .config import ServerConfig
    from .entries import LazyMaildrop
    from .errors import (
        ClientViolationError,
        ConfigurationError,
        Pop3MockError,
        ServerError,
        UnfiredFaultError,
    )
    from .fake import MessageFactory, fake_messages, lazy_fake_messages
    from .faults import FaultSet, Rule
    from .journal import CommandRecord, Journal, SessionRecord, Violation
    from .mailbox import Mailbox
    from .message import LazyMessage, Message
    from .personality import PERSONALITIES
    from .protocol import Response, Session, State
    from .server import POP3Server
    from .sources import load_messages

__all__ = [
    "PERSONALITIES",
    "ClientViolationError",
    "CommandRecord",
    "ConfigurationError",
    "FaultSet",
    "Journal",
    "LazyMaildrop",
    "LazyMessage",
    "Mailbox",
    "Message",
    "MessageFactory",
    "POP3Server",
    "Pop3MockError",
    "Response",
    "Rule",
    "ServerConfig",
    "ServerError",
    "Session",
    "SessionRecord",
    "State",
    "UnfiredFaultError",
    "Violation",
    "__version__",
    "fake_messages",
    "lazy_fake_messages",
    "load_messages",
]

# The module each public name comes from. A module is imported the first time one of its
# names is used: pytest loads the plugin (and so this package) at every start of every
# suite that has pop3mock installed, and most of those runs never start a server.
_HOMES: dict[str, str] = {
    "PERSONALITIES": "personality",
    "ClientViolationError": "errors",
    "CommandRecord": "journal",
    "ConfigurationError": "errors",
    "FaultSet": "faults",
    "Journal": "journal",
    "LazyMaildrop": "entries",
    "LazyMessage": "message",
    "Mailbox": "mailbox",
    "Message": "message",
    "MessageFactory": "fake",
    "POP3Server": "server",
    "Pop3MockError": "errors",
    "Response": "protocol",
    "Rule": "faults",
    "ServerConfig": "config",
    "ServerError": "errors",
    "Session": "protocol",
    "SessionRecord": "journal",
    "State": "protocol",
    "UnfiredFaultError": "errors",
    "Violation": "journal",
    "fake_messages": "fake",
    "lazy_fake_messages": "fake",
    "load_messages": "sources",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
