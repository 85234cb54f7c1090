"""The control API's client for the benchmark, in its own interpreter (so that it never
competes with the servers for the GIL).

    python _admin_client.py URL PACE_SECONDS     # the calls of the row
    python _admin_client.py URL idle             # connected, no calls
    python _admin_client.py URL burst KIND N     # N calls of KIND back to back

With a pace, it alternates GET /health and POST /users/admin-target/messages (a 2 KB
message) on one keep-alive connection, one call every PACE_SECONDS, from its "ready" line
until its standard input closes; then prints {"health": [seconds...], "post": [seconds...]}
as one JSON line. `idle` connects and makes one call as the paced client does before its
"ready" line, then none: the same processes and connections, without the traffic. `burst`
waits for one line on its standard input after "ready", makes N calls of KIND ("health" or
"post") as fast as replies come, and prints "done".

A lean client, as a load generator is (wrk, hey): each request is built once and sent in
one write, and a reply is read only as far as its status and Content-Length. So the figures
are the API's, not those of a client library: http.client parses every reply's fields with
the email package and sends a POST's head and body in two segments, which costs this
client process about as much CPU as the API spends on the call, on a machine whose two
CPUs the POP3 client and server already fill. Its socket stays blocking with the kernel
keeping the time limit (SO_RCVTIMEO), as the API's does: a Python socket timeout would add
a poll() before every send and recv.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
import urllib.parse

from _common import make_message

_LIMIT = 30  # seconds without a reply: the API is stuck, the benchmark fails


class Client:
    """One keep-alive HTTP/1.1 connection that sends prepared requests."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=_LIMIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        limit = struct.pack("ll", _LIMIT, 0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
        self.sock.settimeout(None)
        self.buffer = b""

    def call(self, request: bytes) -> int:
        """Send `request`, read the whole reply; its status."""
        self.sock.sendall(request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._more()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            self._more()
        self.buffer = self.buffer[length:]
        return int(head.split(b" ", 2)[1])

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the API closed the connection")
        self.buffer += data


def _check(kind: str, status: int) -> None:
    if status not in (200, 201):
        raise RuntimeError(f"{kind}: HTTP {status}")


def main() -> None:
    url, how = sys.argv[1], sys.argv[2]
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    client = Client(parts.hostname, parts.port)
    host = f"Host: {parts.netloc}\r\n".encode()
    message = make_message(2000)
    requests = {
        "health": b"GET /health HTTP/1.1\r\n" + host + b"\r\n",
        "post": b"POST /users/admin-target/messages HTTP/1.1\r\n"
        + host
        + b"Content-Type: message/rfc822\r\nContent-Length: %d\r\n\r\n" % len(message)
        + message,
    }
    times: dict[str, list[float]] = {"health": [], "post": []}
    _check("health", client.call(requests["health"]))  # connected and warm
    if how == "burst":
        kind, count = sys.argv[3], int(sys.argv[4])
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(count):
            _check(kind, client.call(requests[kind]))
        print("done", flush=True)
        return
    print("ready", flush=True)
    if how == "idle":
        sys.stdin.read()
        print(json.dumps(times), flush=True)
        return
    pace = float(how)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    n = 0
    next_call = time.perf_counter()
    while not stop.is_set():
        kind = "health" if n % 2 == 0 else "post"
        t0 = time.perf_counter()
        status = client.call(requests[kind])
        times[kind].append(time.perf_counter() - t0)
        _check(kind, status)
        n += 1
        next_call += pace
        time.sleep(max(0.0, next_call - time.perf_counter()))
    print(json.dumps(times), flush=True)


if __name__ == "__main__":
    main()
