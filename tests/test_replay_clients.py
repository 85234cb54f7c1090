"""Real clients recorded through `pop3mock proxy` and replayed by `POP3Server(replay=)`:
fetchmail against pop3mock, and poplib, curl and fetchmail against a private Dovecot 2.3
(benchmarks/_dovecot.py, as in tests/test_dovecot.py). Each client gets the same bytes the
second time: the same poplib results, curl output and messages delivered by fetchmail."""

from __future__ import annotations

import poplib
import sys
from pathlib import Path

import pytest

from helpers import curl
from pop3mock import POP3Server
from pop3mock.protocol._recording import load_recording
from replaying import recording_proxy
from test_dovecot import MESSAGES, PASSWORD, dovecot  # noqa: F401 - the fixture
from test_real_clients import client, deliver_script, private, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from _dovecot import Dovecot, unavailable

# Real external clients (fetchmail) and a private Dovecot.
pytestmark = pytest.mark.slow

needs_dovecot = pytest.mark.skipif(
    unavailable() is not None,
    reason=f"no private Dovecot: {unavailable()} (scripts/install-test-clients.sh)",
)


def fetch(folder: Path, port: int, user: str) -> list[bytes]:
    """fetchmail once, keeping the messages, in a folder of its own (no idfile from an
    earlier run); the messages it delivered, in the order fetched."""
    folder.mkdir()
    mda = deliver_script(folder)
    rc = private(
        folder / "fetchmailrc",
        f"poll 127.0.0.1 service {port} protocol pop3 auth password "
        f'user "{user}" password "{PASSWORD}" mda "{mda}" keep sslproto \'\'\n',
    )
    result = run(
        client("fetchmail"), "-f", str(rc), "--nodetach", "--nosyslog",
        "--idfile", str(folder / "fetchids"), cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    delivered = folder / "delivered"
    return sorted(_without_received(path.read_bytes()) for path in delivered.iterdir())


def _without_received(message: bytes) -> bytes:
    """The message without the Received: header fetchmail adds (it holds the time)."""
    lines = message.split(b"\n")
    assert lines[0].startswith(b"Received: ")
    rest = 1
    while lines[rest][:1] in (b" ", b"\t"):
        rest += 1
    return b"\n".join(lines[rest:])


def poplib_session(port: int, user: str) -> list[object]:
    pop = poplib.POP3("127.0.0.1", port, timeout=10)
    seen: list[object] = [pop.getwelcome()]
    pop.user(user)
    pop.pass_(PASSWORD)
    seen += [pop.stat(), pop.list(), pop.uidl(), pop.top(1, 0)]
    seen += [pop.retr(n) for n in range(1, len(MESSAGES) + 1)]
    seen.append(pop.quit())
    return seen


def test_fetchmail_through_the_proxy_from_pop3mock(tmp_path: Path) -> None:
    record = tmp_path / "fetchmail.jsonl"
    with POP3Server(users={"alice": PASSWORD}) as upstream:
        upstream.mailbox("alice").add(*MESSAGES)
        with recording_proxy(upstream.url, record, "--keep-bodies") as port:
            first = fetch(tmp_path / "first", port, "alice")
    assert len(first) == len(MESSAGES)
    with POP3Server(replay=record) as replay:
        second = fetch(tmp_path / "second", replay.port, "alice")
    replay.check()
    assert second == first


@needs_dovecot
def test_poplib_through_the_proxy_from_dovecot(
    dovecot: tuple[Dovecot, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    server, user = dovecot
    record = tmp_path / "dovecot-poplib.jsonl"
    with recording_proxy(f"pop3://127.0.0.1:{server.port}", record, "--keep-bodies") as port:
        first = poplib_session(port, user)
    assert first[0].startswith(b"+OK Dovecot")  # type: ignore[union-attr]
    with POP3Server(replay=record) as replay:
        assert poplib_session(replay.port, user) == first
    replay.check()
    # Without --keep-bodies the sizes are still Dovecot's.
    shaped = tmp_path / "dovecot-shaped.jsonl"
    with recording_proxy(f"pop3://127.0.0.1:{server.port}", shaped) as port:
        poplib_session(port, user)
    with POP3Server(replay=shaped) as replay:
        again = poplib_session(replay.port, user)
    replay.check()
    assert again[1:4] == first[1:4]  # STAT, LIST, UIDL (the greeting's timestamp differs)
    assert [r[2] for r in again[5:-1]] == [r[2] for r in first[5:-1]]  # type: ignore[index]
    assert b"second line" not in shaped.read_bytes()


@needs_dovecot
def test_curl_through_the_proxy_from_dovecot(
    dovecot: tuple[Dovecot, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    server, user = dovecot
    record = tmp_path / "dovecot-curl.jsonl"
    urls = ["", "1", "2"]
    with recording_proxy(f"pop3://127.0.0.1:{server.port}", record, "--keep-bodies") as port:
        first = [curl(f"pop3://127.0.0.1:{port}/{n}", "-u", f"{user}:{PASSWORD}") for n in urls]
    assert [r.returncode for r in first] == [0, 0, 0], [r.stderr for r in first]
    assert first[1].stdout == MESSAGES[0]
    assert len(load_recording(record).connections) == 3
    with POP3Server(replay=record) as replay:
        second = [
            curl(f"pop3://127.0.0.1:{replay.port}/{n}", "-u", f"{user}:{PASSWORD}") for n in urls
        ]
    replay.check()
    assert [r.stdout for r in second] == [r.stdout for r in first]
    assert PASSWORD not in record.read_text(encoding="utf-8")


@needs_dovecot
def test_fetchmail_through_the_proxy_from_dovecot(
    dovecot: tuple[Dovecot, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    server, user = dovecot
    record = tmp_path / "dovecot-fetchmail.jsonl"
    with recording_proxy(f"pop3://127.0.0.1:{server.port}", record, "--keep-bodies") as port:
        first = fetch(tmp_path / "first", port, user)
    assert len(first) == len(MESSAGES)
    with POP3Server(replay=record) as replay:
        second = fetch(tmp_path / "second", replay.port, user)
    replay.check()
    assert second == first
