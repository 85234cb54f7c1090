"""pop3mock performance benchmark: each workload against a bare-socket floor of the same run.

    python benchmarks/run.py            # full: 5 repetitions, medians
    python benchmarks/run.py --quick    # smoke run, a few seconds
    python benchmarks/run.py --dovecot  # also against a private local Dovecot, if installed

The POP3 client runs in a separate process (`_client.py`), so that it never competes with
the server for the GIL; servers run in this process. Every figure is also given as its cost
relative to the floor: a bare Python socket server with pop3mock's threading model that
answers each request line with pre-built bytes (the exact bytes pop3mock sends, taken from
its sans-IO core). 1.0x means "as fast as Python sockets go here"; the ratio is what holds
from one machine, or one noisy minute, to the next.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _admin import AdminRows, admin_rows, bulk_post
from _common import FloorServer, make_message, replies_of
from _in_process import InProcessRows, retr_in_process, sessions_in_process

from pop3mock import Mailbox, Message, MessageFactory, POP3Server, Session, fake_messages

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
PASSWORD = "password"
USERS = [f"user{i}" for i in range(8)]


@dataclass
class Row:
    """One workload: its figures per repetition, for pop3mock, the floor and Dovecot."""

    label: str
    unit: str
    target: float
    higher_is_better: bool
    pop3mock: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    dovecot: list[float] = field(default_factory=list)
    note: str = ""
    target_is_cost: bool = False  # the target bounds the cost vs the floor, not the figure

    def median(self, which: str) -> float | None:
        values: list[float] = getattr(self, which)
        return statistics.median(values) if values else None

    def cost(self, which: str = "pop3mock") -> float | None:
        """How many times slower than the floor (1.0 = as fast as bare sockets)."""
        mine, floor = self.median(which), self.median("floor")
        if mine is None or floor is None or not mine or not floor:
            return None
        return floor / mine if self.higher_is_better else mine / floor

    def met(self) -> bool | None:
        if self.target_is_cost:
            cost = self.cost()
            return None if cost is None else cost <= self.target
        mine = self.median("pop3mock")
        if mine is None:
            return None
        return mine >= self.target if self.higher_is_better else mine <= self.target

    def target_text(self) -> str:
        if self.target_is_cost:
            return f"<= {self.target:.2f}x"
        return f"{'>=' if self.higher_is_better else '<='} {_fmt(self.target)}"


class ClientProcess:
    """The client side of every socket workload, in its own interpreter."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_client.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE,
        )

    def run(self, **job: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process died (exit {self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(f"{job['kind']} workload failed: {result['error']}")
        return result

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


# -- servers under test ------------------------------------------------------------------


def mailboxes(messages: Sequence[Message], users: Sequence[str] = ("user0",)) -> dict[str, Mailbox]:
    return {name: Mailbox(name, PASSWORD, messages) for name in users}


def floor_for(mailbox: Mailbox, lines: Sequence[bytes]) -> FloorServer:
    """A floor server whose replies are what pop3mock answers to `lines` on this mailbox."""
    session = Session(POP3Server().config, {mailbox.user: mailbox})
    greeting, *script = replies_of(
        session, [b"USER " + mailbox.user.encode(), b"PASS " + PASSWORD.encode()]
    )
    script += [session.handle(line).encode() for line in lines]
    quit_reply = session.handle(b"QUIT").encode()
    return FloorServer(greeting, script, quit_reply)


@dataclass
class Workload:
    """How to measure one row against any server: (client, port, user names) -> value."""

    row: Row
    users: dict[str, Mailbox]
    floor_lines: Sequence[bytes]
    measure: Callable[[ClientProcess, int, Sequence[str]], float]


def run_socket_workload(w: Workload, client: ClientProcess, rep: int) -> None:
    order = ("pop3mock", "floor") if rep % 2 == 0 else ("floor", "pop3mock")
    for which in order:
        if which == "pop3mock":
            with POP3Server(users=w.users) as server:
                w.row.pop3mock.append(w.measure(client, server.port, list(w.users)))
                server.check()
        else:
            with floor_for(next(iter(w.users.values())), w.floor_lines) as floor:
                w.row.floor.append(w.measure(client, floor.port, list(w.users)))


# -- workloads ---------------------------------------------------------------------------


def start_stop(row: Row, count: int) -> None:
    def pop3mock_once() -> float:
        t0 = time.perf_counter()
        server = POP3Server(users={"user": PASSWORD})
        server.start()
        server.stop()
        return time.perf_counter() - t0

    def floor_once() -> float:
        t0 = time.perf_counter()
        FloorServer(b"", [b""], b"").start().stop()
        return time.perf_counter() - t0

    for kind, once in (("pop3mock", pop3mock_once), ("floor", floor_once)):
        once()  # warm-up
        times = sorted(once() for _ in range(count))
        getattr(row, kind).append(statistics.median(times) * 1000)


def generation(row: Row, count: int, rep: int) -> None:
    """Eager generation of the default mix, against taking the same sizes as ready bytes.

    The floor builds the same number of messages with `Message.of` from pre-made bytes of
    the same sizes: what an eager maildrop costs when its octets already exist. A warm-up
    first reads Faker's vocabulary for every locale, which a process pays once.
    """
    list(fake_messages(200, seed=2, non_ascii=0.5))  # warm-up: Faker, every locale
    factory = MessageFactory(seed=1)
    sizes = [factory.size(i) for i in range(count)]  # planned without building anything

    def pop3mock_once() -> float:
        t0 = time.perf_counter()
        made = list(fake_messages(count, seed=1))
        elapsed = time.perf_counter() - t0
        assert [m.size for m in made] == sizes
        return elapsed

    def floor_once() -> float:
        ready = [make_message(size, i) for i, size in enumerate(sizes)]
        t0 = time.perf_counter()
        made = [Message.of(data) for data in ready]
        elapsed = time.perf_counter() - t0
        assert [m.size for m in made] == sizes
        return elapsed

    order = ("pop3mock", "floor") if rep % 2 == 0 else ("floor", "pop3mock")
    for kind in order:
        elapsed = pop3mock_once() if kind == "pop3mock" else floor_once()
        getattr(row, kind).append(count / elapsed)
    rate = statistics.median(row.pop3mock)
    mean = sum(sizes) / len(sizes)
    row.note = (
        f"{count:,} messages of seed 1, mean size {mean / 1000:.0f} KB, so about "
        f"{rate * mean / 1e6:.0f} MB/s of mail; Faker's vocabulary read before timing "
        "(a warm-up); the floor is `Message.of` on ready bytes of the same sizes"
    )


def sessions_workload(threads: int, count: int) -> Workload:
    row = Row(f"sessions/s, {threads} client thread{'s' * (threads > 1)}", "/s", 1000, True)
    if threads > 1:
        row.target = 2000
    small = [Message.of(make_message(2000, i)) for i in range(10)]

    def measure(client: ClientProcess, port: int, names: Sequence[str]) -> float:
        job = {"users": list(names), "password": PASSWORD, "threads": threads, "count": count}
        return float(client.run(kind="sessions", host="127.0.0.1", port=port, **job)["value"])

    return Workload(row, mailboxes(small, USERS[:threads]), [b"STAT"], measure)


def retr_workload(label: str, size: int, messages: int, count: int, per_s: bool) -> Workload:
    if per_s:
        row = Row(label, "msg/s", 6000, True)
    else:
        row = Row(label, "MB/s", 1000 if size >= 10**6 else 500, True)
    drop = [Message.of(make_message(size, i)) for i in range(messages)]

    def measure(client: ClientProcess, port: int, names: Sequence[str]) -> float:
        result = client.run(
            kind="retr",
            host="127.0.0.1",
            port=port,
            user=names[0],
            password=PASSWORD,
            sizes=[m.size for m in drop],
            count=count,
        )
        return float(result["per_s" if per_s else "mb_per_s"])

    return Workload(row, mailboxes(drop), [b"RETR 1"], measure)


def listing_workload(command: str, drop: Sequence[Message], samples: int) -> Workload:
    target = 3.0 if command == "LIST" else 5.0
    row = Row(f"{command} on {len(drop):,} messages (1st in session)", "ms", target, False)

    def measure(client: ClientProcess, port: int, names: Sequence[str]) -> float:
        result = client.run(
            kind="listing",
            host="127.0.0.1",
            port=port,
            user=names[0],
            password=PASSWORD,
            command=command,
            lines=len(drop),
            samples=samples,
        )
        return float(result["value"])

    return Workload(row, mailboxes(drop), [command.encode()], measure)


@dataclass
class LargeRows:
    """The rows of the large-maildrop STAT workload, filled from one child process a run."""

    total: Row
    server: Row
    memory: Row
    splits: list[list[float]] = field(default_factory=list)


def stat_large(rows: LargeRows, count: int) -> None:
    for kind in ("pop3mock", "floor"):
        out = subprocess.run(
            [sys.executable, str(HERE / "_stat100k.py"), kind, str(count)],
            capture_output=True,
            text=True,
            cwd=HERE,
            check=False,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"STAT on {count:,} messages ({kind}) failed:\n{out.stderr}")
        result = json.loads(out.stdout)
        getattr(rows.total, kind).append(result["ms"])
        getattr(rows.server, kind).append(result["server_ms"])
        getattr(rows.memory, kind).append(result["rss_mb"])
        if "split_ms" in result:
            rows.splits.append(result["split_ms"])
            make, add, serve = (statistics.median(s) for s in zip(*rows.splits, strict=True))
            rows.total.note = (
                f"maildrop from {result['maildrop']}; medians: generating {make:.0f} ms, "
                f"add_user {add:.0f} ms, start() to the STAT reply {serve:.0f} ms"
            )


def soak(row: Row, kind: str, total: int, baseline: int) -> None:
    """Resident memory growth of a long-running server, from `_soak.py` in a fresh process
    (MB after `total` sessions or commands, less MB after the first `baseline`). No floor:
    the figure is a difference already."""
    out = subprocess.run(
        [sys.executable, str(HERE / "_soak.py"), kind, str(total), str(baseline)],
        capture_output=True,
        text=True,
        cwd=HERE,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{row.label} failed:\n{out.stderr}")
    result = json.loads(out.stdout)
    row.pop3mock.append(result["growth_mb"])
    unit = "sessions" if kind == "sessions" else "commands"
    since = f"after the first {baseline:,}" if baseline else "from the login on"
    row.note = (
        f"{total:,} {unit}, growth {since}: from "
        f"{result['baseline_mb']:.1f} MB to {result['end_mb']:.1f} MB resident, "
        f"{result['per_s']:,.0f} {unit}/s (client in the same process); measured once a run"
    )


def _pytest_runs(
    files: dict[str, str], variants: dict[str, list[str]], count: int
) -> dict[str, list[float]]:
    """Milliseconds of `pytest -q` runs over a suite made of `files`, one list per variant
    (extra arguments), `count` runs each, interleaved after a warm-up."""
    from importlib.metadata import entry_points

    if not any(ep.value == "pop3mock.plugin" for ep in entry_points(group="pytest11")):
        raise RuntimeError("pop3mock's pytest plugin is not installed in this environment")
    # Bytecode is written and read as in a normal run, whatever the calling shell says.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("PYTEST_ADDOPTS", None)
    with tempfile.TemporaryDirectory() as suite:
        for name, text in files.items():
            Path(suite, name).write_text(text)

        def once(extra: list[str]) -> float:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
                cwd=suite,
                env=env,
                stdout=subprocess.DEVNULL,
                check=True,
                timeout=300,
            )
            return (time.perf_counter() - t0) * 1000

        for extra in variants.values():
            once(extra)  # warm-up: bytecode written, files in the page cache
        times: dict[str, list[float]] = {kind: [] for kind in variants}
        for _ in range(count):  # interleaved, so that a busy moment hits both alike
            for kind, extra in variants.items():
                times[kind].append(once(extra))
    return times


def pytest_start(row: Row, count: int) -> None:
    """pytest's start on an empty suite: with the plugin, and with it blocked (the floor).

    pytest loads every installed plugin at each start, so this is what pop3mock costs
    every suite in an environment where it is installed, used or not.
    """
    times = _pytest_runs(
        {"test_empty.py": "def test_nothing():\n    pass\n"},
        {"pop3mock": [], "floor": ["-p", "no:pop3mock"]},
        count,
    )
    for kind, values in times.items():
        getattr(row, kind).append(statistics.median(values))
    row.note = "the floor here is the same pytest start with `-p no:pop3mock`"


def fixture_cost(row: Row, tests: int, count: int) -> None:
    """Milliseconds the `pop3_server` fixture adds to each test (a server built, started,
    stopped and checked): a suite of such tests against the same tests without it, so that
    pytest's own start-up, whatever the suite's size, cancels out. No floor: the figure is
    a difference already."""
    suite = (
        "import pytest\n\n"
        f"@pytest.mark.parametrize('n', range({tests}))\n"
        "def test_with_server(pop3_server, n):\n    assert pop3_server.port\n\n"
        f"@pytest.mark.parametrize('n', range({tests}))\n"
        "def test_plain(n):\n    assert n >= 0\n"
    )
    times = _pytest_runs(
        {"test_many.py": suite},
        {"with": ["-k", "with_server"], "without": ["-k", "plain"]},
        count,
    )
    with_fixture, without = (statistics.median(times[kind]) for kind in ("with", "without"))
    row.pop3mock.append((with_fixture - without) / tests)
    row.note = (
        f"{tests} tests per run: {with_fixture / tests:.2f} ms per test with the fixture, "
        f"{without / tests:.2f} without (pytest's start-up included)"
    )


# -- report ------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def report(rows: Sequence[Row], reps: int, dovecot: bool) -> str:
    head = ["workload", "unit", "target", "pop3mock", "floor", "cost vs floor", "met"]
    if dovecot:
        head += ["dovecot", "dovecot vs floor"]
    table = [head]
    for row in rows:
        cost = row.cost()
        met = row.met()
        line = [
            row.label,
            row.unit,
            row.target_text(),
            _fmt(row.median("pop3mock")),
            _fmt(row.median("floor")),
            "-" if cost is None else f"{cost:.2f}x",
            "-" if met is None else ("yes" if met else "NO"),
        ]
        if dovecot:
            dcost = row.cost("dovecot")
            line += [_fmt(row.median("dovecot")), "-" if dcost is None else f"{dcost:.2f}x"]
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    out = []
    for n, r in enumerate(table):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if n == 0:
            out.append("-" * len(out[0]))
    out.append("")
    out.append(
        f"medians of {reps} repetition(s); cost vs floor = how many times slower than a bare "
        "Python socket server doing the same I/O (1.00x = no overhead)"
    )
    out.extend(f"note: {row.label}: {row.note}" for row in rows if row.note)
    return "\n".join(out)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts, 1 rep")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (full: 5)")
    parser.add_argument(
        "--dovecot", action="store_true", help="also measure a private local Dovecot"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="WORD",
        help="run only the workloads whose name contains WORD (any case; repeatable)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"--repeat must be 1 or more, not {args.repeat}")
    reps = args.repeat if args.repeat is not None else (1 if quick else 5)
    if not quick and reps < 5:
        parser.error("a full run needs --repeat 5 or more (use --quick for a smoke run)")

    q = quick
    ten_k = [Message.of(make_message(400 + (i * 37) % 2600, i)) for i in range(10_000)]
    workloads = [
        sessions_workload(1, 40 if q else 400),
        sessions_workload(8, 10 if q else 100),
        retr_workload("RETR 10 MB messages", 10_000_000, 3, 3 if q else 30, per_s=False),
        retr_workload("RETR 100 KB messages", 100_000, 20, 200 if q else 3000, per_s=False),
        retr_workload("RETR 2 KB messages, one session", 2_000, 50, 500 if q else 6000, True),
        listing_workload("LIST", ten_k, 5 if q else 30),
        listing_workload("UIDL", ten_k, 5 if q else 30),
    ]
    start_row = Row("start + stop (threads joined)", "ms", 1.5, False)
    # Target: 100 eagerly generated messages (what a test typically asks for) in at most
    # 0.2 s. Bigger maildrops are meant to be lazy, which makes only what a client fetches.
    generation_row = Row("generating messages (fake_messages), default mix", "msg/s", 500, True)
    # Target: a suite of 1,000 tests that each start a server pays at most 2 s for them.
    fixture_row = Row("pytest: pop3_server fixture, added per test", "ms", 2, False)
    pytest_row = Row(
        "pytest start, empty suite (floor: plugin blocked)", "ms", 1.05, False, target_is_cost=True
    )
    # Target: a server left running (pop3mock serve in CI, for a day) does not grow.
    soak_sessions_row = Row(
        "soak: memory growth over 100,000 sessions (p=0.1 fault, journal_keep=100)",
        "MB",
        5,
        False,
    )
    soak_commands_row = Row(
        "soak: memory growth over 1,000,000 NOOPs in one session", "MB", 5, False
    )
    large = LargeRows(
        Row("STAT on 100,000 generated messages, from start", "ms", 100, False),
        Row("  without generating: POP3Server() to STAT", "ms", 100, False),
        Row("  peak memory of that process", "MB", 200, False),
    )

    admin = AdminRows(Row)
    in_process = InProcessRows(Row)
    every_row = [
        start_row,
        pytest_row,
        fixture_row,
        generation_row,
        *(w.row for w in workloads),
        *in_process.all(),
        large.total,
        large.server,
        large.memory,
        soak_sessions_row,
        soak_commands_row,
        *admin.all(),
    ]

    def wanted(row: Row) -> bool:
        return not args.only or any(word.lower() in row.label.lower() for word in args.only)

    if not any(wanted(row) for row in every_row):
        names = "\n  ".join(row.label.strip() for row in every_row)
        parser.error(f"--only {' '.join(args.only)}: no workload matches; they are:\n  {names}")
    workloads = [w for w in workloads if wanted(w.row)]

    print(f"pop3mock benchmark ({'quick' if quick else 'full'}, {reps} repetition(s))")
    print(f"python {platform.python_version()} ({platform.python_implementation()})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"load average before: {_load()}", flush=True)

    dovecot = None
    if args.dovecot:
        from _dovecot import Dovecot, unavailable

        reason = unavailable()
        if reason:
            print(f"dovecot: skipped ({reason})")
        else:
            dovecot = Dovecot([w.users for w in workloads], PASSWORD)

    client = ClientProcess()
    try:
        if dovecot is not None:
            dovecot.start()
        for rep in range(reps):
            if wanted(start_row):
                start_stop(start_row, 20 if q else 200)
            if wanted(pytest_row):
                pytest_start(pytest_row, 2 if q else 10)
            if wanted(fixture_row):
                fixture_cost(fixture_row, 200 if q else 1000, 1 if q else 3)
            if wanted(generation_row):
                generation(generation_row, 100 if q else 1000, rep)
            for w in workloads:
                run_socket_workload(w, client, rep)
                if dovecot is not None:
                    names = dovecot.names_for(w.users)
                    w.row.dovecot.append(w.measure(client, dovecot.port, names))
            if wanted(in_process.retr):
                retr_in_process(in_process.retr, floor_for, PASSWORD, 500 if q else 6000, rep)
            if wanted(in_process.sessions):
                sessions_in_process(in_process.sessions, floor_for, PASSWORD, 40 if q else 400, rep)
            if any(wanted(row) for row in (large.total, large.server, large.memory)):
                stat_large(large, 100_000)
            # Once per run: they measure growth, which repeating would not make any surer.
            if rep == 0 and wanted(soak_sessions_row):
                soak(soak_sessions_row, "sessions", *((500, 100) if q else (100_000, 10_000)))
            if rep == 0 and wanted(soak_commands_row):
                soak(soak_commands_row, "commands", *((5_000, 0) if q else (1_000_000, 0)))
            if any(wanted(row) for row in admin.all() if row is not admin.bulk):
                admin_rows(admin, client, USERS, PASSWORD, 10 if q else 100, rep)
            if wanted(admin.bulk):
                bulk_post(admin.bulk, PASSWORD)
            print(f"repetition {rep + 1}/{reps} done, load {_load()}", flush=True)
    finally:
        client.close()
        if dovecot is not None:
            dovecot.stop()

    rows = [row for row in every_row if row.pop3mock or row.floor]
    print(f"load average after: {_load()}")
    print()
    print(report(rows, reps, dovecot is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
