"""`pop3mock proxy`: relay POP3 clients to a real server and record the conversations.

It listens on loopback only. Each client connection gets its own connection to the
upstream server (pop3://, pop3s://, or pop3:// upgraded with --stls by the proxy itself);
the client's commands are relayed one at a time, each reply read whole, and both written
to the recording (`pop3mock.protocol._recording`) as they happen, each line flushed: a recording
stopped by SIGINT or SIGTERM is complete up to that moment. The proxy does not relay a
TLS upgrade of the client's side: STLS is left out of CAPA and refused with ``-ERR``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from pop3mock.errors import Pop3MockError
from pop3mock.probe import _probe as probe
from pop3mock.probe._connection import _Connection
from pop3mock.protocol._recording import (
    data_text,
    expects_body,
    header,
    placeholder_body,
    shown_command,
    to_json,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["ProxyError", "add_arguments", "run"]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_LINE = 1024 * 1024  # a client line or a message line longer than this ends the connection
_NO_STLS = b"-ERR pop3mock proxy does not relay STLS\r\n"


class ProxyError(Pop3MockError):
    """The proxy cannot start (bad address, upstream URL, record file)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `pop3mock proxy`."""
    add = parser.add_argument
    add(
        "--upstream",
        required=True,
        metavar="URL",
        help="the server: pop3://HOST[:PORT] or pop3s://HOST[:PORT]",
    )
    add(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="loopback address to listen on (default 127.0.0.1:0: any free port)",
    )
    add("--record", required=True, metavar="FILE.jsonl", help="write the recording here")
    add(
        "--keep-bodies",
        action="store_true",
        help="record messages as they are (default: same-size placeholders)",
    )
    add("--stls", action="store_true", help="upgrade the pop3:// upstream connection with STLS")
    add("--cafile", metavar="FILE", help="trust the CA certificate(s) in FILE (PEM) upstream")
    add("--insecure", action="store_true", help="do not verify the upstream's certificate")
    add(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="give up on an upstream connection or reply after this long (default 60)",
    )


def _listen_address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    host = host.strip("[]")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise ProxyError(f"--listen {text}: expected HOST:PORT, e.g. 127.0.0.1:0")
    if host not in _LOOPBACK:
        raise ProxyError(
            f"--listen {text}: pop3mock proxy listens on loopback only (127.0.0.1, ::1)"
        )
    return host, int(port)


class _Recorder:
    """The recording file: one JSON line per event, written and flushed under a lock."""

    def __init__(self, handle: TextIO, keep_bodies: bool) -> None:
        self.handle = handle
        self.keep_bodies = keep_bodies
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.count = 0
        self.write(header(keep_bodies=keep_bodies))

    def write(self, value: dict[str, Any]) -> None:
        with self.lock:
            self.handle.write(to_json(value) + "\n")
            self.handle.flush()

    def event(self, conn: int, kind: str, **fields: Any) -> None:
        seconds = round(time.monotonic() - self.start, 6)
        self.write({"conn": conn, "t": seconds, "event": kind, **fields})


class _Relay:
    """One client connection and its upstream connection."""

    def __init__(
        self,
        proxy: _Proxy,
        number: int,
        client: socket.socket,
    ) -> None:
        self.proxy = proxy
        self.number = number
        self.client = client
        self.upstream: _Connection | None = None
        self.buffer = b""
        self.closed_by = "client"

    def record(self, kind: str, **fields: Any) -> None:
        self.proxy.recorder.event(self.number, kind, **fields)

    def reply(self, data: bytes, recorded: bytes | None = None) -> None:
        """Send `data` to the client; record `recorded` (a placeholder body) or `data`."""
        self.record("reply", data=data_text(data if recorded is None else recorded))
        self.client.sendall(data)

    def run(self) -> None:
        self.record("open")
        try:
            self._relay()
        except (OSError, probe.ProbeError):
            pass
        finally:
            if self.proxy.stopping.is_set() and self.closed_by == "client":
                self.closed_by = "proxy"
            self.record("close", by=self.closed_by)
            with contextlib.suppress(OSError):
                self.client.close()
            if self.upstream is not None:
                self.upstream.close()

    def _client_line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if len(self.buffer) > _MAX_LINE:
                return None
            data = self.client.recv(65536)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def _relay(self) -> None:
        proxy = self.proxy
        try:
            upstream = self.upstream = _Connection(proxy.target, proxy.timeout, proxy.context)
            if proxy.stopping.is_set():
                # stop() may have looked for this connection before it existed.
                return
            greeting = upstream.raw_line("the greeting")
            if proxy.target.tls == "stls":
                upstream.send("STLS")
                answer = upstream.line("the reply to STLS")
                if not answer.startswith(b"+OK"):
                    raise probe.ProbeError(f"the upstream refused STLS: {answer!r}")
                upstream.start_tls()
        except probe.ProbeError as exc:
            self.closed_by = "server"
            text = str(exc).replace("\r", " ").replace("\n", " ")
            self.reply(f"-ERR [SYS/TEMP] pop3mock proxy: upstream: {text}\r\n".encode())
            return
        self.reply(greeting)
        previous: str | None = None
        in_sasl = False
        while True:
            line = self._client_line()
            if line is None:
                return
            bare = line.rstrip(b"\r\n")
            verb, shown = shown_command(bare, previous, in_sasl=in_sasl)
            self.record("command", line=shown)
            previous = verb
            if verb == "STLS":
                self.reply(_NO_STLS)
                continue
            upstream.send_raw(line)
            try:
                data, recorded = self._upstream_reply(verb or "", bare, in_sasl)
            except probe.ProbeError:
                self.closed_by = "server"
                if upstream.buffer:
                    self.reply(upstream.buffer)
                raise
            self.reply(data, recorded)
            in_sasl = data.startswith(b"+ ") or data == b"+\r\n"
            in_sasl = in_sasl and (verb == "AUTH" or verb is None)
            if verb == "QUIT":
                self.closed_by = "server"
                return

    def _upstream_reply(self, verb: str, line: bytes, in_sasl: bool) -> tuple[bytes, bytes]:
        """The reply (as relayed, as recorded)."""
        upstream = self.upstream
        assert upstream is not None
        what = f"the reply to {verb or 'a SASL line'}"
        first = upstream.raw_line(what)
        args = line.decode("utf-8", "replace").partition(" ")[2]
        if in_sasl or not expects_body(verb, args, first):
            return first, first
        deadline = time.monotonic() + self.proxy.timeout
        body: list[bytes] = []
        while True:
            got = upstream.raw_line(what, deadline, _MAX_LINE)
            if got.rstrip(b"\r\n") == b".":
                terminator = got
                break
            body.append(got)
        if verb == "CAPA":
            body = [b for b in body if b.rstrip(b"\r\n").upper() != b"STLS"]
        text = b"".join(body)
        relayed = first + text + terminator
        if verb in ("RETR", "TOP") and not self.proxy.recorder.keep_bodies:
            return relayed, first + placeholder_body(text) + terminator
        return relayed, relayed


class _Proxy:
    def __init__(
        self,
        target: probe.Target,
        context: ssl.SSLContext | None,
        timeout: float,
        recorder: _Recorder,
    ) -> None:
        self.target = target
        self.context = context
        self.timeout = timeout
        self.recorder = recorder
        self.stopping = threading.Event()
        self.relays: list[_Relay] = []
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def accept_loop(self, listener: socket.socket) -> None:
        number = 0
        while not self.stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                if self.stopping.is_set():
                    client.close()
                    return
                number += 1
                relay = _Relay(self, number, client)
                thread = threading.Thread(
                    target=relay.run, name=f"pop3mock-proxy-{number}", daemon=True
                )
                self.relays.append(relay)
                self.threads.append(thread)
                # Started under the lock: stop() joins every thread it can see.
                thread.start()

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
            relays = list(self.relays)
            threads = list(self.threads)
        for relay in relays:
            with contextlib.suppress(OSError):
                relay.client.shutdown(socket.SHUT_RDWR)
            upstream = relay.upstream
            if upstream is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(upstream.sock, socket.SHUT_RDWR)
        for thread in threads:
            thread.join()


def run(
    args: argparse.Namespace,
    wait: Callable[[], object],
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """`pop3mock proxy`: record until `wait` returns (a signal); ProxyError if it cannot
    start, probe.ProbeError for a bad upstream URL or --cafile."""
    if not args.timeout > 0:
        raise ProxyError(f"--timeout must be a number of seconds > 0, not {args.timeout!r}")
    host, port = _listen_address(args.listen)
    target = probe.Target.from_url(args.upstream, stls=args.stls, user=False)
    context = probe._context(args) if target.tls != "none" else None
    try:
        handle = open(args.record, "w", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except OSError as exc:
        raise ProxyError(f"cannot write {args.record}: {exc.strerror or exc}") from None
    with handle:
        recorder = _Recorder(handle, args.keep_bodies)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise ProxyError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
        proxy = _Proxy(target, context, args.timeout, recorder)
        bound = listener.getsockname()
        shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
        print(f"listening on pop3://{shown}:{bound[1]}", file=stdout, flush=True)
        print(f"recording to {args.record}; stop with Ctrl-C or SIGTERM", file=stderr, flush=True)
        accept = threading.Thread(
            target=proxy.accept_loop, args=(listener,), name="pop3mock-proxy-accept", daemon=True
        )
        accept.start()
        try:
            wait()
        finally:
            proxy.stopping.set()
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            accept.join()
            proxy.stop()
    count = len(proxy.relays)
    print(f"recorded {count} connection(s) to {args.record}", file=stderr, flush=True)
    return 0
