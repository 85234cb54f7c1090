"""What a long-running server keeps per session: nothing once the session is over (beyond
what the journal is told to keep), and a bounded record while it runs."""

from __future__ import annotations

import pytest

from helpers import connect
from pop3mock import POP3Server

MESSAGE = b"Subject: hi\r\n\r\nhello\r\n"


def session(server: POP3Server, *lines: bytes) -> None:
    """Log in as alice, send `lines` one by one (reading each reply), QUIT."""
    with connect(server) as client:
        for line in (b"USER alice", b"PASS pw", *lines, b"QUIT"):
            client.answer(line.decode(), multiline=line.startswith(b"RETR"))


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


# -- a long session keeps its first and last commands, and counts the rest ---------------


def long_session(keep: int | None, lines: list[bytes]) -> POP3Server:
    """Run one session of `lines` (after USER/PASS, before QUIT); return the stopped server."""
    server = POP3Server(users={"alice": "pw"}, session_keep_commands=keep)
    server.mailbox("alice").add(MESSAGE, MESSAGE)
    with server:
        session(server, *lines)
        server.journal.wait_for(sessions_ended=1)
    server.check()
    return server


MIDDLE = [b"NOOP"] * 20 + [b"RETR 1"] + [b"NOOP"] * 5


def test_a_long_session_keeps_its_first_and_last_commands() -> None:
    server = long_session(3, MIDDLE)
    record = server.journal.sessions[0]
    assert record.command_count == 29
    assert record.commands_left_out == 23
    assert [c.seq for c in record.commands] == [1, 2, 3, 27, 28, 29]
    assert [c.line for c in server.journal.commands] == [
        "USER alice", "PASS ***", "NOOP", "NOOP", "NOOP", "QUIT",
    ]  # fmt: skip
    assert repr(record).endswith("commands=29 end='quit'>")
    text = record.transcript()
    assert "-- 23 commands left out here (4 to 26; the journal keeps" in text
    assert text.index("C: NOOP") < text.index("left out here") < text.index("C: QUIT")


def test_counts_and_assertions_count_the_commands_left_out() -> None:
    journal = long_session(3, MIDDLE).journal
    assert journal.call_count == 29
    assert journal.count("NOOP") == 25
    assert journal.count("RETR", 1) == 1
    assert journal.count("RETR", 2) == 0
    assert journal.count() == 29
    assert journal.assert_command("RETR", 1, count=1) == []  # counted, not kept
    journal.assert_command("RETR", 2, count=0)
    journal.assert_command("NOOP", count=25)
    journal.wait_for("NOOP", count=25, timeout=1)
    with pytest.raises(AssertionError, match=r"sent 25 times.*\n(.*\n)*.*22 left out"):
        journal.assert_command("NOOP", count=24)
    with pytest.raises(AssertionError, match="counted, not kept"):
        journal.assert_command_once("RETR", 1)


def test_a_run_of_commands_is_never_matched_across_the_gap() -> None:
    journal = long_session(3, MIDDLE).journal
    journal.assert_commands(["USER alice", "PASS", "NOOP"])
    journal.assert_commands(["NOOP", "NOOP", "QUIT"])
    journal.assert_commands(["RETR 1", "USER alice", "NOOP"], any_order=True)
    with pytest.raises(AssertionError, match="Not kept: session 1 left out 23 commands"):
        journal.assert_commands(["PASS", "NOOP", "NOOP", "NOOP"])
    with pytest.raises(AssertionError, match="Missing:  RETR 2"):
        journal.assert_commands(["RETR 1", "RETR 2"], any_order=True)


def test_a_count_that_cannot_be_exact_says_so_instead_of_guessing() -> None:
    # keep=1: one distinct command left out is counted with its arguments, the rest by verb.
    journal = long_session(1, [b"RETR 1", b"RETR 2", b"RETR 1"]).journal
    assert journal.count("RETR") == 3
    assert journal.count("PASS") == 1
    with pytest.raises(ValueError, match=r"cannot count 'RETR 1' exactly: .*3 in session 1"):
        journal.count("RETR", 1)
    with pytest.raises(AssertionError, match="cannot tell whether 'RETR 1' was sent at least"):
        journal.assert_command("RETR", 1)
    with pytest.raises(AssertionError, match="cannot tell whether 'RETR 1' was sent 2 times"):
        journal.assert_command("RETR", 1, count=2)
    with pytest.raises(AssertionError, match=r"sent 0 times|not sent \(or up to 3 more\)"):
        journal.assert_command("RETR", 1, count=5)


def test_distinct_verbs_left_out_are_counted_in_bounded_space() -> None:
    # A client chooses its verbs: 40 different unknown ones must not add 40 counters.
    lines = [f"X{n}".encode() for n in range(40)]
    journal = long_session(1, lines).journal
    record = journal.sessions[0]
    assert len(record.left_out) <= 3  # twice keep, and the one counter of any verb
    assert record.commands_left_out == sum(record.left_out.values())
    assert journal.count() == record.command_count == 43
    with pytest.raises(ValueError, match="cannot count 'X7' exactly"):
        journal.count("X7")


def test_without_a_limit_every_command_is_kept() -> None:
    server = long_session(None, MIDDLE)
    record = server.journal.sessions[0]
    assert len(record.commands) == record.command_count == 29
    assert record.commands_left_out == 0 and record.left_out == {}


def test_session_keep_commands_is_checked() -> None:
    from pop3mock import ConfigurationError

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigurationError, match="session_keep_commands must be"):
            POP3Server(session_keep_commands=bad)


# -- violations: counted whatever is kept --------------------------------------------------


def test_violations_of_forgotten_sessions_still_fail_the_check() -> None:
    from pop3mock import ClientViolationError

    with POP3Server(users={"alice": "pw"}, strict=True, journal_keep=1) as server:
        for _ in range(6):
            with connect(server) as client:
                client.multi("CAPA")  # then leave without QUIT: one violation each
            server.journal.wait_for(sessions_ended=server.journal.total_sessions)
        assert server.journal.violation_count == 6
        assert len(server.journal.violations) <= 2  # of the sessions still kept
    with pytest.raises(ClientViolationError, match=r"6 violations:(.|\n)*and \d more"):
        server.check()


def test_a_session_keeps_a_bounded_number_of_violations_and_counts_them_all() -> None:
    from pop3mock import ClientViolationError

    server = POP3Server(users={"alice": "pw"}, strict=True, session_keep_commands=2)
    with server, connect(server) as client:
        for _ in range(10):
            client.cmd("STAT")  # before login: a violation each time
        client.cmd("QUIT")
        server.journal.wait_for(sessions_ended=1)
    assert server.journal.violation_count == 10
    assert len(server.journal.violations) == len(server.journal.sessions[0].violations) == 4
    with pytest.raises(ClientViolationError, match="10 violations"):
        server.check()


def test_a_session_lists_a_bounded_number_of_fired_faults() -> None:
    server = POP3Server(users={"alice": "pw"}, session_keep_commands=2)
    server.faults.on("NOOP").error("[SYS/TEMP] no")
    with server:
        session(server, *[b"NOOP"] * 10)
        server.journal.wait_for(sessions_ended=1)
    record = server.journal.sessions[0]
    assert record.faults == ["NOOP -> error [SYS/TEMP] no"] * 4
    assert server.faults.fired(server.faults.rules[0]) == 10
