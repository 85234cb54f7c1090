"""One RFC 5322 message as POP3 serves it: CRLF bytes, a unique-id and an exact size."""

from __future__ import annotations

import email.message
import email.policy
import hashlib
import re
import threading
from collections.abc import Callable
from typing import Union

import attrs

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError

__all__ = [
    "REPLY_KEPT_UP_TO",
    "LazyMessage",
    "Message",
    "MessageInput",
    "message_notes",
    "normalize_crlf",
    "stuff",
    "validate_uid",
]

MessageInput = Union["Message", bytes, bytearray, memoryview, str, email.message.Message]

#: Messages up to this size keep their last whole RETR reply (`Message.keep_reply`): twice their
#: octets in memory once retrieved, against one copy per RETR kept by the journal otherwise.
REPLY_KEPT_UP_TO = 64 * 1024

_UID_RE = re.compile(rb"[\x21-\x7e]{1,70}")
_LINE_END_RE = re.compile(rb"\r\n|\r|\n")
# RFC 5322 field name (printable ASCII but ':'), optional obsolete blanks, then ':'.
_HEADER_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
# One lock for every LazyMessage: a loader runs once even when sessions of two users (or the
# test itself) ask for the same message at the same moment. Building is CPU work under the GIL,
# so one lock costs no throughput; it is reentrant for loaders that read other lazy messages.
_LOADING = threading.RLock()


def normalize_crlf(data: bytes) -> bytes:
    """Return `data` with every line end (CRLF, bare LF, bare CR) as CRLF and a final CRLF.

    RFC 1939 section 3 wants CRLF on the wire, and a message that lacks a final line end is
    sent with one; adding it here keeps the announced size equal to what is sent (C-103).
    """
    if not data:
        return b""
    if b"\r" not in data:
        out = data.replace(b"\n", b"\r\n")
    elif b"\n" not in data:
        out = data.replace(b"\r", b"\r\n")
    else:
        # Fast path: already CRLF everywhere (the count of CR, LF and CRLF agree).
        crlf = data.count(b"\r\n")
        if crlf == data.count(b"\r") == data.count(b"\n"):
            out = data
        else:
            out = _LINE_END_RE.sub(b"\r\n", data)
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def message_notes(data: bytes) -> tuple[str, ...]:
    """What is unusual about `data` (CRLF lines) as an RFC 5322 message, as short phrases.

    "empty": no octets at all (RFC 1939 serves it: LIST size 0, RETR "+OK" then ".");
    "no header fields": the first line is not a header field (nor the start of one);
    "no blank line between headers and body": after header fields, a line that is neither a
    field nor a folded continuation comes before any blank line. An ordinary message has
    none; a message without a body (no blank line at all) is ordinary.
    """
    if not data:
        return ("empty",)
    if not _HEADER_FIELD.match(data):
        return ("no header fields",)
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        line = data[pos:] if end < 0 else data[pos:end]
        if not line:
            break  # the blank line: the header section ended well
        if line[:1] not in (b" ", b"\t") and not _HEADER_FIELD.match(line):
            return ("no blank line between headers and body",)
        if end < 0:
            break
        pos = end + 2
    return ()


def stuff(data: bytes) -> bytes:
    """Byte-stuff CRLF lines for a multi-line reply: every line starting with '.' gets one more."""
    out = data.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out


def validate_uid(uid: str) -> str:
    """Check that `uid` is a valid RFC 1939 unique-id (1-70 octets in 0x21-0x7E)."""
    try:
        raw = uid.encode("ascii")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"invalid uid {uid!r}: a POP3 unique-id is printable ASCII (0x21-0x7E)"
        ) from None
    if not _UID_RE.fullmatch(raw):
        raise ConfigurationError(
            f"invalid uid {uid!r}: a POP3 unique-id is 1 to 70 characters in 0x21-0x7E "
            "(no spaces, no control characters)"
        )
    return uid


def _check_uid(_instance: object, _attribute: object, uid: str) -> None:
    validate_uid(uid)


def _check_size(_instance: object, _attribute: object, size: int) -> None:
    if not whole_number(size):
        raise ConfigurationError(f"invalid size {size!r}: a message size is a whole number >= 0")


def _content_uid(data: bytes) -> str:
    # Letters and digits only, so that clients rewriting '/' (getmail) never see collisions.
    return hashlib.sha256(data).hexdigest()[:32]


def _to_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, email.message.Message):
        policy = getattr(value, "policy", None)
        if isinstance(policy, email.policy.EmailPolicy):
            return value.as_bytes(policy=policy.clone(linesep="\r\n"))
        return value.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))
    raise ConfigurationError(
        f"cannot make a message from {type(value).__name__}: "
        "give bytes, str, email.message.Message or pop3mock.Message"
    )


@attrs.frozen(eq=False, repr=False)
class Message:
    """One message of a maildrop.

    `data` holds the message with CRLF line ends and a final CRLF, exactly the octets a client
    receives after un-stuffing; `size` is their count (RFC 1939 section 11). `uid` is given or
    derived from the content; a mailbox keeps UIDs unique even for identical copies.
    `wire` is the byte-stuffed body of RETR, computed once.
    """

    data: bytes
    uid: str = attrs.field(validator=_check_uid)
    flags: frozenset[str] = frozenset()
    wire: bytes = attrs.field(init=False)
    #: Octets as RFC 1939 counts them: CRLF line ends, no stuffing, no terminator. Stored,
    #: not a property: LIST and every login sum it over the whole maildrop.
    size: int = attrs.field(init=False)
    _header_end: int = attrs.field(init=False, alias="_header_end")
    # The last RETR reply the protocol core made of this message, with the text it was made
    # from: every session that retrieves the message sends, and its journal keeps, that one.
    _reply: tuple[str, object] | None = attrs.field(init=False, default=None, alias="_reply")

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "wire", stuff(self.data))
        object.__setattr__(self, "size", len(self.data))
        if self.data.startswith(b"\r\n"):
            end = 2  # no header fields: the first line is the blank line
        else:
            found = self.data.find(b"\r\n\r\n")
            # No blank line: the whole message counts as headers for TOP (C-074).
            end = len(self.data) if found < 0 else found + 4
        object.__setattr__(self, "_header_end", end)

    @classmethod
    def of(
        cls, value: MessageInput, *, uid: str | None = None, flags: frozenset[str] | None = None
    ) -> Message:
        """Build a Message from bytes, str, an `email` message or another Message."""
        if isinstance(value, Message):
            if uid is None and flags is None:
                return value
            return cls(
                value.data,
                uid if uid is not None else value.uid,  # checked by the field's validator
                frozenset(flags) if flags is not None else value.flags,
            )
        data = normalize_crlf(_to_bytes(value))
        return cls(
            data,
            uid if uid is not None else _content_uid(data),
            frozenset(flags or ()),
        )

    def kept_reply(self, key: str) -> object | None:
        """What `keep_reply` kept for `key`, or None."""
        kept = self._reply
        if kept is not None and kept[0] == key:
            return kept[1]
        return None

    def keep_reply(self, key: str, reply: object) -> None:
        """Keep `reply`, the RETR reply that `key` (the server's RETR text) makes of this
        message, so that retrieving it again, in any session, makes nothing and copies
        nothing: the protocol core keeps its immutable reply here, and every session sends,
        and every journal keeps, that one object. Only the last key is kept, and only for
        messages up to `REPLY_KEPT_UP_TO` octets."""
        if self.size <= REPLY_KEPT_UP_TO:
            # (one tuple, assigned at once: a thread reading it sees the old or the new one)
            object.__setattr__(self, "_reply", (key, reply))

    @property
    def message(self) -> Message:
        """The message itself (the same access as `LazyMessage.message`)."""
        return self

    @property
    def notes(self) -> tuple[str, ...]:
        """What is unusual about this message, `()` for an ordinary one: any of "empty",
        "no header fields", "no blank line between headers and body" (`message_notes`).
        pop3mock serves such messages as they are; the notes only say what a client meets."""
        return message_notes(self.data)

    def top(self, lines: int) -> bytes:
        """The byte-stuffed headers, blank line and first `lines` body lines (TOP n k)."""
        head = self.data[: self._header_end]
        if lines <= 0:
            return stuff(head)
        pos = self._header_end
        data = self.data
        for _ in range(lines):
            nxt = data.find(b"\r\n", pos)
            if nxt < 0:
                return self.wire
            pos = nxt + 2
        if pos >= len(data):
            return self.wire
        return stuff(data[:pos])

    def as_email(self) -> email.message.EmailMessage:
        """Parse the message with the standard library (policy.default)."""
        import email.parser

        parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(self.data)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed

    def __repr__(self) -> str:
        subject = b""
        for line in self.data[: self._header_end].split(b"\r\n"):
            if line[:8].lower() == b"subject:":
                subject = line[8:].strip()
                break
        return f"<Message uid={self.uid!r} size={self.size} subject={subject[:40]!r}>"


@attrs.define(eq=False, repr=False)
class LazyMessage:
    """A message whose bytes are made on first use, with its uid and size known up front.

    Large generated maildrops use it so that STAT, LIST and UIDL answer without building every
    body. `load` must return a message of exactly `size` octets; a mismatch is a server error
    rather than a silent lie on the wire. `load` runs once, even when several threads ask for
    the message at the same moment; if it raises, the next access tries again.
    """

    uid: str = attrs.field(validator=_check_uid)
    size: int = attrs.field(validator=_check_size)
    load: Callable[[], Message]
    flags: frozenset[str] = frozenset()
    _message: Message | None = attrs.field(default=None, init=False, alias="_message")

    @property
    def message(self) -> Message:
        """The message, built on first access and then kept."""
        msg = self._message
        if msg is None:
            with _LOADING:
                msg = self._message
                if msg is None:
                    built = self.load()
                    if built.size != self.size:
                        raise RuntimeError(
                            f"lazy message {self.uid!r} announced {self.size} octets "
                            f"but its loader made {built.size}"
                        )
                    msg = Message(built.data, self.uid, self.flags or built.flags)
                    self._message = msg
        return msg

    @property
    def loaded(self) -> bool:
        """Whether the bytes have been made yet."""
        return self._message is not None

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not loaded"
        return f"<LazyMessage uid={self.uid!r} size={self.size} {state}>"
