"""The control API's client for the benchmark, in its own interpreter (so that it never
competes with the servers for the GIL).

    python _admin_client.py URL PACE_SECONDS

Alternates GET /health and POST /users/admin-target/messages (a 2 KB message) on one
keep-alive connection, one call every PACE_SECONDS, from its "ready" line until its standard
input closes; then prints {"health": [seconds...], "post": [seconds...]} as one JSON line.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse

from _common import make_message


def main() -> None:
    url, pace = sys.argv[1], float(sys.argv[2])
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    message = make_message(2000)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    conn.request("GET", "/health")  # connected and warm: the measuring may start
    conn.getresponse().read()
    print("ready", flush=True)
    times: dict[str, list[float]] = {"health": [], "post": []}
    n = 0
    next_call = time.perf_counter()
    while not stop.is_set():
        kind = "health" if n % 2 == 0 else "post"
        t0 = time.perf_counter()
        if kind == "health":
            conn.request("GET", "/health")
        else:
            headers = {"Content-Type": "message/rfc822"}
            conn.request("POST", "/users/admin-target/messages", body=message, headers=headers)
        reply = conn.getresponse()
        reply.read()
        times[kind].append(time.perf_counter() - t0)
        if reply.status not in (200, 201):
            raise RuntimeError(f"{kind}: HTTP {reply.status}")
        n += 1
        next_call += pace
        time.sleep(max(0.0, next_call - time.perf_counter()))
    print(json.dumps(times), flush=True)


if __name__ == "__main__":
    main()
