"""Run one benchmark workload against pop3mock alone, for long enough to profile it.

    python benchmarks/profile_workload.py sessions               # 8 client threads, 15 s
    python benchmarks/profile_workload.py retr2k --seconds 5     # RETR of 2 KB messages
    py-spy record --gil -o /tmp/sessions.txt --format raw -r 500 -- \\
        python benchmarks/profile_workload.py sessions
    python benchmarks/profile_workload.py --own-time /tmp/sessions.txt   # top frames

The workloads are run.py's, built by the same functions. As in run.py the client runs in
its own interpreter, so a profiler attached to this process (py-spy without
--subprocesses) samples the server side only: pop3mock's accept and connection threads.
Each round starts a fresh server, as each repetition of run.py does; at the end the median
figure of the rounds is printed, to compare with the benchmark's (a sampling profiler
slows the process a little), with the process's CPU time split into user (Python, mostly)
and system (the socket calls' kernel work).

`--own-time FILE` reads py-spy's raw output (`--format raw`: one stack a line, then its
sample count) and prints the functions where pop3mock's server threads were sampled most
often, with their share of those samples: own time, not time in callees. Recorded with
`--gil`, only the thread holding the GIL is sampled, so the shares are of the Python work;
without it, threads blocked in recv, sendall or accept count too.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from run import ClientProcess, Workload, retr_workload, sessions_workload

from pop3mock import POP3Server

__all__ = ["WORKLOADS", "main", "own_time"]

#: The workloads this script can run, by name: the benchmark's full-run counts.
WORKLOADS: dict[str, Callable[[], Workload]] = {
    "sessions": lambda: sessions_workload(8, 100),
    "retr2k": lambda: retr_workload("RETR 2 KB messages, one session", 2_000, 50, 6000, True),
}


#: A stack of one of pop3mock's server threads (the accept loop or a connection thread).
_SERVER_THREAD = re.compile(r"POP3Server\._(?:accept_loop|connection_thread) ")


def own_time(path: Path, top: int = 12) -> list[tuple[str, float]]:
    """The `top` functions by own samples in server-thread stacks, with their share."""
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not _SERVER_THREAD.search(stack):
            continue
        leaf = stack.rsplit(";", 1)[-1]
        counts[re.sub(r":\d+\)$", ")", leaf)] += int(samples)
    total = sum(counts.values())
    if not total:
        raise ValueError(f"{path}: no samples of pop3mock's server threads")
    return [(frame, n / total) for frame, n in counts.most_common(top)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", nargs="?", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="how long to keep measuring (default 15)"
    )
    parser.add_argument(
        "--own-time",
        metavar="FILE",
        type=Path,
        help="summarise a py-spy raw profile of a run instead of running a workload",
    )
    args = parser.parse_args(argv)
    if args.own_time is not None:
        if args.workload is not None:
            parser.error("give either a workload to run or --own-time FILE, not both")
        try:
            frames = own_time(args.own_time)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        for frame, share in frames:
            print(f"{share:6.1%}  {frame}")
        return 0
    if args.workload is None:
        parser.error(f"name a workload ({', '.join(sorted(WORKLOADS))}) or give --own-time FILE")
    if args.seconds <= 0:
        parser.error(f"--seconds must be above 0, not {args.seconds}")
    workload = WORKLOADS[args.workload]()
    names = list(workload.users)
    figures: list[float] = []
    client = ClientProcess()
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    try:
        deadline = t0 + args.seconds
        while not figures or time.monotonic() < deadline:
            with POP3Server(users=workload.users) as server:
                figures.append(workload.measure(client, server.port, names))
                server.check()
    finally:
        client.close()
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    row = workload.row
    print(
        f"{row.label}: {statistics.median(figures):,.0f} {row.unit} "
        f"(median of {len(figures)} round(s))"
    )
    print(
        f"CPU of this process: user {user:.2f} s, system {system:.2f} s "
        f"in {wall:.2f} s ({(user + system) / wall:.0%} of one CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
