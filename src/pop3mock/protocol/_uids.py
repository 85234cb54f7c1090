"""How message UIDs look on the wire: the message's own uid or a server's form.

A form's wire UIDs are assigned the first time a message is listed, as IMAP-backed servers
number mail (Dovecot gives the next UID when it first indexes a message); the mailbox keeps
them, so they stay stable across sessions and are never reused.
"""

from __future__ import annotations

import hashlib
import types
import zlib
from collections.abc import Mapping, Sequence

from pop3mock.maildrop._mailbox import AssignWireUids, Mailbox

__all__ = ["UID_FORMATS", "render_uids"]

#: How message UIDs look on the wire: the message's own uid, Dovecot 2.3's default
#: ``%08Xu%08Xv`` (sequence and uidvalidity, 16 hex digits) or Gmail's ``GmailId`` + 16 hex.
UID_FORMATS = ("message", "dovecot", "gmail")


def _dovecot(user: str, uids: list[str], book: dict[str, str], used: set[str]) -> None:
    # Lower-case hex, as observed from Dovecot 2.3 with its default format.
    validity = zlib.crc32(user.encode("utf-8")) or 1
    for sequence, uid in enumerate(dict.fromkeys(uids), len(book) + 1):
        book[uid] = wire = f"{sequence:08x}{validity:08x}"
        used.add(wire)


def _gmail(user: str, uids: list[str], book: dict[str, str], used: set[str]) -> None:
    prefix = f"{user}\0".encode()
    for uid in dict.fromkeys(uids):
        attempt = 0
        while True:
            seed = prefix + f"{uid}\0{attempt}".encode()
            wire = "GmailId" + hashlib.blake2b(seed, digest_size=8).hexdigest()
            if wire not in used:
                break
            attempt += 1
        book[uid] = wire
        used.add(wire)


# Read-only: the forms are fixed, not registered at run time.
_FORMS: Mapping[str, AssignWireUids] = types.MappingProxyType(
    {"dovecot": _dovecot, "gmail": _gmail}
)


def render_uids(form: str, mailbox: Mailbox, uids: Sequence[str]) -> list[str]:
    """The wire form of `uids` (messages of `mailbox`) under UID form `form`."""
    if form == "message":
        return list(uids)
    return mailbox.wire_uids(form, uids, _FORMS[form])
