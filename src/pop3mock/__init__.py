"""pop3mock: a real POP3 server for tests.

Start one with `POP3Server` (or the `pop3_server` pytest fixture), give it users and
messages, point any POP3 client at it, then assert on what the client did.
"""

from ._version import __version__
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
