"""Server-side CPU time per operation, pop3mock against the floor: a figure load hardly moves.

    python benchmarks/cpu_cost.py            # RETR 2 KB and sessions (1 client thread)

run.py's figures are rates, which other work on the machine lowers; this script runs the
same workloads (same client process, same servers) and divides the CPU time the server's
process used (user + system, `resource.getrusage`) by the operations done. The client runs
in its own process, so its time is not counted. Use it to tell whether a change to the hot
path helps while the machine is busy; run.py stays the reference for the published figures.
"""

from __future__ import annotations

import argparse
import resource
import statistics
from collections.abc import Sequence

from run import ClientProcess, Workload, floor_for, retr_workload, sessions_workload

from pop3mock import POP3Server

__all__ = ["cpu_per_operation", "main"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_per_operation(
    w: Workload, client: ClientProcess, operations: int, rounds: int
) -> dict[str, float]:
    """Microseconds of server CPU per operation, median over `rounds`, for both servers."""
    out: dict[str, list[float]] = {"pop3mock": [], "floor": []}
    names: Sequence[str] = list(w.users)
    for rep in range(rounds):
        order = ("pop3mock", "floor") if rep % 2 == 0 else ("floor", "pop3mock")
        for which in order:
            if which == "pop3mock":
                with POP3Server(users=w.users) as server:
                    before = _cpu()
                    w.measure(client, server.port, names)
                    out[which].append((_cpu() - before) / operations * 1e6)
                    server.check()
            else:
                with floor_for(next(iter(w.users.values())), w.floor_lines) as floor:
                    before = _cpu()
                    w.measure(client, floor.port, names)
                    out[which].append((_cpu() - before) / operations * 1e6)
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    client = ClientProcess()
    try:
        for label, workload, ops in (
            ("RETR 2 KB", retr_workload("RETR 2 KB", 2_000, 50, 6000, True), 6000),
            ("session, 1 thread", sessions_workload(1, 1000), 1000),
        ):
            figures = cpu_per_operation(workload, client, ops, args.rounds)
            ratio = figures["pop3mock"] / figures["floor"]
            print(
                f"{label:18s} pop3mock {figures['pop3mock']:7.1f} us  "
                f"floor {figures['floor']:7.1f} us  ratio {ratio:.2f}x"
            )
    finally:
        client.close()


if __name__ == "__main__":
    main()
