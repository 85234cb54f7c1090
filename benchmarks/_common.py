"""Shared pieces of the benchmark: message content, the bare-socket floor server, reply bytes.

The floor server is the same architecture as pop3mock (one accept thread, one thread per
open connection, reused for the next connection, TCP_NODELAY, 64 KiB reads) with the
protocol taken out: it greets, then answers the n-th request line with the n-th pre-built
reply of a script, repeating the last one, so what remains is the cost of Python sockets
and threads on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import socket
import threading
from collections.abc import Sequence

__all__ = ["FloorServer", "make_message", "parse_rounds", "replies_of", "rounds_argument"]


def rounds_argument(text: str) -> int:
    """argparse type of a script's --rounds: a whole number of 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--rounds must be 1 or more, not {value}")
    return value


def parse_rounds(doc: str | None, argv: Sequence[str] | None) -> tuple[int, bool]:
    """(rounds, quick) from a script's --rounds (default 5) and --quick (one round)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--rounds", type=rounds_argument, default=5, help="rounds (medians); 5")
    parser.add_argument("--quick", action="store_true", help="small counts, one round")
    args = parser.parse_args(argv)
    return (1 if args.quick else args.rounds), args.quick


_LINE = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/0123456789abcdefgh"


def make_message(size: int, index: int = 0) -> bytes:
    """A message of exactly `size` octets: headers, then 80-column lines, CRLF throughout.

    Every 97th body line starts with '.', so the stuffed wire form differs from the data.
    """
    head = (
        f"From: bench{index}@example.org\r\nTo: user@example.org\r\n"
        f"Subject: benchmark message {index}\r\nMessage-ID: <{index}@bench.example.org>\r\n\r\n"
    ).encode()
    if size < len(head) + 2:
        raise ValueError(f"size {size} is smaller than the headers ({len(head) + 2} octets)")
    lines = []
    left = size - len(head)
    n = 0
    while left >= len(_LINE) + 4:  # leave at least a CRLF for the last line
        line = b"." + _LINE[1:] if n % 97 == 96 else _LINE
        lines.append(line + b"\r\n")
        left -= len(line) + 2
        n += 1
    lines.append(b"x" * (left - 2) + b"\r\n")
    data = head + b"".join(lines)
    assert len(data) == size
    return data


def replies_of(session: object, lines: Sequence[bytes]) -> list[bytes]:
    """The exact wire bytes a pop3mock `Session` answers to `lines` (greeting first)."""
    from pop3mock import Session

    assert isinstance(session, Session)
    out = [session.greeting().encode()]
    out.extend(session.handle(line).encode() for line in lines)
    return out


class FloorServer:
    """A bare socket server: greet, answer request n with script[n], close after QUIT."""

    def __init__(self, greeting: bytes, script: Sequence[bytes], quit_reply: bytes) -> None:
        self.greeting = greeting
        self.script = list(script)
        self.quit_reply = quit_reply
        self.port = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._handoff: queue.SimpleQueue[socket.socket | None] = queue.SimpleQueue()
        self._idle = 0
        self._stopping = False

    def start(self) -> FloorServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self._listener = sock
        self.port = sock.getsockname()[1]
        thread = threading.Thread(target=self._accept, name="floor-accept", daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = None
            with self._lock:
                self._conns.append(conn)
                if self._idle:
                    self._idle -= 1
                else:
                    thread = threading.Thread(target=self._worker, args=(conn,), daemon=True)
                    self._threads.append(thread)
            if thread is None:
                self._handoff.put(conn)
            else:
                thread.start()

    def _worker(self, conn: socket.socket | None) -> None:
        while conn is not None:
            self._serve(conn)
            with self._lock:
                if self._stopping:
                    return
                self._idle += 1
            conn = self._handoff.get()

    def _serve(self, conn: socket.socket) -> None:
        script = self.script
        last = len(script) - 1
        n = 0
        buf = b""
        try:
            conn.sendall(self.greeting)
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    if line[:4].upper() == b"QUIT":
                        conn.sendall(self.quit_reply)
                        return
                    conn.sendall(script[min(n, last)])
                    n += 1
        except OSError:
            return
        finally:
            conn.close()
            with self._lock:
                self._conns.remove(conn)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._handoff.put(None)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5.0)

    def __enter__(self) -> FloorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
