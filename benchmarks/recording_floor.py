"""How much of the cost is recording: the floor, the floor that records, and pop3mock.

    python benchmarks/recording_floor.py            # 5 rounds, medians
    python benchmarks/recording_floor.py --quick    # small counts, one round

run.py's floor answers each request line with pre-built bytes and keeps nothing. pop3mock
also records every command in its journal, which is what a test asserts on. This script puts
a third server between the two: the same bare-socket floor, which for each request line also
does what recording a command takes and nothing else (split the line into verb and arguments,
build a `CommandRecord`, add it to a `Journal`). Its cost against the floor is the part of
any cost target that recording alone takes; what is left above it is the protocol itself
(framing rules, the session's state and checks, faults, the reply).

The workloads are run.py's "RETR 2 KB messages, one session" and "sessions/s, 1 client
thread" rows (a session's record is opened and closed too), with the same client process
(another interpreter) and the servers in this process, in alternating order.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Sequence

from _common import FloorServer, parse_rounds
from run import ClientProcess, Workload, floor_for, retr_workload, sessions_workload

from pop3mock import POP3Server
from pop3mock.journal import CommandRecord, Journal

__all__ = ["RecordingFloor", "main"]

SERVERS = ("floor", "floor that records", "pop3mock")


class RecordingFloor(FloorServer):
    """The floor, recording each request line in a journal as pop3mock does, and no more."""

    def __init__(self, greeting: bytes, script: Sequence[bytes], quit_reply: bytes) -> None:
        super().__init__(greeting, script, quit_reply)
        self.journal = Journal()

    def _serve(self, conn: socket.socket) -> None:
        script = self.script
        last = len(script) - 1
        n = 0
        buf = b""
        journal = self.journal
        record = journal.open_session("peer", False)
        clock = time.monotonic
        reason = "client closed"
        try:
            conn.sendall(self.greeting)
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    verb, _, rest = line.rstrip(b"\r").decode("utf-8", "replace").partition(" ")
                    verb = verb.upper()
                    reply = self.quit_reply if verb == "QUIT" else script[min(n, last)]
                    journal.add_command(
                        record,
                        CommandRecord(
                            record.id,
                            record.command_count + 1,
                            clock(),
                            "TRANSACTION",
                            line + b"\n",
                            verb,
                            tuple(rest.split()),
                            "user0",
                            "+OK",
                            "",
                            len(reply),
                            None,
                            None,
                            reply,
                            False,
                        ),
                    )
                    conn.sendall(reply)
                    if verb == "QUIT":
                        reason = "quit"
                        return
                    n += 1
        except OSError:
            return
        finally:
            conn.close()
            journal.close_session(record, reason)


def measure(w: Workload, client: ClientProcess, rounds: int) -> dict[str, float]:
    """Medians of `w`'s figure over `rounds`, per server of SERVERS."""
    names = list(w.users)
    mailbox = next(iter(w.users.values()))
    figures: dict[str, list[float]] = {name: [] for name in SERVERS}
    for rep in range(rounds):
        order = SERVERS if rep % 2 == 0 else tuple(reversed(SERVERS))
        for name in order:
            if name == "pop3mock":
                with POP3Server(users=w.users) as server:
                    figures[name].append(w.measure(client, server.port, names))
                server.check()
                continue
            floor = floor_for(mailbox, w.floor_lines)
            if name == "floor that records":
                floor = RecordingFloor(floor.greeting, floor.script, floor.quit_reply)
            with floor:
                figures[name].append(w.measure(client, floor.port, names))
    return {name: statistics.median(values) for name, values in figures.items()}


def main(argv: Sequence[str] | None = None) -> None:
    rounds, quick = parse_rounds(__doc__, argv)
    retrs, sessions = (300, 50) if quick else (6000, 1000)
    workloads = [
        (
            f"RETR 2 KB messages, one session: {retrs:,} RETRs",
            retr_workload("RETR 2 KB messages, one session", 2_000, 50, retrs, True),
            "msg/s",
        ),
        (
            f"sessions/s, 1 client thread: {sessions:,} sessions",
            sessions_workload(1, sessions),
            "/s",
        ),
    ]
    client = ClientProcess()
    try:
        for title, workload, unit in workloads:
            medians = measure(workload, client, rounds)
            print(f"{title}; medians of {rounds} round(s)")
            for name in SERVERS:
                rate = medians[name]
                cost = medians["floor"] / rate
                print(f"{name:18s} {rate:9,.0f} {unit:5s}  cost vs floor {cost:.2f}x")
    finally:
        client.close()


if __name__ == "__main__":
    main()
