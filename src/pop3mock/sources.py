"""Scripted maildrops: messages from files (.eml folders, mbox, Maildir) and Python values.

Everything is read and checked when the maildrop is configured: a file that is missing,
unreadable or not what it claims to be raises ConfigurationError naming the file and the
problem, and no message is ever dropped silently.
"""

from __future__ import annotations

import email.message
import mailbox as stdlib_mailbox
import os
import re
from collections.abc import Iterable
from typing import Union

from .errors import ConfigurationError
from .message import LazyMessage, Message

__all__ = ["MAILDIR_FLAGS", "MBOX_FLAGS", "MessageSource", "load_messages"]

MessageSource = Union[
    str,
    "os.PathLike[str]",
    bytes,
    bytearray,
    memoryview,
    email.message.Message,
    Message,
    "stdlib_mailbox.Mailbox",
    Iterable["MessageSource"],
]

#: Maildir info letters (the `:2,FS` file-name suffix) and the flags they become.
MAILDIR_FLAGS = {
    "D": "draft",
    "F": "flagged",
    "P": "passed",
    "R": "replied",
    "S": "seen",
    "T": "trashed",
}
#: mbox Status / X-Status letters and the flags they become.
MBOX_FLAGS = {"R": "seen", "O": "old", "A": "replied", "F": "flagged", "D": "trashed"}

# RFC 5322 field name (printable ASCII but ':'), optional obsolete blanks, then ':'.
_HEADER_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_STATUS = re.compile(rb"^(X-)?Status:[ \t]*([A-Za-z]*)", re.IGNORECASE | re.MULTILINE)
# A Maildir unique name starts with the delivery second, then '.', then letter-number parts
# such as M<microsecond>P<pid>Q<counter> (Python, Dovecot) or V<dev>I<inode>M<usec> (Postfix).
_MAILDIR_SECOND = re.compile(r"(\d+)(?:\.([^.]*)|$)")
_MAILDIR_PART = re.compile(r"([A-Z])(\d+)")


def load_messages(source: MessageSource) -> list[Message]:
    """Messages from `source`, in order, read and checked now.

    `source` is one of:

    - a path (str or os.PathLike): a folder of `.eml` files (sorted by file name), a single
      `.eml` file, a Maildir folder (with `cur/` and `new/`) or an mbox file;
    - one message: bytes, text with at least one line end, `email.message.Message` /
      `EmailMessage`, or `pop3mock.Message` (which may carry its own uid and flags);
    - a stdlib `mailbox.Mailbox` (mbox, Maildir...) object, checked as a path is;
    - an iterable of any of these, mixed and nested.

    Maildir and mbox flags become `Message.flags` (see MAILDIR_FLAGS and MBOX_FLAGS; a
    Maildir message still in `new/` also gets "new"). Flags are for tests to read; POP3 has
    no flags and never sends them.
    """
    out: list[Message] = []
    _collect(source, out, "")
    return out


def _collect(source: object, out: list[Message], where: str) -> None:
    if isinstance(source, Message):
        out.append(source)
    elif isinstance(source, str) and "\n" not in source and "\r" not in source:
        out.extend(_load_path(source))
    elif isinstance(source, os.PathLike):
        out.extend(_load_path(os.fspath(source)))
    elif isinstance(source, (bytes, bytearray, memoryview, str)):
        out.append(Message.of(source))
    elif isinstance(source, email.message.Message):
        out.append(Message.of(source, flags=_flags_of(source)))
    elif isinstance(source, stdlib_mailbox.Mailbox):
        out.extend(_load_mailbox_object(source))
    elif isinstance(source, LazyMessage):
        raise ConfigurationError(
            f"{where or 'source'}: a LazyMessage is loaded on demand; give it to "
            "Mailbox.add or POP3Server.add_user directly, not to load_messages"
        )
    elif isinstance(source, Iterable):
        for n, item in enumerate(source, 1):
            _collect(item, out, f"{where}item {n}" if not where else f"{where}, item {n}")
    else:
        raise ConfigurationError(
            f"{where or 'source'}: cannot load messages from {type(source).__name__}: give a "
            "path, bytes, text, an email.message.Message, a pop3mock.Message, a stdlib "
            "mailbox, or an iterable of these"
        )


# -- paths -----------------------------------------------------------------------------------


def _load_path(path: str) -> list[Message]:
    if not os.path.lexists(path):
        raise ConfigurationError(
            f"{path}: no such file or folder (to serve text as a message, give bytes or "
            "text with a line end)"
        )
    if os.path.isdir(path):
        if os.path.isdir(os.path.join(path, "cur")) and os.path.isdir(os.path.join(path, "new")):
            return _load_maildir(path)
        return _load_eml_folder(path)
    if path.lower().endswith(".eml"):
        return [Message.of(_checked(_strip_envelope(_read(path)), path))]
    return _load_mbox(path)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _strip_envelope(data: bytes) -> bytes:
    # Some tools save .eml files with the mbox "From sender date" line first; it is not part
    # of the message, and no POP3 server sends it.
    if data.startswith(b"From "):
        end = data.find(b"\n")
        return b"" if end < 0 else data[end + 1 :]
    return data


def _checked(data: bytes, where: str) -> bytes:
    if not data.strip():
        raise ConfigurationError(f"{where}: empty message")
    first = data.split(b"\n", 1)[0]
    if not _HEADER_FIELD.match(first):
        raise ConfigurationError(
            f"{where}: not an RFC 5322 message: its first line {first[:60]!r} is not a header field"
        )
    return data


def _load_eml_folder(path: str) -> list[Message]:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot list the folder: {exc.strerror}") from exc
    files = [name for name in names if name.lower().endswith(".eml")]
    if not files:
        raise ConfigurationError(
            f"{path}: a folder without .eml files, and not a Maildir (no cur/ and new/ folders)"
        )
    messages = []
    for name in files:
        file = os.path.join(path, name)
        messages.append(Message.of(_checked(_strip_envelope(_read(file)), file)))
    return messages


def _maildir_order(key: str) -> tuple[int, int, int, int, int, int, str]:
    """Sort key of a Maildir unique name (the file name before its info) for delivery order.

    The microseconds in the M part are not zero-padded ("M797" was delivered before
    "M62954"), so the parts are compared as numbers: the second, then M, P and Q (a missing
    P or Q counts as -1). Within one second, names without an M part (older writers'
    SECOND.PID_N.host) come after those with one, by name, as nothing tells their order;
    names that do not start with a second (made by hand) come after all timed ones, by name.
    """
    match = _MAILDIR_SECOND.match(key)
    if match is None:
        return (1, 0, 0, 0, 0, 0, key)
    parts: dict[str, int] = {}
    for letter, digits in _MAILDIR_PART.findall(match.group(2) or ""):
        parts.setdefault(letter, int(digits))
    second = int(match.group(1))
    if "M" not in parts:
        return (0, second, 1, 0, 0, 0, key)
    return (0, second, 0, parts["M"], parts.get("P", -1), parts.get("Q", -1), key)


def _load_maildir(path: str) -> list[Message]:
    # The info after ':' (or '!', the separator some systems use) carries the flags.
    entries = []
    for sub in ("new", "cur"):
        folder = os.path.join(path, sub)
        try:
            names = os.listdir(folder)
        except OSError as exc:
            raise ConfigurationError(f"{folder}: cannot list the folder: {exc.strerror}") from exc
        for name in names:
            if name.startswith("."):
                continue  # temporary and hidden files, as the Maildir convention says
            key, sep, info = name.partition(":")
            if not sep:
                key, sep, info = name.partition("!")
            flags = {MAILDIR_FLAGS[c] for c in info[2:] if c in MAILDIR_FLAGS}
            if sub == "new":
                flags.add("new")
            entries.append((key, sub, os.path.join(folder, name), frozenset(flags)))
    entries.sort(key=lambda entry: (_maildir_order(entry[0]), entry[1], entry[2]))
    return [Message.of(_checked(_read(file), file), flags=flags) for _, _, file, flags in entries]


def _load_mbox(path: str) -> list[Message]:
    head = _read_head(path)
    if not head:
        raise ConfigurationError(
            f"{path}: empty file: an mbox holds at least one message after a 'From ' line "
            "(for an empty maildrop give [])"
        )
    if not head.startswith(b"From "):
        raise ConfigurationError(
            f"{path}: not an mbox file: it does not start with a 'From ' line (a single "
            "message file should be named *.eml)"
        )
    try:
        box = stdlib_mailbox.mbox(path, create=False)
        keys = list(box.keys())
        raw = [box.get_bytes(key) for key in keys]
        box.close()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    messages = []
    for n, data in enumerate(raw, 1):
        checked = _checked(data, f"{path}: message {n}")
        messages.append(Message.of(checked, flags=_mbox_flags(checked)))
    return messages


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(5)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _mbox_flags(data: bytes) -> frozenset[str]:
    end = data.find(b"\n\n")
    if end < 0:
        end = data.find(b"\r\n\r\n")
    headers = data if end < 0 else data[:end]
    letters = b"".join(match.group(2) for match in _STATUS.finditer(headers)).decode("ascii")
    return frozenset(MBOX_FLAGS[c] for c in letters if c in MBOX_FLAGS)


# -- Python objects --------------------------------------------------------------------------


def _flags_of(message: email.message.Message) -> frozenset[str]:
    if isinstance(message, stdlib_mailbox.MaildirMessage):
        flags = {MAILDIR_FLAGS[c] for c in message.get_flags() if c in MAILDIR_FLAGS}
        if message.get_subdir() == "new":
            flags.add("new")
        return frozenset(flags)
    if isinstance(message, (stdlib_mailbox.mboxMessage, stdlib_mailbox.MMDFMessage)):
        return frozenset(MBOX_FLAGS[c] for c in message.get_flags() if c in MBOX_FLAGS)
    return frozenset()


def _load_mailbox_object(box: stdlib_mailbox.Mailbox) -> list[Message]:
    # Checked as a path is: a message that is gone or unreadable, empty or not RFC 5322 is a
    # ConfigurationError naming the mailbox and the key, never a raw OSError or a served dud.
    name = _mailbox_name(box)
    try:
        keys = box.keys()
    except OSError as exc:
        raise ConfigurationError(
            f"{name}: cannot list the messages: {exc.strerror or exc}"
        ) from exc
    # Maildir keys come in directory order, which differs between machines: sort them, in
    # delivery order as for a Maildir path.
    if isinstance(box, stdlib_mailbox.Maildir):
        keys = sorted(keys, key=_maildir_order)
    else:
        keys = sorted(keys)
    messages = []
    for n, key in enumerate(keys, 1):
        where = f"{name}: message {n} (key {key!r})"
        try:
            flags = _flags_of(box.get_message(key))
            data = box.get_bytes(key)
        except OSError as exc:
            raise ConfigurationError(f"{where}: cannot read: {exc.strerror or exc}") from exc
        except KeyError as exc:
            raise ConfigurationError(f"{where}: cannot read: no longer in the mailbox") from exc
        messages.append(Message.of(_checked(data, where), flags=flags))
    return messages


def _mailbox_name(box: stdlib_mailbox.Mailbox) -> str:
    # Every stdlib mailbox keeps its path in _path (set by Mailbox.__init__); other
    # implementations may not.
    path = getattr(box, "_path", None)
    if isinstance(path, str) and path:
        return path
    return f"{type(box).__module__}.{type(box).__qualname__} object"
