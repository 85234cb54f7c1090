"""STAT on a large generated maildrop, timed from server start, in a fresh process.

`python _stat100k.py pop3mock|floor COUNT` prints one JSON line:

- `ms`: from generating the maildrop to the STAT reply (generate, POP3Server(), add_user,
  start, connect, greeting, USER, PASS, STAT);
- `server_ms`: the same without generating (POP3Server() to the STAT reply);
- `split_ms`: generating, add_user, start() to the STAT reply;
- `rss_mb`: the process's peak resident memory.

The maildrop comes from `pop3mock.fake._factory.lazy_fake_messages` (uid and size up front, bodies
on first RETR); where that function is missing, from `LazyMessage` entries with a cheap
loader, and `maildrop` says which. A fresh process per run keeps the memory figure free of
whatever else the benchmark holds; imports happen before anything is timed.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from _client import Pop3Wire, ReplyError
from _common import FloorServer, make_message

__all__ = ["maildrop_maker", "size_of"]


def size_of(index: int) -> int:
    """A spread of realistic sizes, 1 KB to about 60 KB, the same for every run."""
    return 1000 + (index * 7919) % 59000


def _load(index: int) -> Any:
    from pop3mock import Message

    return Message.of(make_message(size_of(index), index), uid=f"bench-{index}")


def _cheap_lazy(count: int) -> list[Any]:
    from pop3mock import LazyMessage

    return [
        LazyMessage(f"bench-{i}", size_of(i), functools.partial(_load, i)) for i in range(count)
    ]


def maildrop_maker() -> tuple[Callable[[int], list[Any]], str]:
    """The function that generates a lazy maildrop of n messages, and its name."""
    try:
        from pop3mock.fake._factory import lazy_fake_messages
    except ImportError:
        return _cheap_lazy, "LazyMessage entries with a cheap loader (no lazy_fake_messages)"
    return lazy_fake_messages, "pop3mock.fake._factory.lazy_fake_messages"


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

    make, how = maildrop_maker()
    t0 = time.perf_counter()
    messages = make(count)
    t1 = time.perf_counter()
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
    # A LazyMaildrop knows its total; summing item by item would make 100,000 entries.
    octets = getattr(messages, "total_size", None)
    if octets is None:
        octets = sum(m.size for m in messages)
    expected = b"+OK %d %d" % (count, octets)
    if stat != expected:
        raise ReplyError(f"STAT answered {stat!r}, expected {expected!r}")
    return {
        "ms": (t3 - t0) * 1000,
        "server_ms": (t3 - t1) * 1000,
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
        elapsed = (time.perf_counter() - t0) * 1000
        wire.quit()
    return {"ms": elapsed, "server_ms": elapsed, "rss_mb": _peak_rss_mb()}


def main() -> None:
    target, count = sys.argv[1], int(sys.argv[2])
    result = run_pop3mock(count) if target == "pop3mock" else run_floor(count)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
