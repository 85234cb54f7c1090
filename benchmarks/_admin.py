"""The control API's rows: call latency while POP3 clients run, a 10,000-message POST, and
what admin traffic costs POP3 sessions it does not touch.

The POP3 client threads run in the benchmark's client process, the admin calls in another
(`_admin_client.py`); the POP3 server and the control API run in this process, as they do
in `pop3mock serve`.

    python benchmarks/_admin.py [COUNT]    # the server's CPU per admin call of each kind
"""

from __future__ import annotations

import http.client
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import make_message

from pop3mock import Mailbox, Message, POP3Server
from pop3mock.admin import AdminServer

__all__ = ["AdminRows", "admin_rows", "bulk_post", "call_cost"]

HERE = Path(__file__).resolve().parent
PACE = 0.005  # one admin call every 5 ms: 200 calls/s beside the POP3 sessions
PHASE = 3  # sessions per thread in a phase of the last row: this many times run.py's count


class AdminRows:
    def __init__(self, row: Callable[..., Any]) -> None:
        self.health_p50 = row("admin GET /health p50, 8 POP3 client threads", "ms", 2, False)
        self.health_p99 = row("admin GET /health p99, 8 POP3 client threads", "ms", 10, False)
        self.post_p50 = row("admin POST 2 KB message p50, 8 POP3 threads", "ms", 2, False)
        self.post_p99 = row("admin POST 2 KB message p99, 8 POP3 threads", "ms", 10, False)
        self.bulk = row("admin POST 10,000 messages in one call", "ms", 1000, False)
        # pop3mock: sessions/s with admin traffic; floor: without, same run.
        self.beside = row(
            "sessions/s, 8 threads, beside 200 admin calls/s (floor: none)",
            "/s",
            1.05,
            True,
            target_is_cost=True,
        )

    def all(self) -> list[Any]:
        return [
            self.health_p50,
            self.health_p99,
            self.post_p50,
            self.post_p99,
            self.bulk,
            self.beside,
        ]


def _users(names: Sequence[str], password: str) -> dict[str, Mailbox]:
    small = [Message.of(make_message(2000, i)) for i in range(10)]
    return {name: Mailbox(name, password, small) for name in names}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def _sessions(client: Any, port: int, names: Sequence[str], password: str, count: int) -> float:
    job = {"users": list(names), "password": password, "threads": 8, "count": count}
    return float(client.run(kind="sessions", host="127.0.0.1", port=port, **job)["value"])


def _caller(url: str, *how: str) -> subprocess.Popen[str]:
    """The lean HTTP client in its own interpreter, once it is connected and ready."""
    caller = subprocess.Popen(
        [sys.executable, str(HERE / "_admin_client.py"), url, *how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )
    assert caller.stdout is not None
    if caller.stdout.readline().strip() != "ready":
        caller.kill()
        caller.wait()
        raise RuntimeError("the admin client did not start")
    return caller


def admin_rows(
    rows: AdminRows, client: Any, names: Sequence[str], password: str, count: int, rep: int
) -> None:
    """One repetition: sessions/s without and with admin calls, in the order quiet, busy,
    busy, quiet (busy first on odd repetitions), so that a load that rises or falls during
    the repetition weighs on both sides alike.

    Both sides run the same processes: in a quiet phase the caller is started too, connects
    and makes its first call, then makes none (`idle`), so that what differs is the admin
    traffic alone, not a process started just before. Each phase runs PHASE times `count`
    sessions per thread: a second or two, long enough that a burst of other work on a shared
    machine does not decide the figure."""
    users = _users(names, password)
    order = ("quiet", "busy", "busy", "quiet")
    if rep % 2:
        order = ("busy", "quiet", "quiet", "busy")
    rates: dict[str, list[float]] = {"quiet": [], "busy": []}
    pooled: dict[str, list[float]] = {"health": [], "post": []}
    for which in order:
        with POP3Server(users=users) as server, AdminServer(server) as admin:
            server.add_user("admin-target", password)
            caller = _caller(admin.url, "idle" if which == "quiet" else str(PACE))
            try:
                rate = _sessions(client, server.port, names, password, PHASE * count)
            finally:
                out, _ = caller.communicate(timeout=60)
            if caller.returncode != 0:
                raise RuntimeError(f"the admin client failed (exit {caller.returncode})")
            times = json.loads(out)
            rates[which].append(rate)
            for kind in pooled:
                pooled[kind] += times[kind]
            server.check()
    # Each phase runs the same number of sessions: sessions over time is the harmonic mean.
    rows.beside.floor.append(statistics.harmonic_mean(rates["quiet"]))
    rows.beside.pop3mock.append(statistics.harmonic_mean(rates["busy"]))
    for kind, p50, p99 in (
        ("health", rows.health_p50, rows.health_p99),
        ("post", rows.post_p50, rows.post_p99),
    ):
        ms = [t * 1000 for t in pooled[kind]]
        p50.pop3mock.append(statistics.median(ms))
        p99.pop3mock.append(_percentile(ms, 0.99))
    n = len(pooled["health"]) + len(pooled["post"])
    rows.health_p50.note = (
        f"{n} calls in the last repetition, alternating GET /health and a 2 KB POST, one every "
        f"{PACE * 1000:.0f} ms from another process on one keep-alive connection, while 8 "
        "POP3 client threads run sessions on other users"
    )
    rows.beside.note = (
        f"{PHASE * count * 8:,} sessions per phase, quiet and busy alternating; the caller "
        "process runs in both, making no calls in the quiet phases"
    )


def call_cost(kind: str, count: int) -> tuple[float, float]:
    """CPU seconds (user, system) the server process spends per admin call of `kind`,
    over `count` calls back to back from the lean client in another process (no POP3
    traffic, nothing else in this process)."""
    with POP3Server(users={"admin-target": "password"}) as server, AdminServer(server) as admin:
        caller = _caller(admin.url, "burst", kind, str(count))
        assert caller.stdin is not None and caller.stdout is not None
        before = resource.getrusage(resource.RUSAGE_SELF)
        caller.stdin.write("go\n")
        caller.stdin.flush()
        done = caller.stdout.readline().strip()
        after = resource.getrusage(resource.RUSAGE_SELF)
        caller.communicate(timeout=60)
        if done != "done" or caller.returncode != 0:
            raise RuntimeError(f"the admin client failed (exit {caller.returncode})")
    return (
        (after.ru_utime - before.ru_utime) / count,
        (after.ru_stime - before.ru_stime) / count,
    )


def bulk_post(row: Any, password: str, count: int = 10_000) -> None:
    """One POST of `count` 2 KB messages as JSON, from request to reply."""
    body = json.dumps({"messages": [make_message(2000, i).decode() for i in range(count)]}).encode()
    with POP3Server(users={"bulk": password}) as server, AdminServer(server) as admin:
        conn = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        result: list[float] = []

        def post() -> None:
            t0 = time.perf_counter()
            conn.request("POST", "/users/bulk/messages", body=body, headers=headers)
            reply = conn.getresponse()
            reply.read()
            result.append(time.perf_counter() - t0)
            assert reply.status == 201, reply.status

        # In a thread of its own, as a client would be: the server's threads do the work.
        worker = threading.Thread(target=post)
        worker.start()
        worker.join()
        conn.close()
        assert len(server.mailbox("bulk")) == count
    row.pop3mock.append(result[0] * 1000)
    row.note = f"{len(body) / 1e6:.0f} MB of JSON: parsed, {count:,} messages built and delivered"


def main() -> None:
    """Print the server's CPU per admin call of each kind (median of five runs)."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    for kind, label in (("health", "GET /health"), ("post", "POST 2 KB message")):
        runs = sorted((call_cost(kind, count) for _ in range(5)), key=sum)
        user, system = runs[2]
        print(
            f"{label}: {(user + system) * 1e6:.1f} us of server CPU per call "
            f"(user {user * 1e6:.1f}, system {system * 1e6:.1f}; {count:,} calls, median of 5)"
        )


if __name__ == "__main__":
    main()
