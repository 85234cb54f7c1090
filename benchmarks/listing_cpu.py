"""CPU time of the first LIST or UIDL of a session on 10,000 messages, in-process.

    python benchmarks/listing_cpu.py                 # LIST and UIDL, maildrop unchanged
    python benchmarks/listing_cpu.py --changed       # one message delivered before each session
    python benchmarks/listing_cpu.py --deleted       # DELE 1 before the listing (built anew)

run.py's "LIST/UIDL on 10,000 messages" rows time sessions on an unchanged maildrop over
loopback, whose listings the maildrop keeps from one session to the next. This script
drives the same server's sans-IO `Conversation` (no sockets) and times the login, the first
listing and QUIT with `time.process_time()`, which load hardly moves; `--changed` and
`--deleted` show the cost when the maildrop changed since the last listing, or when the
session's own deletion marks make it build one.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from _common import make_message

from pop3mock import Mailbox, Message, POP3Server
from pop3mock.server._conversation import Conversation

__all__ = ["main", "session_times"]


def session_times(
    server: POP3Server, command: bytes, *, changed: bool, deleted: bool
) -> tuple[float, float, float]:
    """Seconds of CPU for the login, the first `command` and QUIT of one session."""
    box = server.mailbox("user0")
    if changed:
        box.add(make_message(500, len(box)))
    talk = Conversation(server.config, server.users, server.journal, server.faults, peer="x:1")
    talk.greet()
    t0 = time.process_time()
    talk.receive_data(b"USER user0\r\nPASS pw\r\n")
    talk.next_reply()
    talk.next_reply()
    if deleted:
        talk.receive_data(b"DELE 1\r\n")
        talk.next_reply()
    t1 = time.process_time()
    talk.receive_data(command + b"\r\n")
    talk.next_reply()
    t2 = time.process_time()
    talk.receive_data(b"RSET\r\nQUIT\r\n" if deleted else b"QUIT\r\n")
    while talk.next_reply() is not None:
        pass
    t3 = time.process_time()
    talk.connection_lost()
    talk.close("quit")
    return t1 - t0, t2 - t1, t3 - t2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200, help="sessions per command")
    parser.add_argument("--changed", action="store_true", help="deliver a message before each")
    parser.add_argument("--deleted", action="store_true", help="DELE 1 before the listing")
    args = parser.parse_args(argv)
    messages = [Message.of(make_message(400 + (i * 37) % 2600, i)) for i in range(10_000)]
    for command in (b"LIST", b"UIDL"):
        server = POP3Server(users={"user0": Mailbox("user0", "pw", messages)})
        runs = [
            session_times(server, command, changed=args.changed, deleted=args.deleted)
            for _ in range(args.sessions + 5)
        ][5:]
        login, listing, quit_ = (statistics.median(t) * 1000 for t in zip(*runs, strict=True))
        print(
            f"{command.decode()}: login {login:.3f} ms, first {command.decode()} "
            f"{listing:.3f} ms, QUIT {quit_:.3f} ms of CPU (medians of {args.sessions})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
