"""The control API's rows: call latency while POP3 clients run, a 10,000-message POST, and
what admin traffic costs POP3 sessions it does not touch.

The POP3 client threads run in the benchmark's client process, the admin calls in another
(`_admin_client.py`); the POP3 server and the control API run in this process, as they do
in `pop3mock serve`.
"""

from __future__ import annotations

import http.client
import json
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

__all__ = ["AdminRows", "admin_rows", "bulk_post"]

HERE = Path(__file__).resolve().parent
PACE = 0.005  # one admin call every 5 ms: 200 calls/s beside the POP3 sessions


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


def admin_rows(
    rows: AdminRows, client: Any, names: Sequence[str], password: str, count: int, rep: int
) -> None:
    """One repetition: sessions/s without and with admin calls, in the order quiet, busy,
    busy, quiet (busy first on odd repetitions), so that a load that rises or falls during
    the repetition weighs on both sides alike."""
    users = _users(names, password)
    order = ("quiet", "busy", "busy", "quiet")
    if rep % 2:
        order = ("busy", "quiet", "quiet", "busy")
    rates: dict[str, list[float]] = {"quiet": [], "busy": []}
    pooled: dict[str, list[float]] = {"health": [], "post": []}
    for which in order:
        with POP3Server(users=users) as server, AdminServer(server) as admin:
            server.add_user("admin-target", password)
            if which == "quiet":
                rates["quiet"].append(_sessions(client, server.port, names, password, count))
                continue
            caller = subprocess.Popen(
                [sys.executable, str(HERE / "_admin_client.py"), admin.url, str(PACE)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=HERE,
            )
            try:
                assert caller.stdout is not None
                if caller.stdout.readline().strip() != "ready":
                    raise RuntimeError("the admin client did not start")
                rate = _sessions(client, server.port, names, password, count)
            finally:
                out, _ = caller.communicate(timeout=60)
            if caller.returncode != 0:
                raise RuntimeError(f"the admin client failed (exit {caller.returncode})")
            times = json.loads(out)
            rates["busy"].append(rate)
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
