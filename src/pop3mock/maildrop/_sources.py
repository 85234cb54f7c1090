"""Scripted maildrops: messages from files (.eml folders, mbox, Maildir) and Python values.

Everything is read when the maildrop is configured. What cannot be a maildrop (a path that
does not exist, an unreadable file, something that is not a regular file, a file bigger than
the size limit, a folder without messages, a file that is not mbox where mbox is expected)
raises ConfigurationError naming the file and the problem; no message is ever dropped
silently. Every message is served as given, even empty or not RFC 5322 (`Message.notes`
says what is unusual about it): broken mail is what a client's parser is tested with.
"""

from __future__ import annotations

import email.message
import mailbox as stdlib_mailbox
import os
import re
import stat
from collections.abc import Iterable
from typing import Union

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._message import LazyMessage, Message

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAILDIR_FLAGS",
    "MBOX_FLAGS",
    "MessageSource",
    "load_messages",
    "load_with_origins",
]

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

#: The largest message file read by default (64 MiB): a file beyond it raises
#: ConfigurationError instead of filling the memory; `max_message_size=` raises the limit.
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
# What one read asks for past the size fstat gave (a file that grew while being read).
_CHUNK = 1024 * 1024
_STATUS = re.compile(rb"^(X-)?Status:[ \t]*([A-Za-z]*)", re.IGNORECASE | re.MULTILINE)
# A Maildir unique name starts with the delivery second, then '.', then letter-number parts
# such as M<microsecond>P<pid>Q<counter> (Python, Dovecot) or V<dev>I<inode>M<usec> (Postfix).
_MAILDIR_SECOND = re.compile(r"(\d+)(?:\.([^.]*)|$)")
_MAILDIR_PART = re.compile(r"([A-Z])(\d+)")


def load_messages(
    source: MessageSource, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
) -> list[Message]:
    """Messages from `source`, in order, read now.

    `source` is one of:

    - a path (str or os.PathLike): a folder of `.eml` files (sorted by file name), a single
      `.eml` file, a Maildir folder (with `cur/` and `new/`) or an mbox file;
    - one message: bytes, text with at least one line end, `email.message.Message` /
      `EmailMessage`, or `pop3mock.Message` (which may carry its own uid and flags);
    - a stdlib `mailbox.Mailbox` (mbox, Maildir...) object, read as a path is;
    - an iterable of any of these, mixed and nested.

    Every message is kept as given (line ends become CRLF), even an empty one or one that is
    not RFC 5322; `Message.notes` says what is unusual about it. Only regular files are read
    (a FIFO or a device is refused, never waited on), and a message file or mbox message
    larger than `max_message_size` octets raises ConfigurationError naming it and the limit.

    Maildir and mbox flags become `Message.flags` (see MAILDIR_FLAGS and MBOX_FLAGS; a
    Maildir message still in `new/` also gets "new"). Flags are for tests to read; POP3 has
    no flags and never sends them.
    """
    return [message for message, _ in load_with_origins(source, max_message_size=max_message_size)]


def load_with_origins(
    source: MessageSource, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
) -> list[tuple[Message, str]]:
    """`load_messages`, each message with where it came from: its file, `MBOX: message N`,
    `MAILBOX: message N (key K)` or `item N` (what `pop3mock serve` names in its notes)."""
    if not whole_number(max_message_size, 1):
        raise ConfigurationError(
            f"max_message_size={max_message_size!r}: a whole number of octets >= 1"
        )
    out: list[tuple[Message, str]] = []
    _collect(source, out, "", max_message_size)
    return out


def _collect(source: object, out: list[tuple[Message, str]], where: str, limit: int) -> None:
    if isinstance(source, Message):
        out.append((source, where or "message"))
    elif isinstance(source, str) and "\n" not in source and "\r" not in source:
        out.extend(_load_path(source, limit))
    elif isinstance(source, os.PathLike):
        out.extend(_load_path(os.fspath(source), limit))
    elif isinstance(source, (bytes, bytearray, memoryview, str)):
        out.append((Message.of(source), where or "message"))
    elif isinstance(source, email.message.Message):
        out.append((Message.of(source, flags=_flags_of(source)), where or "message"))
    elif isinstance(source, stdlib_mailbox.Mailbox):
        out.extend(_load_mailbox_object(source, limit))
    elif isinstance(source, LazyMessage):
        raise ConfigurationError(
            f"{where or 'source'}: a LazyMessage is loaded on demand; give it to "
            "Mailbox.add or POP3Server.add_user directly, not to load_messages"
        )
    elif isinstance(source, Iterable):
        for n, item in enumerate(source, 1):
            _collect(item, out, f"{where}item {n}" if not where else f"{where}, item {n}", limit)
    else:
        raise ConfigurationError(
            f"{where or 'source'}: cannot load messages from {type(source).__name__}: give a "
            "path, bytes, text, an email.message.Message, a pop3mock.Message, a stdlib "
            "mailbox, or an iterable of these"
        )


# -- paths -----------------------------------------------------------------------------------


def _load_path(path: str, limit: int) -> list[tuple[Message, str]]:
    if not os.path.lexists(path):
        raise ConfigurationError(
            f"{path}: no such file or folder (to serve text as a message, give bytes or "
            "text with a line end)"
        )
    if os.path.isdir(path):
        if os.path.isdir(os.path.join(path, "cur")) and os.path.isdir(os.path.join(path, "new")):
            return _load_maildir(path, limit)
        return _load_eml_folder(path, limit)
    if path.lower().endswith(".eml"):
        return [(Message.of(_strip_envelope(_read(path, limit))), path)]
    return _load_mbox(path, limit)


_KINDS = (
    (stat.S_ISDIR, "Is a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe), not a regular file"),
    (stat.S_ISCHR, "a character device, not a regular file"),
    (stat.S_ISBLK, "a block device, not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
)


def _open_regular(path: str, limit: int | None) -> tuple[int, int]:
    """A descriptor of `path` opened for reading, and its size, if it is a regular file no
    bigger than `limit` (None: any size); otherwise ConfigurationError.

    O_NONBLOCK: opening a FIFO for reading would wait for a writer, forever; with it the open
    returns at once and fstat tells what the file is (a link is followed: a link to a regular
    file is read, one to /dev/zero is refused). Regular files ignore the flag.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((text for test, text in _KINDS if test(info.st_mode)), None)
            raise ConfigurationError(
                f"{path}: cannot read: {kind or 'not a regular file'}"
                + ("" if kind == "Is a directory" else " (only regular files are read)")
            )
        if limit is not None and info.st_size > limit:
            raise ConfigurationError(_too_big(path, limit, info.st_size))
    except BaseException:
        os.close(fd)
        raise
    return fd, info.st_size


def _too_big(where: str, limit: int, size: int | None = None) -> str:
    said = f"{size} octets, more" if size is not None else "more"
    return (
        f"{where}: {said} than the limit of {limit} octets per message "
        "(max_message_size; pop3mock serve --max-message-size)"
    )


def _read(path: str, limit: int) -> bytes:
    fd, size = _open_regular(path, limit)
    try:
        # Buffered: read(n) returns fewer than n octets only at the end of the file.
        with open(fd, "rb", closefd=True) as handle:
            # fstat's size, then on to the end: the file may have grown since, never past the
            # limit in memory.
            chunks = [handle.read(size + 1)]
            total = len(chunks[0])
            while total > size and total <= limit and chunks[-1]:
                chunks.append(handle.read(min(_CHUNK, limit + 1 - total)))
                total += len(chunks[-1])
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if total > limit:
        raise ConfigurationError(_too_big(path, limit))
    return b"".join(chunks)


def _strip_envelope(data: bytes) -> bytes:
    # Some tools save .eml files with the mbox "From sender date" line first; it is not part
    # of the message, and no POP3 server sends it.
    if data.startswith(b"From "):
        end = data.find(b"\n")
        return b"" if end < 0 else data[end + 1 :]
    return data


def _load_eml_folder(path: str, limit: int) -> list[tuple[Message, str]]:
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
        messages.append((Message.of(_strip_envelope(_read(file, limit))), file))
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


def _maildir_flags(sub: str, info: str) -> frozenset[str]:
    # The info is "2," then the flag letters (experimental "1," infos carry none we know).
    flags = {MAILDIR_FLAGS[c] for c in info[2:] if c in MAILDIR_FLAGS}
    if sub == "new":
        flags.add("new")
    return frozenset(flags)


def _load_maildir(path: str, limit: int) -> list[tuple[Message, str]]:
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
            entries.append((key, sub, os.path.join(folder, name), _maildir_flags(sub, info)))
    entries.sort(key=lambda entry: (_maildir_order(entry[0]), entry[1], entry[2]))
    return [(Message.of(_read(file, limit), flags=flags), file) for _, _, file, flags in entries]


def _load_mbox(path: str, limit: int) -> list[tuple[Message, str]]:
    # Opened without blocking and checked as a regular file before the stdlib opens it; the
    # size limit is per message, so the file itself may be bigger.
    fd, _ = _open_regular(path, None)
    try:
        head = os.read(fd, 5)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
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
        try:
            raw = [
                _bounded(box, key, f"{path}: message {n}", limit)
                for n, key in enumerate(box.keys(), 1)
            ]
        finally:
            box.close()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return [
        (Message.of(data, flags=_mbox_flags(data)), f"{path}: message {n}")
        for n, data in enumerate(raw, 1)
    ]


def _bounded(box: stdlib_mailbox.Mailbox, key: str, where: str, limit: int) -> bytes:
    """The bytes of one message of `box`, at most `limit` of them read into memory."""
    with box.get_file(key) as handle:
        data = handle.read(limit + 1)
    if not isinstance(data, bytes):
        raise ConfigurationError(f"{where}: the mailbox gave {type(data).__name__}, not bytes")
    if len(data) > limit:
        raise ConfigurationError(_too_big(where, limit))
    return data


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


def _load_mailbox_object(box: stdlib_mailbox.Mailbox, limit: int) -> list[tuple[Message, str]]:
    # Read as a path is: a message that is gone, unreadable, not a regular file or too big is
    # a ConfigurationError naming the mailbox and the key, never a raw OSError or a hang.
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
            data, flags = _read_entry(box, key, where, limit)
        except OSError as exc:
            raise ConfigurationError(f"{where}: cannot read: {exc.strerror or exc}") from exc
        except KeyError as exc:
            raise ConfigurationError(f"{where}: cannot read: no longer in the mailbox") from exc
        messages.append((Message.of(data, flags=flags), where))
    return messages


def _read_entry(
    box: stdlib_mailbox.Mailbox, key: str, where: str, limit: int
) -> tuple[bytes, frozenset[str]]:
    # Maildir and MH keep a file per message, which the stdlib would open blocking (a FIFO
    # hangs it) and read whole: read it as a path is (Maildir flags from the file name, as
    # the stdlib reads them).
    file, flags = None, frozenset[str]()
    if isinstance(box, stdlib_mailbox.Maildir):
        # _lookup: the stdlib's own key -> file name map (refreshed when a file moved).
        sub_path: str = box._lookup(key)  # type: ignore[attr-defined]
        file = os.path.join(box._path, sub_path)
        sub, _, base = sub_path.rpartition(os.sep)
        flags = _maildir_flags(sub, base.split(box.colon)[-1] if box.colon in base else "")
    elif isinstance(box, stdlib_mailbox.MH):
        file = os.path.join(box._path, str(key))
    if file is not None:
        try:
            return _read(file, limit), flags
        except ConfigurationError as exc:
            problem = str(exc).removeprefix(f"{file}: ")
            raise ConfigurationError(f"{where}: {problem}") from exc.__cause__
    data = _bounded(box, key, where, limit)
    if isinstance(box, (stdlib_mailbox.mbox, stdlib_mailbox.MMDF)):
        return data, _mbox_flags(data)
    return data, _flags_of(box.get_message(key))


def _mailbox_name(box: stdlib_mailbox.Mailbox) -> str:
    # Every stdlib mailbox keeps its path in _path (set by Mailbox.__init__); other
    # implementations may not.
    path = getattr(box, "_path", None)
    if isinstance(path, str) and path:
        return path
    return f"{type(box).__module__}.{type(box).__qualname__} object"
