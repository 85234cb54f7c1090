"""What a test sees: the rows with the client (`poplib`) in the server's own process.

In a pytest test the client runs in the test's thread and the server's threads in the same
process: they share one GIL, and every request and reply is a hand-over between threads.
The socket rows of `run.py` keep the client in a process of its own, so that they measure
the server alone; these measure what a test waits for. The floor is measured the same way,
in the same run: the same `poplib` calls, from this process, against the bare socket server
(`_common.FloorServer`) answering with the bytes pop3mock sends.
"""

from __future__ import annotations

import poplib
import time
from collections.abc import Callable, Sequence
from typing import Any

from _common import FloorServer, make_message

from pop3mock import Mailbox, Message, POP3Server

__all__ = ["InProcessRows", "retr_in_process", "sessions_in_process"]

FloorFor = Callable[[Mailbox, Sequence[bytes]], FloorServer]


class InProcessRows:
    """The two rows, made with `run.py`'s row type (passed in, as this module is imported
    by it)."""

    def __init__(self, row: Callable[..., Any]) -> None:
        # Targets: the cost a test pays over bare sockets, the same bounds as the socket
        # rows' goals (RETR 2 KB at most 1.30x the floor, one-thread sessions 1.25x).
        self.retr = row(
            "what a test sees: RETR 2 KB messages, poplib in-process",
            "msg/s",
            1.30,
            True,
            target_is_cost=True,
        )
        self.sessions = row(
            "what a test sees: sessions/s, poplib in-process",
            "/s",
            1.25,
            True,
            target_is_cost=True,
        )

    def all(self) -> list[Any]:
        return [self.retr, self.sessions]


def _retr_rate(port: int, user: str, password: str, sizes: Sequence[int], count: int) -> float:
    """RETR of messages 1..n in turn in one poplib session: messages per second."""
    client = poplib.POP3("127.0.0.1", port, timeout=30)
    try:
        client.user(user)
        client.pass_(password)
        # The first pass checks the content: poplib un-stuffs and strips each CRLF.
        for number, size in enumerate(sizes, 1):
            _, lines, _ = client.retr(number)
            got = sum(len(line) + 2 for line in lines)
            if got != size:
                raise RuntimeError(f"RETR {number}: {got} octets, expected {size}")
        t0 = time.perf_counter()
        for i in range(count):
            client.retr(i % len(sizes) + 1)
        elapsed = time.perf_counter() - t0
        client.quit()
    finally:
        client.close()
    return count / elapsed


def _session_rate(port: int, user: str, password: str, count: int) -> float:
    """poplib sessions of connect, greeting, USER, PASS, STAT, QUIT, one after another."""
    t0 = time.perf_counter()
    for _ in range(count):
        client = poplib.POP3("127.0.0.1", port, timeout=30)
        try:
            client.user(user)
            client.pass_(password)
            client.stat()
            client.quit()
        finally:
            client.close()
    return count / (time.perf_counter() - t0)


def _alternate(
    row: Any,
    mailbox: Mailbox,
    floor_lines: Sequence[bytes],
    floor_for: FloorFor,
    measure: Callable[[int], float],
    rep: int,
) -> None:
    order = ("pop3mock", "floor") if rep % 2 == 0 else ("floor", "pop3mock")
    for which in order:
        if which == "pop3mock":
            with POP3Server(users={mailbox.user: mailbox}) as server:
                row.pop3mock.append(measure(server.port))
                server.check()
        else:
            with floor_for(mailbox, floor_lines) as floor:
                row.floor.append(measure(floor.port))


def retr_in_process(row: Any, floor_for: FloorFor, password: str, count: int, rep: int) -> None:
    """One repetition of the RETR row: 50 messages of 2 KB, `count` RETRs timed."""
    drop = [Message.of(make_message(2_000, i)) for i in range(50)]
    mailbox = Mailbox("user0", password, drop)
    sizes = [m.size for m in drop]

    def measure(port: int) -> float:
        return _retr_rate(port, mailbox.user, password, sizes, count)

    _alternate(row, mailbox, [b"RETR 1"], floor_for, measure, rep)
    row.note = (
        f"{count:,} RETRs of 2 KB messages in one session by poplib in this process (the "
        "server's threads share its GIL, as in a test); the floor answers the same calls"
    )


def sessions_in_process(row: Any, floor_for: FloorFor, password: str, count: int, rep: int) -> None:
    """One repetition of the sessions row: `count` poplib sessions, one after another."""
    mailbox = Mailbox("user0", password, [Message.of(make_message(2000, i)) for i in range(10)])

    def measure(port: int) -> float:
        return _session_rate(port, mailbox.user, password, count)

    _alternate(row, mailbox, [b"STAT"], floor_for, measure, rep)
    row.note = (
        f"{count:,} poplib sessions (connect, USER, PASS, STAT, QUIT) one after another "
        "from this process; the floor answers the same calls"
    )
