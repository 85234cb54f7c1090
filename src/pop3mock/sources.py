"""Load messages from files: a folder of .eml files, an mbox file or a Maildir."""

from __future__ import annotations

import mailbox as stdlib_mailbox
import os
from collections.abc import Iterator

from .errors import ConfigurationError
from .message import Message

__all__ = ["load_messages"]


def load_messages(path: str | os.PathLike[str]) -> Iterator[Message]:
    """Messages from a folder of .eml files (sorted by name), a Maildir, or an mbox file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConfigurationError(f"{path}: no such file or folder")
    if os.path.isdir(path):
        if all(os.path.isdir(os.path.join(path, sub)) for sub in ("cur", "new", "tmp")):
            box = stdlib_mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.keys()):
                yield Message.of(box.get_bytes(key))
            return
        names = sorted(n for n in os.listdir(path) if n.lower().endswith(".eml"))
        for name in names:
            file = os.path.join(path, name)
            try:
                with open(file, "rb") as handle:
                    yield Message.of(handle.read())
            except OSError as exc:
                raise ConfigurationError(f"{file}: cannot read: {exc.strerror}") from exc
        return
    with open(path, "rb") as handle:
        head = handle.read(5)
    if head != b"From ":
        raise ConfigurationError(f"{path}: not an mbox file (it does not start with 'From ')")
    mbox = stdlib_mailbox.mbox(path, create=False)
    for key in mbox.keys():  # noqa: SIM118 - keys() is the documented mbox API
        yield Message.of(mbox.get_bytes(key))
