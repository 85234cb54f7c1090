"""The benchmark's POP3 client, run in its own process so it never shares the server's GIL.

`python _client.py` reads one JSON job per line on stdin and writes one JSON result per line
on stdout. The client is a raw socket: it reads status lines up to CRLF and multi-line
replies up to CRLF.CRLF, checks every status, and times from its own side of the wire.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Pop3Wire", "ReplyError"]


class ReplyError(Exception):
    """The server answered something other than what the workload expects."""


class Pop3Wire:
    """A minimal, fast POP3 reader over one socket (one growing receive buffer, no copies)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(1 << 16)
        self.view = memoryview(self.buf)
        self.start = 0  # first unread octet
        self.end = 0  # one past the last received octet

    def _fill(self) -> None:
        if self.start == self.end:
            self.start = self.end = 0
        room = len(self.buf) - self.end
        if room < (1 << 15):
            if self.start:
                # Move the unread tail to the front before growing.
                pending = self.end - self.start
                self.view[:pending] = self.view[self.start : self.end]
                self.start, self.end = 0, pending
            if len(self.buf) - self.end < (1 << 15):
                self.view.release()
                self.buf.extend(bytes(len(self.buf)))
                self.view = memoryview(self.buf)
        n = self.sock.recv_into(self.view[self.end :])
        if n == 0:
            raise EOFError("the server closed the connection")
        self.end += n

    def line(self) -> bytes:
        """One reply line without its CRLF."""
        while True:
            eol = self.buf.find(b"\r\n", self.start, self.end)
            if eol >= 0:
                out = bytes(self.view[self.start : eol])
                self.start = eol + 2
                return out
            self._fill()

    def ok(self) -> bytes:
        """A single-line reply that must be +OK; its text."""
        line = self.line()
        if not line.startswith(b"+OK"):
            raise ReplyError(f"expected +OK, got {line[:80]!r}")
        return line

    def multiline(self, keep: bool = False, scan: bool = True) -> tuple[bytes, bytes | None]:
        """A multi-line +OK reply: its status line, and the stuffed body when `keep`.

        The reply ends at the first CRLF.CRLF after the status line (stuffing keeps it out of
        any body). `scan` searches every received octet for it. Without `scan` the client
        relies on lock-step: the server sends nothing after a reply before the next command,
        so the terminator is the last 5 octets received; that saves a search through every
        octet (10 MB at about 2 GB/s, more than the transfer itself). A framing error then
        still shows: the next reply read would not be a status line.
        """
        status = self.ok()
        while self.end - self.start < 3:
            self._fill()
        if self.buf[self.start : self.start + 3] == b".\r\n":
            self.start += 3
            return status, b"" if keep else None
        # A non-empty body ends with its own CRLF, so the terminator lies wholly inside what
        # follows the status line; only the newly received octets (and 4 before) are searched.
        searched = 0
        while True:
            if scan:
                end = self.buf.find(b"\r\n.\r\n", self.start + searched, self.end)
            elif self.buf.endswith(b"\r\n.\r\n", self.start, self.end):
                end = self.end - 5
            else:
                end = -1
            if end >= 0:
                body = bytes(self.view[self.start : end + 2]) if keep else None
                self.start = end + 5
                return status, body
            searched = max(0, self.end - self.start - 4)
            self._fill()

    def cmd(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.ok()

    def login(self, user: str, password: str) -> None:
        self.ok()  # greeting
        self.cmd(b"USER " + user.encode())
        self.cmd(b"PASS " + password.encode())

    def quit(self) -> None:
        """QUIT, whose reply must be the next line: it checks that replies stayed in step."""
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.ok()
            if self.start != self.end:
                raise ReplyError(
                    f"unread octets after QUIT: {bytes(self.view[self.start : self.end])[:80]!r}"
                )
        finally:
            self.sock.close()


def unstuff(body: bytes) -> bytes:
    """The message octets of a stuffed multi-line body (RFC 1939 section 3)."""
    if body.startswith(b".."):
        body = body[1:]
    return body.replace(b"\r\n..", b"\r\n.")


# -- workloads (client side) -------------------------------------------------------------


def sessions(job: dict[str, Any]) -> dict[str, Any]:
    """Sessions per second: `count` per thread of connect, USER, PASS, STAT, QUIT.

    Thread t logs in as users[t].
    """
    host, port, users, password = job["host"], job["port"], job["users"], job["password"]
    threads, count = job["threads"], job["count"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def one_thread(user: str) -> None:
        # Each thread logs in as its own user: a maildrop takes one session at a time.
        user_line, pass_line = f"USER {user}\r\n".encode(), f"PASS {password}\r\n".encode()
        try:
            barrier.wait()
            for _ in range(count):
                wire = Pop3Wire(host, port)
                wire.ok()
                wire.sock.sendall(user_line)
                wire.ok()
                wire.sock.sendall(pass_line)
                wire.ok()
                wire.sock.sendall(b"STAT\r\n")
                wire.ok()
                wire.quit()
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=one_thread, args=(users[t],)) for t in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    t0 = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return {"value": threads * count / elapsed}


def retr(job: dict[str, Any]) -> dict[str, Any]:
    """RETR of messages 1..n in turn in one session: MB/s and messages/s of message octets."""
    wire = Pop3Wire(job["host"], job["port"])
    wire.login(job["user"], job["password"])
    sizes: list[int] = job["sizes"]
    # The first pass checks the content (un-stuffed length equals the announced size).
    for number, size in enumerate(sizes, 1):
        wire.sock.sendall(b"RETR %d\r\n" % number)
        _, body = wire.multiline(keep=True)
        assert body is not None
        if len(unstuff(body)) != size:
            raise ReplyError(f"RETR {number}: {len(unstuff(body))} octets, expected {size}")
    count = job["count"]
    total = 0
    t0 = time.perf_counter()
    for i in range(count):
        number = i % len(sizes) + 1
        wire.sock.sendall(b"RETR %d\r\n" % number)
        wire.multiline(scan=False)
        total += sizes[number - 1]
    elapsed = time.perf_counter() - t0
    wire.quit()
    return {"mb_per_s": total / elapsed / 1e6, "per_s": count / elapsed}


def listing(job: dict[str, Any]) -> dict[str, Any]:
    """`samples` fresh sessions, each timing its first LIST or UIDL: the median in ms."""
    command = job["command"].encode() + b"\r\n"
    expect = job["lines"]
    times = []
    for i in range(job["samples"]):
        wire = Pop3Wire(job["host"], job["port"])
        wire.login(job["user"], job["password"])
        t0 = time.perf_counter()
        wire.sock.sendall(command)
        _, body = wire.multiline(keep=i == 0)
        times.append(time.perf_counter() - t0)
        if body is not None and body.count(b"\r\n") != expect:
            lines = body.count(b"\r\n")
            raise ReplyError(f"{job['command']}: {lines} lines, expected {expect}")
        wire.quit()
    times.sort()
    return {"value": times[len(times) // 2] * 1000}


WORKLOADS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "sessions": sessions,
    "retr": retr,
    "listing": listing,
}


def main() -> None:
    for raw in sys.stdin:
        job = json.loads(raw)
        try:
            result = WORKLOADS[job["kind"]](job)
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
