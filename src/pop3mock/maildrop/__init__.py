"""Maildrops: the message model, a user's list of messages (eager or lazy), the mailbox a
session works on, and loading messages from files (.eml, mbox, Maildir).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._entries import LazyMaildrop
    from ._mailbox import Mailbox
    from ._message import LazyMessage, Message, MessageInput
    from ._sources import (
        DEFAULT_MAX_MESSAGE_SIZE,
        MAILDIR_FLAGS,
        MBOX_FLAGS,
        MessageSource,
        load_messages,
    )

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAILDIR_FLAGS",
    "MBOX_FLAGS",
    "LazyMaildrop",
    "LazyMessage",
    "Mailbox",
    "Message",
    "MessageInput",
    "MessageSource",
    "load_messages",
]

_HOMES: dict[str, str] = {
    "DEFAULT_MAX_MESSAGE_SIZE": "_sources",
    "LazyMaildrop": "_entries",
    "MAILDIR_FLAGS": "_sources",
    "MBOX_FLAGS": "_sources",
    "LazyMessage": "_message",
    "Mailbox": "_mailbox",
    "Message": "_message",
    "MessageInput": "_message",
    "MessageSource": "_sources",
    "load_messages": "_sources",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
