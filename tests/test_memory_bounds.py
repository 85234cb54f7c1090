"""What a long-running server keeps per session: nothing once the session is over (beyond
what the journal is told to keep), and a bounded record while it runs."""

from __future__ import annotations

import socket

import pytest

from pop3mock import POP3Server

MESSAGE = b"Subject: hi\r\n\r\nhello\r\n"


def session(server: POP3Server, *lines: bytes) -> None:
    """Log in as alice, send `lines` one by one (reading each reply's first chunk), QUIT."""
    with socket.create_connection(server.address, timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for line in (b"USER alice", b"PASS pw", *lines, b"QUIT"):
            sock.sendall(line + b"\r\n")
            first = reader.readline()
            if first.startswith(b"+OK") and line.startswith(b"RETR"):
                while reader.readline() != b".\r\n":
                    pass


def test_random_streams_of_probabilistic_faults_end_with_their_session() -> None:
    with POP3Server(users={"alice": "pw"}, fault_seed=5, journal_keep=10) as server:
        server.mailbox("alice").add(MESSAGE)
        server.faults.on("RETR").probability(0.5).error("[SYS/TEMP] flaky")
        for _ in range(60):
            session(server, b"RETR 1")
        server.journal.wait_for(sessions_ended=60)
        assert server.faults._streams == {}
    server.check()


def fired_pattern(seed: int) -> list[bool]:
    with POP3Server(users={"alice": "pw"}, fault_seed=seed, journal_keep=5) as server:
        server.mailbox("alice").add(MESSAGE)
        server.faults.on("RETR").probability(0.5).error("[SYS/TEMP] flaky")
        fired = []
        for _ in range(30):
            session(server, b"RETR 1", b"RETR 1")
            server.journal.wait_for(sessions_ended=server.journal.total_sessions)
            last = server.journal.sessions[-1]
            fired += [c.fault is not None for c in last.commands if c.verb == "RETR"]
    return fired


def test_a_fault_seed_still_replays_every_session() -> None:
    first = fired_pattern(11)
    assert fired_pattern(11) == first
    assert any(first) and not all(first)


@pytest.mark.parametrize("keep", [1, 3])
def test_wait_for_sessions_ended_counts_the_sessions_no_longer_kept(keep: int) -> None:
    with POP3Server(users={"alice": "pw"}, journal_keep=keep) as server:
        for _ in range(20):
            session(server)
        server.journal.wait_for(sessions_ended=20, timeout=10)
        assert len(server.journal.sessions) <= 2 * keep
    server.check()


def test_wait_for_sessions_ended_times_out_naming_the_count_with_forgotten_ones() -> None:
    with POP3Server(users={"alice": "pw"}, journal_keep=1) as server:
        for _ in range(5):
            session(server)
        server.journal.wait_for(sessions_ended=5)
        with pytest.raises(TimeoutError, match=r"6 ended sessions \(ended: 5, open: 0\)"):
            server.journal.wait_for(sessions_ended=6, timeout=0.05)
