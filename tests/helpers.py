"""Test helpers shared by the test modules."""

from __future__ import annotations

import gc
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from pop3mock import Message, POP3Server
from pop3mock import tls as pop3tls


class MakeServer(Protocol):
    """The type of the `make_server` fixture (tests/conftest.py)."""

    def __call__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        maildrops: Mapping[str, Iterable[Message | bytes | str]] | None = None,
        tokens: Mapping[str, str] | None = None,
        **options: Any,
    ) -> POP3Server: ...


class RawClient:
    """A bare socket client: send exact bytes, read exact replies."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        #: The greeting line, once `greet()` read it.
        self.greeting = b""

    def greet(self) -> RawClient:
        """Read the greeting line into `greeting`; returns the client, for chaining."""
        self.greeting = self.line()
        return self

    def login(self, user: str = "alice", password: str = "wonderland") -> RawClient:
        """USER and PASS, each answered exactly as pop3mock's default texts say; returns the
        client, for chaining."""
        assert self.cmd(f"USER {user}") == b"+OK Send PASS.\r\n"
        assert self.cmd(f"PASS {password}") == b"+OK Logged in.\r\n"
        return self

    def try_login(self, user: str = "alice", password: str = "wonderland") -> bytes:
        """USER and PASS, whatever USER's reply; returns PASS's reply."""
        self.cmd(f"USER {user}")
        return self.cmd(f"PASS {password}")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def line(self) -> bytes:
        """One line with its CRLF."""
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(f"connection closed; pending {self.buf!r}")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line + b"\r\n"

    def multiline(self) -> bytes:
        """A whole multi-line reply, status line to terminator, raw."""
        # Chunks are joined once and each is searched once: a RETR of megabytes is read in
        # linear time.
        parts, total = [self.buf], len(self.buf)
        tail, offset = self.buf, 0  # the bytes still to search, and where they start
        while (end := tail.find(b"\r\n.\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                self.buf = b"".join(parts)
                raise EOFError(f"connection closed; pending {self.buf[:200]!r}")
            parts.append(chunk)
            tail = tail[-4:] + chunk
            offset, total = total - len(tail) + len(chunk), total + len(chunk)
        data, stop = b"".join(parts), offset + end + 5
        out, self.buf = data[:stop], data[stop:]
        return out

    def cmd(self, line: str) -> bytes:
        """Send one command; its one-line reply."""
        self.send(line.encode() + b"\r\n")
        return self.line()

    def answer(self, line: str, *, multiline: bool = False) -> bytes:
        """Send one command; its reply, read to the terminator when it is the +OK of a
        multi-line command (`multiline`): an -ERR, even to RETR, is one line."""
        first = self.cmd(line)
        if not (multiline and first.startswith(b"+OK")):
            return first
        self.buf = first + self.buf
        return self.multiline()

    def multi(self, line: str) -> bytes:
        """Send one command; its whole multi-line reply, raw."""
        self.send(line.encode() + b"\r\n")
        return self.multiline()

    def capa(self) -> list[str]:
        """CAPA's capability lines, without the status line and the terminator."""
        lines = self.multi("CAPA").decode("ascii").split("\r\n")
        assert lines[0].startswith("+OK") and lines[-2:] == [".", ""], lines
        return lines[1:-2]

    def read_all(self) -> bytes:
        """Everything until the server closes the connection."""
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def close(self) -> None:
        self.sock.close()

    def start_tls(self, context: ssl.SSLContext | None = None) -> RawClient:
        """Turn the socket into TLS (after STLS's reply, or on the implicit-TLS port), trusting
        pop3mock's test CA unless `context` says otherwise; an unclean EOF then raises instead
        of reading b''. Returns the client, for chaining."""
        assert self.buf == b"", f"plaintext after the STLS reply: {self.buf!r}"
        context = context or pop3tls.client_context()
        self.sock = context.wrap_socket(
            self.sock, server_hostname="localhost", suppress_ragged_eofs=False
        )
        return self

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN (a killed client, a pulled cable)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    server: POP3Server, port: int | None = None, *, tls: bool = False, timeout: float = 10.0
) -> RawClient:
    """A `RawClient` on `server` that read a +OK greeting: on its POP3 port, its implicit-TLS
    port in TLS (`tls=True`), or `port`."""
    if tls:
        assert server.tls_port is not None, "the server has no implicit-TLS port"
        client = RawClient(server.host, port or server.tls_port, timeout=timeout).start_tls()
    else:
        client = RawClient(server.host, port or server.port, timeout=timeout)
    client.greet()
    assert client.greeting.startswith(b"+OK"), client.greeting
    return client


def client_hello() -> bytes:
    """The first flight of a real TLS client (a ClientHello record)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    hello_tls = pop3tls.client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        hello_tls.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"  # a handshake record
    return hello


CURL = shutil.which("curl")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run curl (a real POP3 client) with a time limit; its exit code is in the result."""
    if CURL is None:
        pytest.fail("curl is not installed (apt-get install curl; .ci/run installs it)")
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", "20", *args],
        capture_output=True,
        timeout=30,
        check=False,
    )


def run_shell_block(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell block of the docs with `bash -e` in `cwd`, this environment's `pop3mock`
    first on PATH, as a reader who installed it would."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def open_descriptors() -> set[str]:
    """The file descriptors this process holds, as "fd -> what it is" ("7 -> socket:[812]").

    Identities, not a count: a socket that an earlier test dropped may be closed by the
    garbage collector while a later test runs, which a count would take for a change.
    """
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the descriptor listdir itself used, already closed
            continue
        found.add(f"{name} -> {target}")
    return found


def open_sockets() -> set[str]:
    """The sockets among `open_descriptors()`, by kernel identity ("socket:[inode]")."""
    return {
        target
        for _, _, target in (d.partition(" -> ") for d in open_descriptors())
        if target.startswith("socket:")
    }


def server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("pop3mock-")}


@contextmanager
def nothing_left_behind() -> Iterator[None]:
    """Fail if the block leaves a server thread running or a socket open that it opened."""
    gc.collect()
    sockets, threads = open_sockets(), server_threads()
    yield
    gc.collect()
    assert server_threads() - threads == set()
    assert open_sockets() - sockets == set()
