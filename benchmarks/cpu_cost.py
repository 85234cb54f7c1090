"""Server-side CPU time per operation, pop3mock against the floor: a figure load hardly moves.

    python benchmarks/cpu_cost.py            # RETR 2 KB and sessions, 5 rounds, medians
    python benchmarks/cpu_cost.py --quick    # small counts, one round: checks that it runs

run.py's figures are rates, which other work on the machine lowers; this script runs two of
its workloads (RETR of 2 KB messages in one session; sessions of connect, USER, PASS, STAT,
QUIT from one client thread) with the same client process against pop3mock and the floor,
and divides what the server's process spent (`resource.getrusage`: user and system CPU time,
voluntary and involuntary context switches) by the operations done. The client runs in its
own process, so none of it is counted. Use it to tell whether a change to the hot path helps
while the machine is busy; run.py stays the reference for the published figures.

A context switch is voluntary when the thread waits (for the next command, in `recv`), and
involuntary when it is preempted while it still has work to do.
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Callable, Sequence

from _common import parse_rounds
from run import ClientProcess, Workload, floor_for, retr_workload, sessions_workload

from pop3mock import POP3Server

__all__ = ["main", "measure"]

#: What is read from getrusage, per operation: CPU in microseconds, switches as counts.
FIGURES = ("user_us", "system_us", "voluntary", "involuntary")


def _usage() -> tuple[float, float, int, int]:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime, u.ru_stime, u.ru_nvcsw, u.ru_nivcsw


def measure(
    w: Workload, client: ClientProcess, operations: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Per server ("pop3mock", "floor"): FIGURES per operation, medians over `rounds`."""
    samples: dict[str, list[tuple[float, ...]]] = {"pop3mock": [], "floor": []}
    names: Sequence[str] = list(w.users)

    def once(which: str, port: int) -> None:
        before = _usage()
        w.measure(client, port, names)
        after = _usage()
        scale = (1e6, 1e6, 1, 1)
        samples[which].append(
            tuple((a - b) * k / operations for a, b, k in zip(after, before, scale, strict=True))
        )

    for rep in range(rounds):
        order = ("pop3mock", "floor") if rep % 2 == 0 else ("floor", "pop3mock")
        for which in order:
            if which == "pop3mock":
                with POP3Server(users=w.users) as server:
                    once(which, server.port)
                server.check()
            else:
                with floor_for(next(iter(w.users.values())), w.floor_lines) as floor:
                    once(which, floor.port)
    return {
        which: {name: statistics.median(s[i] for s in rows) for i, name in enumerate(FIGURES)}
        for which, rows in samples.items()
    }


def main(argv: Sequence[str] | None = None) -> None:
    rounds, quick = parse_rounds(__doc__, argv)
    retrs, sessions = (200, 50) if quick else (6000, 1000)
    workloads: list[tuple[str, Callable[[], Workload], int]] = [
        ("RETR 2 KB", lambda: retr_workload("RETR 2 KB", 2_000, 50, retrs, True), retrs),
        ("session, 1 thread", lambda: sessions_workload(1, sessions), sessions),
    ]
    print(f"server process, per operation; medians of {rounds} round(s)")
    client = ClientProcess()
    try:
        for label, make, operations in workloads:
            figures = measure(make(), client, operations, rounds)
            cpu = {k: v["user_us"] + v["system_us"] for k, v in figures.items()}
            for which in ("pop3mock", "floor"):
                f = figures[which]
                print(
                    f"{label:18s} {which:8s} CPU {cpu[which]:7.1f} us (user {f['user_us']:.1f},"
                    f" system {f['system_us']:.1f}); context switches: voluntary"
                    f" {f['voluntary']:.2f}, involuntary {f['involuntary']:.2f}"
                )
            print(f"{label:18s} CPU cost vs floor {cpu['pop3mock'] / cpu['floor']:.2f}x")
    finally:
        client.close()


if __name__ == "__main__":
    main()
