"""The journal: records, masking, queries, assertions, transcripts, waiting."""

from __future__ import annotations

import poplib
import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock import CommandRecord, Journal, Mailbox, POP3Server, SessionRecord, Violation

SECRET = "hunter2 with spaces"


def feed(
    journal: Journal,
    session: SessionRecord,
    line: str,
    status: str = "+OK",
    reply: str = "",
    *,
    ending: bytes = b"\r\n",
    violation: str | None = None,
    sasl: bool = False,
) -> CommandRecord:
    """Record one command the way the server does (PASS keeps its spaces)."""
    if sasl:
        verb, args = "", (line,)
    else:
        verb, _, rest = line.partition(" ")
        verb = verb.upper()
        args = (rest,) if verb == "PASS" and rest else tuple(rest.split())
    first = f"{status} {reply}".rstrip().encode() + b"\r\n"
    record = CommandRecord(
        session=session.id,
        seq=len(session.commands) + 1,
        time=journal.clock(),
        state="AUTHORIZATION",
        raw=line.encode() + ending,
        verb=verb,
        args=args,
        user="alice",
        status=status,
        reply=reply,
        bytes_sent=len(first),
        violation=violation,
        response=first,
    )
    journal.add_command(session, record)
    return record


def login_session(journal: Journal, *lines: str) -> SessionRecord:
    session = journal.open_session("127.0.0.1:40000", False)
    journal.add_greeting(session, [b"+OK ready\r\n"])
    for line in ("USER alice", f"PASS {SECRET}", *lines):
        feed(journal, session, line)
    return session


@pytest.fixture
def journal() -> Journal:
    return Journal()


# -- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "sasl", "shown"),
    [
        (f"PASS {SECRET}", False, "PASS ***"),
        ("APOP alice c4c9334bac560ecc979e58001b3e22fb", False, "APOP alice ***"),
        ("AUTH PLAIN AGFsaWNlAGh1bnRlcjI=", False, "AUTH PLAIN ***"),
        ("aHVudGVyMg==", True, "***"),
    ],
)
def test_secrets_are_masked_in_every_printed_form(
    journal: Journal, line: str, sasl: bool, shown: str
) -> None:
    session = journal.open_session("127.0.0.1:1", False)
    record = feed(journal, session, line, sasl=sasl)
    secret = line.split()[-1]
    printed = [
        repr(record),
        str(record),
        record.describe(),
        repr(session),
        session.transcript(),
        journal.transcript(),
        repr(journal.commands),
    ]
    assert all(secret not in text for text in printed)
    assert shown in session.transcript()
    assert record.secret
    # The secret is still there as data for a test that wants to check it.
    assert secret.encode() in record.raw


def test_assertion_messages_mask_the_password(journal: Journal) -> None:
    login_session(journal, "STAT")
    with pytest.raises(AssertionError) as info:
        journal.assert_command("PASS", "wrong password")
    with pytest.raises(AssertionError) as never:
        journal.assert_command("PASS", count=0)
    with pytest.raises(AssertionError) as seq:
        journal.assert_commands(["USER alice", f"PASS {SECRET}", "LIST"])
    for failure in (info, never, seq):
        assert "hunter2" not in str(failure.value)
        assert "wrong password" not in str(failure.value)
        assert "PASS ***" in str(failure.value)


# -- queries -------------------------------------------------------------------------------


def test_unittest_mock_style_queries(journal: Journal) -> None:
    assert not journal.called
    assert journal.call_count == 0
    assert journal.last is None
    login_session(journal, "STAT", "RETR 1", "RETR 2", "TOP 1 10")
    assert journal.called
    assert journal.call_count == 6
    assert journal.last is not None and journal.last.line == "TOP 1 10"
    assert [c.line for c in journal.find("retr")] == ["RETR 1", "RETR 2"]
    assert journal.count("RETR", 2) == 1
    assert journal.count("TOP", 1) == 1  # leading arguments match
    assert journal.count("PASS", SECRET) == 1
    assert journal.count(user="bob") == 0
    assert journal.count(session=1) == 6
    assert journal.count() == 6


def test_find_by_session(journal: Journal) -> None:
    login_session(journal, "RETR 1")
    login_session(journal, "RETR 1", "RETR 1")
    assert journal.count("RETR", session=1) == 1
    assert journal.count("RETR", session=2) == 2


# -- assert_command --------------------------------------------------------------------------


def test_assert_command_counts(journal: Journal) -> None:
    login_session(journal, "RETR 1", "RETR 2", "RETR 2", "QUIT")
    assert [c.line for c in journal.assert_command("RETR", 2, count=2)] == ["RETR 2"] * 2
    journal.assert_command("RETR")
    journal.assert_command("DELE", count=0)
    assert journal.assert_command_once("RETR", 1).seq == 3
    with pytest.raises(AssertionError, match="to be sent once, but it was sent 2 times"):
        journal.assert_command_once("RETR", "2")


def test_assert_command_failure_shows_expected_actual_and_near_misses(journal: Journal) -> None:
    login_session(journal, "STAT", "RETR 1", "RETR 2", "QUIT")
    with pytest.raises(AssertionError) as info:
        journal.assert_command("RETR", 3)
    assert str(info.value) == (
        "expected 'RETR 3' to be sent at least once, but it was not sent.\n"
        "  Expected: RETR 3  (at least once)\n"
        "  Actual:   not sent\n"
        "  Near misses (RETR with other arguments, user or session):\n"
        "    session 1, command 4: RETR 1 -> +OK\n"
        "    session 1, command 5: RETR 2 -> +OK\n"
        "  Commands sent (6):\n"
        "    session 1: USER alice, PASS ***, STAT, RETR 1, RETR 2, QUIT"
    )


def test_assert_command_never_sent_lists_the_offenders(journal: Journal) -> None:
    login_session(journal, "DELE 1", "DELE 2", "QUIT")
    with pytest.raises(AssertionError) as info:
        journal.assert_command("DELE", count=0)
    text = str(info.value)
    assert text.startswith("expected 'DELE' never to be sent, but it was:\n")
    assert "session 1, command 3: DELE 1 -> +OK" in text
    assert "session 1, command 4: DELE 2 -> +OK" in text


def test_assert_command_filters_by_user(journal: Journal) -> None:
    login_session(journal, "STAT")
    journal.assert_command("STAT", user="alice")
    with pytest.raises(AssertionError, match="for user 'bob'") as info:
        journal.assert_command("STAT", user="bob")
    assert "Near misses" in str(info.value)


def test_assert_command_with_no_commands(journal: Journal) -> None:
    with pytest.raises(AssertionError, match="Commands sent: none"):
        journal.assert_command("QUIT")


# -- assert_commands -----------------------------------------------------------------------


def test_assert_commands_is_a_contiguous_subsequence(journal: Journal) -> None:
    login_session(journal, "STAT", "RETR 1", "DELE 1", "QUIT")
    journal.assert_commands(["USER alice", "PASS", "STAT"])
    journal.assert_commands([("RETR", 1), ("DELE", "1"), "quit"])
    journal.assert_commands([])
    with pytest.raises(AssertionError) as info:
        journal.assert_commands(["STAT", "DELE 1"])  # RETR 1 in between
    assert str(info.value) == (
        "expected these commands in a row, in this order:\n"
        "  Expected: STAT, DELE 1\n"
        "  Closest:  session 1, commands 3-3 match the first 1, then\n"
        "            command 4 is 'RETR 1', not 'DELE 1'\n"
        "  Commands sent (6):\n"
        "    session 1: USER alice, PASS ***, STAT, RETR 1, DELE 1, QUIT"
    )


def test_assert_commands_does_not_span_sessions(journal: Journal) -> None:
    login_session(journal, "QUIT")
    login_session(journal, "STAT")
    journal.assert_commands(["QUIT"], session=1)
    with pytest.raises(AssertionError, match="the session has no more commands"):
        journal.assert_commands(["QUIT", "USER alice"])
    with pytest.raises(AssertionError, match="'QUIT' was never sent"):
        journal.assert_commands(["QUIT"], session=2)


def test_assert_commands_any_order(journal: Journal) -> None:
    login_session(journal, "RETR 2", "RETR 1", "QUIT")
    journal.assert_commands(["RETR 1", "RETR 2", "USER"], any_order=True)
    with pytest.raises(AssertionError) as info:
        journal.assert_commands(["RETR 1", "RETR 1", "DELE 1"], any_order=True)
    text = str(info.value)
    assert "  Missing:  RETR 1, DELE 1\n" in text
    assert "Near misses for 'RETR 1':\n    session 1, command 3: RETR 2 -> +OK" in text


def test_assert_no_sessions(journal: Journal) -> None:
    journal.assert_no_sessions()
    login_session(journal)
    with pytest.raises(AssertionError, match="expected no connection, but 1 were made"):
        journal.assert_no_sessions()


@pytest.mark.slow
@given(
    verb=st.sampled_from(["USER", "STAT", "LIST", "RETR", "TOP", "UIDL", "DELE"]),
    args=st.lists(st.text(alphabet="abcXYZ019.-_", min_size=1, max_size=8), max_size=3),
    keep=st.integers(min_value=0, max_value=3),
)
def test_a_line_pattern_matches_its_own_command(verb: str, args: list[str], keep: int) -> None:
    journal = Journal()
    session = journal.open_session("127.0.0.1:1", False)
    feed(journal, session, " ".join([verb, *args]))
    journal.assert_command_once(verb.lower(), *args[:keep])
    journal.assert_commands([" ".join([verb.lower(), *args[:keep]])])
    journal.assert_commands([(verb, *args)], any_order=True)


# -- transcripts ---------------------------------------------------------------------------


def test_transcript_shows_both_sides_and_odd_line_ends(journal: Journal) -> None:
    session = login_session(journal)
    feed(journal, session, "NOOP", ending=b"\n", violation="bare LF")
    journal.note(session, violation="connection closed without QUIT")
    journal.close_session(session, "client closed")
    assert session.transcript() == (
        "session 1 from 127.0.0.1:40000, user 'alice'\n"
        "S: +OK ready\n"
        "C: USER alice\n"
        "S: +OK\n"
        "C: PASS ***\n"
        "S: +OK\n"
        "C: NOOP  [line ended by \\n, not CRLF]\n"
        "S: +OK\n"
        "-- ended: client closed"
    )
    assert session.client_bytes == f"USER alice\r\nPASS {SECRET}\r\nNOOP\n".encode()
    assert session.server_bytes == b"+OK ready\r\n" + b"+OK\r\n" * 3


def test_violations_carry_their_position(journal: Journal) -> None:
    session = login_session(journal)
    feed(journal, session, "RETR x", "-ERR", "Invalid message number.", violation="bad number")
    journal.note(session, violation="connection closed without QUIT")
    early = journal.open_session("127.0.0.1:2", False)
    journal.note(early, violation="pipelined")
    found = journal.violations
    assert [str(v) for v in found] == [
        "session 1, command 3 'RETR x': bad number",
        "session 1, after command 3: connection closed without QUIT",
        "session 2, before any command: pipelined",
    ]
    assert found[0] == Violation(1, "bad number", session.commands[2])
    assert session.violations == ["RETR x: bad number", "connection closed without QUIT"]
    assert journal.violation_report(limit=1) == (
        "the client broke the POP3 protocol (strict mode), 3 violations:\n"
        "  session 1, command 3 'RETR x': bad number\n"
        "      C: RETR x\n"
        "      S: -ERR Invalid message number.\n"
        "  ... and 2 more"
    )


@pytest.mark.slow
def test_big_replies_are_capped_in_memory_and_said_so() -> None:
    body = b"".join(b"line %06d of a large message\r\n" % i for i in range(40_000))
    message = b"Subject: big\r\n\r\n" + body
    with POP3Server(users={"alice": "pw"}) as server:
        server.mailbox("alice").add(message)
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("pw")
        _, _, octets = client.retr(1)
        client.quit()
        assert octets == len(message)
    retr = server.journal.find("RETR")[0]
    assert len(retr.response) == server.journal.reply_cap == 4096
    assert retr.bytes_sent > len(message)
    assert retr.response_truncated
    transcript = server.journal.sessions[0].transcript(max_lines=3)
    assert re.search(
        r"C: RETR 1\nS: \+OK \d+ octets\nS: Subject: big\nS:\nS: \[\.\.\. \d+ more lines\]",
        transcript,
    )
    assert f"S: [... {retr.bytes_sent - 4096} more octets sent, not kept" in transcript
    server.check()


def test_server_bytes_are_what_a_fault_sent() -> None:
    with POP3Server(users={"alice": "pw"}) as server:
        server.mailbox("alice").add(b"Subject: a\r\n\r\nhello\r\n")
        server.faults.on("STAT").error("[SYS/TEMP] try later")
        server.faults.on("LIST").disconnect(after_bytes=5)
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("pw")
        with pytest.raises(poplib.error_proto, match="SYS/TEMP"):
            client.stat()
        with pytest.raises((poplib.error_proto, EOFError, OSError)):
            client.list()
        client.close()
        server.journal.wait_for(sessions_ended=1)
    stat, listing = server.journal.find("STAT")[0], server.journal.find("LIST")[0]
    assert stat.response == b"-ERR [SYS/TEMP] try later\r\n"
    assert stat.fault is not None and "error" in stat.fault
    assert listing.response == b"+OK 1"
    transcript = server.journal.transcript()
    assert "S: -ERR [SYS/TEMP] try later\n-- fault: STAT -> error" in transcript
    assert "S: +OK 1  [no CRLF]" in transcript
    assert transcript.endswith("-- ended: fault: close")


@pytest.mark.slow
def test_stls_is_marked_in_the_transcript() -> None:
    from pop3mock.server.tls import client_context

    with POP3Server(users={"alice": "pw"}, stls=True) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.stls(client_context())
        client.user("alice")
        client.pass_("pw")
        client.quit()
        server.journal.wait_for(sessions_ended=1)
    session = server.journal.sessions[0]
    assert session.tls and session.tls_after == 2  # poplib asks CAPA first
    assert "C: STLS\nS: +OK Begin TLS negotiation now.\n-- TLS started\nC: USER alice" in (
        session.transcript()
    )


# -- waiting and streaming -------------------------------------------------------------------


def test_wait_for_wakes_on_a_command_from_another_thread(journal: Journal) -> None:
    session = journal.open_session("127.0.0.1:1", False)
    ready = threading.Event()

    def client() -> None:
        ready.wait()
        feed(journal, session, "STAT")
        feed(journal, session, "QUIT")
        journal.close_session(session, "quit")

    thread = threading.Thread(target=client)
    thread.start()
    ready.set()
    journal.wait_for("QUIT", timeout=10)
    journal.wait_for(sessions_ended=1, timeout=10)
    thread.join()
    assert journal.count("STAT") == 1


@pytest.mark.parametrize(
    "command", [{"verb": "QUIT"}, {"user": "alice"}, {"session": 1}, {"count": 2}]
)
def test_wait_for_refuses_a_command_and_sessions_ended_together(
    journal: Journal, command: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="not both"):
        journal.wait_for(sessions_ended=1, timeout=0, **command)  # type: ignore[arg-type]


def test_a_journal_that_keeps_the_last_sessions_forgets_the_older_ended_ones() -> None:
    journal = Journal(keep_sessions=3)
    held = journal.open_session("peer", False)  # open all along: never forgotten
    for n in range(20):
        record = journal.open_session("peer", False)
        feed(journal, record, f"NOOP {n}")
        journal.close_session(record, "quit")
    sessions = journal.sessions
    assert held in sessions and len(sessions) <= 1 + 2 * 3
    assert [s.id for s in sessions][-3:] == [19, 20, 21]
    assert {c.session for c in journal.commands} == {s.id for s in sessions} - {held.id}
    assert (journal.total_sessions, journal.total_commands) == (21, 20)
    with pytest.raises(ValueError, match="keep_sessions"):
        Journal(keep_sessions=0)


def test_wait_for_timeout_says_what_it_saw(journal: Journal) -> None:
    login_session(journal, "STAT")
    with pytest.raises(TimeoutError) as info:
        journal.wait_for("PASS", SECRET, count=2, timeout=0.01)
    assert "waited 0.01 s for 2 x 'PASS ***' (seen: 1)" in str(info.value)
    assert "session 1: USER alice, PASS ***, STAT" in str(info.value)
    with pytest.raises(TimeoutError, match=r"1 ended sessions \(ended: 0, open: 1\)"):
        journal.wait_for(sessions_ended=1, timeout=0.01)


def test_subscribers_see_every_event_in_order(journal: Journal) -> None:
    events: list[tuple[str, int, str | None]] = []
    journal.subscribe(lambda event, s, c: events.append((event, s.id, c and c.line)))
    session = login_session(journal)
    journal.close_session(session, "quit")
    assert events == [
        ("session-start", 1, None),
        ("command", 1, "USER alice"),
        ("command", 1, "PASS ***"),
        ("session-end", 1, None),
    ]
    assert repr(journal) == "<Journal 1 sessions, 2 commands>"
    journal.clear()
    assert journal.sessions == [] and journal.violations == []


def test_a_password_after_a_tab_is_masked_too() -> None:
    from helpers import RawClient

    with POP3Server(users={"alice": "tab-secret"}) as server:
        with RawClient(server.host, server.port) as raw:
            raw.line()
            raw.cmd("USER alice")
            assert raw.cmd("PASS\ttab-secret").startswith(b"-ERR")
            raw.cmd("QUIT")
        server.journal.wait_for(sessions_ended=1)
        printed = [repr(server.journal.commands), server.journal.sessions[0].transcript()]
        printed += [str(c) for c in server.journal.commands]
        assert all("tab-secret" not in text for text in printed)


def test_the_journal_keeps_one_retr_reply_for_every_retrieval_of_a_message() -> None:
    # Memory per RETR stays flat: each record refers to the message's reply, no copy.
    box = Mailbox("alice", "wonderland", [b"Subject: x\r\n\r\nhello\r\n"])
    with POP3Server(users={"alice": box}) as server:
        client = poplib.POP3(server.host, server.port)
        client.user("alice")
        client.pass_("wonderland")
        for _ in range(3):
            assert client.retr(1)[1] == [b"Subject: x", b"", b"hello"]
        client.quit()
    replies = [c.response for c in server.journal.commands if c.verb == "RETR"]
    assert len(replies) == 3
    assert replies[0].startswith(b"+OK") and replies[0].endswith(b"hello\r\n.\r\n")
    assert replies[1] is replies[0] and replies[2] is replies[0]


@given(
    keep=st.sampled_from([None, 1, 2, 3]),
    steps=st.lists(st.tuples(st.sampled_from(["open", "end", "clear"]), st.integers(0, 9))),
)
def test_ended_sessions_counts_each_end_since_the_last_clear(
    keep: int | None, steps: list[tuple[str, int]]
) -> None:
    # The model: a session counts once it ends, unless a clear() came between its start and
    # its end (its record was gone by then); clear() starts the count again from zero.
    journal = Journal(keep_sessions=keep)
    open_records: list[SessionRecord] = []
    cleared_while_open: set[int] = set()
    expected = 0
    for action, pick in steps:
        if action == "open":
            open_records.append(journal.open_session("peer", False))
        elif action == "end" and open_records:
            record = open_records.pop(pick % len(open_records))
            journal.close_session(record, "quit")
            if record.id not in cleared_while_open:
                expected += 1
        elif action == "clear":
            journal.clear()
            cleared_while_open.update(r.id for r in open_records)
            expected = 0
        assert journal.ended_sessions == expected
    # Ending a session twice counts it once.
    for record in open_records:
        journal.close_session(record, "quit")
        journal.close_session(record, "quit again")
    ended = sum(1 for r in open_records if r.id not in cleared_while_open)
    assert journal.ended_sessions == expected + ended


def test_a_session_open_when_the_journal_is_cleared_does_not_end_a_wait_after_it() -> None:
    journal = Journal()
    before = journal.open_session("peer", False)
    journal.clear()
    after = journal.open_session("peer", False)
    journal.close_session(before, "quit")
    with pytest.raises(TimeoutError, match=r"1 ended sessions \(ended: 0, open: 1\)"):
        journal.wait_for(sessions_ended=1, timeout=0.01)
    journal.close_session(after, "quit")
    journal.wait_for(sessions_ended=1, timeout=5)
    assert journal.ended_sessions == 1
