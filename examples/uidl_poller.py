"""Poll a POP3 mailbox and deliver each message exactly once, leaving mail on the server.

    python uidl_poller.py HOST PORT USER PASSWORD STATE.json OUTDIR

The unique-id listing (UIDL, RFC 1939 section 7) names messages independently of their
numbers, which change whenever someone deletes mail. The poller remembers the UIDs it has
delivered in a JSON file, saved after every delivery, so repeated runs and restarts never
deliver a message twice and a crash re-delivers at most one.
"""

from __future__ import annotations

import json
import os
import poplib
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["PollError", "poll"]

Deliver = Callable[[str, bytes], None]


class PollError(Exception):
    """The server cannot be polled this way."""


def _load(state_file: Path) -> set[str]:
    try:
        return set(json.loads(state_file.read_text())["seen"])
    except FileNotFoundError:
        return set()


def _save(state_file: Path, seen: set[str]) -> None:
    # Write then rename: a crash never leaves a half-written state file behind.
    temporary = state_file.with_suffix(".tmp")
    temporary.write_text(json.dumps({"seen": sorted(seen)}))
    os.replace(temporary, state_file)


def _listing(client: poplib.POP3) -> list[tuple[int, str]]:
    try:
        _, lines, _ = client.uidl()
    except poplib.error_proto as exc:
        raise PollError(f"the server does not support UIDL: {exc}") from exc
    pairs = []
    for line in lines:
        number, uid = line.decode("ascii").split()
        pairs.append((int(number), uid))
    return pairs


def poll(
    host: str,
    port: int,
    user: str,
    password: str,
    state_file: str | os.PathLike[str],
    deliver: Deliver,
    *,
    timeout: float = 30.0,
) -> list[str]:
    """Deliver the messages not seen before; return their UIDs in delivery order."""
    state = Path(state_file)
    seen = _load(state)
    delivered: list[str] = []
    client = poplib.POP3(host, port, timeout=timeout)
    try:
        client.user(user)
        client.pass_(password)
        listing = _listing(client)
        for number, uid in listing:
            if uid in seen:
                continue
            _, lines, _ = client.retr(number)
            deliver(uid, b"\n".join(lines) + b"\n")
            seen.add(uid)
            _save(state, seen)
            delivered.append(uid)
        # Forget messages that are gone from the server: the state file stays small.
        on_server = {uid for _, uid in listing}
        if seen - on_server:
            _save(state, seen & on_server)
    finally:
        try:
            client.quit()
        except (poplib.error_proto, OSError):
            client.close()
    return delivered


def main(argv: list[str]) -> int:
    host, port, user, password, state_file, outdir = argv
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    def write(uid: str, data: bytes) -> None:
        (out / f"{uid}.eml").write_bytes(data)

    try:
        new = poll(host, int(port), user, password, state_file, write)
    except PollError as exc:
        print(f"uidl_poller: {exc}", file=sys.stderr)
        return 1
    print(f"{len(new)} new messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
