"""Move every message of a POP3 mailbox into a local Maildir.

    python fetch_maildir.py HOST PORT USER PASSWORD MAILDIR

A message is deleted on the server only after it is safely in the Maildir, and POP3 applies
deletions only at QUIT: an interrupted run loses nothing (at worst a message is fetched again).
Temporary server failures (``-ERR [SYS/TEMP]``, RFC 3206) are retried a few times.
"""

from __future__ import annotations

import mailbox
import poplib
import sys
import time

__all__ = ["FetchError", "fetch_to_maildir"]


class FetchError(Exception):
    """The fetch stopped early; `moved` messages were moved before it did."""

    def __init__(self, message: str, moved: int) -> None:
        super().__init__(message)
        self.moved = moved


def _temporary(exc: poplib.error_proto) -> bool:
    reply = exc.args[0] if exc.args else b""
    if isinstance(reply, str):
        reply = reply.encode()
    return reply.startswith(b"-ERR [SYS/TEMP]")


def _connection_lost(exc: poplib.error_proto) -> bool:
    # poplib reports a closed connection as error_proto('-ERR EOF') (a str, not the server's
    # bytes).
    return exc.args == ("-ERR EOF",)


def _retrieve(client: poplib.POP3, number: int, retries: int, delay: float) -> list[bytes]:
    for attempt in range(retries + 1):
        try:
            return client.retr(number)[1]
        except poplib.error_proto as exc:
            if not _temporary(exc) or attempt == retries:
                raise
            time.sleep(delay * (attempt + 1))
    raise AssertionError("unreachable")


def fetch_to_maildir(
    host: str,
    port: int,
    user: str,
    password: str,
    maildir: str,
    *,
    retries: int = 3,
    retry_delay: float = 1.0,
    timeout: float = 30.0,
) -> int:
    """Move every message to `maildir` and return how many were moved."""
    box = mailbox.Maildir(maildir, create=True)
    client = poplib.POP3(host, port, timeout=timeout)
    moved = 0
    try:
        client.user(user)
        client.pass_(password)
        count, _ = client.stat()
        for number in range(1, count + 1):
            lines = _retrieve(client, number, retries, retry_delay)
            box.add(b"\n".join(lines) + b"\n")
            client.dele(number)
            moved += 1
    except poplib.error_proto as exc:
        if _connection_lost(exc):
            client.close()  # nothing to commit on a dead connection
            raise FetchError(f"connection lost after {moved} messages", moved) from exc
        client.quit()  # commit the deletions of what is already saved
        raise FetchError(f"stopped after {moved} messages: {exc}", moved) from exc
    except OSError:
        client.close()
        raise
    client.quit()
    return moved


def main(argv: list[str]) -> int:
    host, port, user, password, maildir = argv
    try:
        moved = fetch_to_maildir(host, int(port), user, password, maildir)
    except FetchError as exc:
        print(f"fetch_maildir: {exc}", file=sys.stderr)
        return 1
    print(f"{moved} messages moved to {maildir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
