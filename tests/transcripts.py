"""Scripted POP3 sessions as raw bytes, to compare two servers byte for byte.

Two servers with the same personality and maildrop must give the same bytes, apart from
what is theirs alone: the APOP timestamp in the greeting and the values of the UIDs.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SCRIPT", "flatten", "same_transcripts", "session", "transcript"]

#: (command, multi-line when +OK): a client's everyday session, with a few errors.
SCRIPT: tuple[tuple[str, bool], ...] = (
    ("CAPA", True),
    ("XYZZY", False),
    ("USER", False),
    ("USER {user}", False),
    ("PASS {password}", False),
    ("CAPA", True),
    ("STAT", False),
    ("LIST", True),
    ("LIST 2", False),
    ("LIST 99", False),
    ("UIDL", True),
    ("UIDL 1", False),
    ("TOP 1 0", True),
    ("RETR 1", True),
    ("RETR 2", True),
    ("NOOP", False),
    ("RSET", False),
    ("LAST", False),
    ("QUIT", False),
)


def session(
    host: str, port: int, script: Sequence[tuple[str, bool]], user: str, password: str
) -> list[bytes]:
    """The greeting and the reply to each command of `script`, as received."""
    with socket.create_connection((host, port), timeout=10) as sock:
        stream = sock.makefile("rwb")
        out = [stream.readline()]
        for command, multiline in script:
            stream.write(command.format(user=user, password=password).encode() + b"\r\n")
            stream.flush()
            reply = [stream.readline()]
            if multiline and reply[0].startswith(b"+OK"):
                while reply[-1] != b".\r\n":
                    line = stream.readline()
                    assert line, f"connection closed inside the reply to {command}"
                    reply.append(line)
            out.append(b"".join(reply))
        return out


def transcript(server: Any, script: Sequence[tuple[str, bool]], user: str = "alice") -> list[bytes]:
    """`session` against a POP3Server as `user`, with its password."""
    return session(server.host, server.port, script, user, server.mailbox(user).password)


_TIMESTAMP = re.compile(rb" <[^<>]*>(?=\r\n)")
_UID_LINE = re.compile(rb"^(\+OK )?(\d+) \S+\r\n", re.MULTILINE)


def _normal(replies: Sequence[bytes]) -> list[bytes]:
    return [_TIMESTAMP.sub(b" <timestamp>", replies[0]), *replies[1:]]


def same_transcripts(
    first: Sequence[bytes], second: Sequence[bytes], script: Sequence[tuple[str, bool]] = SCRIPT
) -> bool:
    """Whether two transcripts of `script` are the same apart from the APOP timestamp and
    the UIDs' values; on a difference, an AssertionError names the command."""
    a, b = _normal(first), _normal(second)
    assert len(a) == len(b), (len(a), len(b))
    commands = ["greeting", *(command for command, _ in script)]
    for command, one, two in zip(commands, a, b, strict=True):
        if command.startswith("UIDL"):
            one, two = (_UID_LINE.sub(rb"\1\2 <uid>\r\n", x) for x in (one, two))
        assert one == two, f"{command}: {one!r} != {two!r}"
    return True


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A personality document as {"table.key": value}."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
