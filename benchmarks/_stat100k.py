"""STAT on a large generated maildrop, timed from server start, in a fresh process.

`python _stat100k.py pop3mock|floor COUNT` prints one JSON line: `ms` from `POP3Server()`
to the STAT reply (server, add_user with the ready lazy maildrop, start, connect, greeting,
USER, PASS, STAT), `split_ms` (making the lazy messages, which is not in `ms`; add_user;
start to STAT reply) and `rss_mb`, the process's peak resident memory. A fresh process
per run keeps the memory figure free of whatever else the benchmark holds.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
from typing import Any

from _client import Pop3Wire, ReplyError
from _common import FloorServer, make_message

__all__ = ["lazy_maildrop", "size_of"]


def size_of(index: int) -> int:
    """A spread of realistic sizes, 1 KB to about 60 KB, the same for every run."""
    return 1000 + (index * 7919) % 59000


def _load(index: int) -> Any:
    from pop3mock import Message

    return Message.of(make_message(size_of(index), index), uid=f"bench-{index}")


def lazy_maildrop(count: int) -> tuple[list[Any], str]:
    """`count` lazy messages (uid and size known, bytes made on first RETR), and how."""
    from pop3mock import LazyMessage

    messages = [
        LazyMessage(f"bench-{i}", size_of(i), functools.partial(_load, i)) for i in range(count)
    ]
    return messages, "pop3mock.LazyMessage entries with a cheap loader"


def _peak_rss_mb() -> float:
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over the fork.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_pop3mock(count: int) -> dict[str, Any]:
    from pop3mock import POP3Server

    t0 = time.perf_counter()
    messages, how = lazy_maildrop(count)
    t1 = time.perf_counter()
    # The maildrop is the caller's data, made before the server exists; what is timed is
    # pop3mock's part: POP3Server(), add_user, start() and one session up to STAT.
    server = POP3Server()
    server.add_user("user", "password", messages)
    t2 = time.perf_counter()
    with server:
        wire = Pop3Wire("127.0.0.1", server.port)
        wire.login("user", "password")
        wire.sock.sendall(b"STAT\r\n")
        stat = wire.ok()
        t3 = time.perf_counter()
        wire.quit()
    expected = b"+OK %d %d" % (count, sum(size_of(i) for i in range(count)))
    if stat != expected:
        raise ReplyError(f"STAT answered {stat!r}, expected {expected!r}")
    return {
        "ms": (t3 - t1) * 1000,
        "rss_mb": _peak_rss_mb(),
        "maildrop": how,
        "split_ms": [(t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000],
    }


def run_floor(count: int) -> dict[str, Any]:
    octets = sum(size_of(i) for i in range(count))
    t0 = time.perf_counter()
    script = [b"+OK\r\n", b"+OK Logged in.\r\n", b"+OK %d %d\r\n" % (count, octets)]
    with FloorServer(b"+OK POP3 ready\r\n", script, b"+OK Bye\r\n") as server:
        wire = Pop3Wire("127.0.0.1", server.port)
        wire.login("user", "password")
        wire.sock.sendall(b"STAT\r\n")
        wire.ok()
        elapsed = time.perf_counter() - t0
        wire.quit()
    return {"ms": elapsed * 1000, "rss_mb": _peak_rss_mb()}


def main() -> None:
    target, count = sys.argv[1], int(sys.argv[2])
    result = run_pop3mock(count) if target == "pop3mock" else run_floor(count)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
