"""Resident memory of a long-running server, in a fresh process.

`python _soak.py sessions TOTAL BASELINE` serves TOTAL short sessions (USER, PASS, RETR 1,
QUIT) to a server with one probabilistic fault (`on("RETR").probability(0.1)`) and
`journal_keep=100`, and prints how much the process's resident memory grew after the first
BASELINE sessions.

`python _soak.py commands TOTAL BASELINE` serves one session of TOTAL NOOPs (pipelined in
batches, PIPELINING being advertised) to a server that keeps the first and last 1,000
commands of a session (`session_keep_commands`, as `pop3mock serve` does: a test's server
keeps them all) and prints the growth after the first BASELINE NOOPs.

Both print one JSON line: `growth_mb`, `baseline_mb`, `end_mb` (resident memory, MB of
10^6 octets) and `per_s` (sessions or commands a second, client included). The client is a
bare socket in this process: it holds nothing from one session or batch to the next.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import sys
import time

from pop3mock import POP3Server
from pop3mock.server._server import SESSION_KEEP_COMMANDS

__all__ = ["main"]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_BATCH = 1000


def resident_mb() -> float:
    """The process's resident memory now, after a full garbage collection."""
    gc.collect()
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE / 1e6


def _read_until_closed(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def soak_sessions(total: int, baseline: int) -> dict[str, float]:
    server = POP3Server(users={"u": "p"}, journal_keep=100, fault_seed=1)
    server.mailbox("u").add(b"Subject: soak\r\n\r\n" + b"x" * 2000 + b"\r\n")
    server.faults.on("RETR").probability(0.1).error("[SYS/TEMP] flaky")
    script = b"USER u\r\nPASS p\r\nRETR 1\r\nQUIT\r\n"
    with server:
        before = 0.0
        t0 = time.perf_counter()
        for n in range(1, total + 1):
            with socket.create_connection(server.address) as sock:
                sock.sendall(script)
                reply = _read_until_closed(sock)
            if b"\r\n+OK Logging out" not in reply:
                raise RuntimeError(f"session {n} ended unexpectedly: {reply[-200:]!r}")
            if n == baseline:
                server.journal.wait_for(sessions_ended=n, timeout=30)
                before = resident_mb()
        server.journal.wait_for(sessions_ended=total, timeout=30)
        elapsed = time.perf_counter() - t0
        after = resident_mb()
        fired = sum(1 for s in server.journal.sessions if s.faults)
    server.check()
    if not fired:
        raise RuntimeError("the probabilistic fault never fired in the sessions kept")
    return {
        "growth_mb": after - before,
        "baseline_mb": before,
        "end_mb": after,
        "per_s": total / elapsed,
    }


def soak_commands(total: int, baseline: int) -> dict[str, float]:
    with POP3Server(users={"u": "p"}, session_keep_commands=SESSION_KEEP_COMMANDS) as server:
        with socket.create_connection(server.address) as sock:
            sock.sendall(b"USER u\r\nPASS p\r\n")
            pending = b""
            lines = 0

            def read_lines(count: int) -> None:
                nonlocal pending, lines
                want = lines + count
                while lines < want:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise RuntimeError("the server closed the session")
                    data = pending + chunk
                    lines += data.count(b"\r\n")
                    pending = data[data.rfind(b"\r\n") + 2 :]

            read_lines(3)  # greeting, USER, PASS
            before = resident_mb() if baseline == 0 else 0.0
            batch = b"NOOP\r\n" * _BATCH
            sent = 0
            t0 = time.perf_counter()
            while sent < total:
                sock.sendall(batch)
                read_lines(_BATCH)
                sent += _BATCH
                if sent == baseline:
                    before = resident_mb()
            elapsed = time.perf_counter() - t0
            sock.sendall(b"QUIT\r\n")
            read_lines(1)
        server.journal.wait_for(sessions_ended=1, timeout=30)
        after = resident_mb()
        record = server.journal.sessions[0]
        if record.command_count != total + 3:
            raise RuntimeError(f"the journal counted {record.command_count} commands")
    server.check()
    return {
        "growth_mb": after - before,
        "baseline_mb": before,
        "end_mb": after,
        "per_s": total / elapsed,
    }


def main(argv: list[str]) -> int:
    kind, total, baseline = argv[0], int(argv[1]), int(argv[2])
    result = (
        soak_sessions(total, baseline) if kind == "sessions" else soak_commands(total, baseline)
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
