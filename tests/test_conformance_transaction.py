"""Conformance of the TRANSACTION state, UPDATE and multi-line replies (C-047 to C-106).

Each test names the checklist items it proves. Exact bytes over loopback with RawClient;
poplib where what a stock client does with the reply is the point.
"""

from __future__ import annotations

import poplib
import re
import select

import pytest

from helpers import MakeServer, RawClient, connect
from pop3mock import ConfigurationError, POP3Server

ONE = b"Subject: one\r\n\r\nfirst\r\n"
TWO = b"Subject: two\r\n\r\nsecond\r\n"
THREE = b"Subject: three\r\n\r\nthird\r\n"
MESSAGES = (ONE, TWO, THREE)
UID_LINE = re.compile(rb"\d+ [\x21-\x7e]{1,70}")


pytestmark = pytest.mark.server({"alice": "pw", "empty": "pw"}, maildrops={"alice": MESSAGES})


def retr_reply(message: bytes) -> bytes:
    """RETR's reply for a message without lines starting with a dot."""
    return b"+OK %d octets\r\n" % len(message) + message + b".\r\n"


def test_c051_list_and_uidl_of_an_empty_maildrop_are_the_status_line_and_the_terminator(
    server: POP3Server,
) -> None:
    with connect(server).login("empty", "pw") as client:
        assert client.cmd("STAT") == b"+OK 0 0\r\n"
        assert client.multi("LIST") == b"+OK 0 messages (0 octets)\r\n.\r\n"
        assert client.multi("UIDL") == b"+OK Unique-ids follow.\r\n.\r\n"
        assert client.cmd("QUIT") == b"+OK Logging out, 0 messages deleted.\r\n"


def test_c058_c073_c099_refused_retr_and_top_are_one_line_without_terminator(
    server: POP3Server,
) -> None:
    with connect(server).login("alice", "pw") as client:
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        # One write: a body or a terminator after any -ERR would shift every later reply.
        client.send(b"RETR\r\nRETR 9\r\nRETR 1\r\nTOP 9 1\r\nTOP 1 0\r\nNOOP\r\n")
        assert [client.line() for _ in range(6)] == [
            b"-ERR RETR needs a message number.\r\n",
            b"-ERR There is no message 9.\r\n",
            b"-ERR Message 1 is deleted.\r\n",
            b"-ERR There is no message 9.\r\n",
            b"-ERR Message 1 is deleted.\r\n",
            b"+OK\r\n",
        ]
        assert client.multi("RETR 2") == retr_reply(TWO)
        assert client.cmd("QUIT") == b"+OK Logging out, 1 messages deleted.\r\n"


def test_c059_retr_marks_nothing_for_deletion(server: POP3Server) -> None:
    with connect(server).login("alice", "pw") as client:
        assert client.multi("RETR 1") == retr_reply(ONE)
        assert client.cmd("QUIT") == b"+OK Logging out, 0 messages deleted.\r\n"
    with connect(server).login("alice", "pw") as client:
        assert client.cmd("STAT") == b"+OK 3 %d\r\n" % sum(map(len, MESSAGES))
        assert client.cmd("LIST 1") == b"+OK 1 %d\r\n" % len(ONE)
        assert client.cmd("QUIT") == b"+OK Logging out, 0 messages deleted.\r\n"
    assert [m.data for m in server.mailbox("alice").messages] == list(MESSAGES)


def test_c060_the_retr_status_text_is_free_and_poplib_reads_the_message_regardless(
    make_server: MakeServer,
) -> None:
    srv = make_server(
        {"alice": "pw"}, maildrops={"alice": [ONE]}, texts={"retr": "message follows"}
    )
    with connect(srv).login("alice", "pw") as client:
        assert client.multi("RETR 1") == b"+OK message follows\r\n" + ONE + b".\r\n"
        client.cmd("QUIT")
    pop = poplib.POP3(srv.host, srv.port, timeout=10)
    pop.user("alice")
    pop.pass_("pw")
    response, lines, octets = pop.retr(1)
    assert response == b"+OK message follows"
    assert b"".join(line + b"\r\n" for line in lines) == ONE
    assert octets == len(ONE)
    pop.quit()


def test_c063_dele_leaves_the_other_messages_under_their_numbers(server: POP3Server) -> None:
    with connect(server).login("alice", "pw") as client:
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        assert client.multi("RETR 2") == retr_reply(TWO)
        assert client.multi("RETR 3") == retr_reply(THREE)
        assert client.cmd("LIST 3") == b"+OK 3 %d\r\n" % len(THREE)
        assert client.cmd("RSET") == b"+OK 3 messages, deletion marks removed.\r\n"
        assert client.multi("RETR 1") == retr_reply(ONE)
        client.cmd("QUIT")


@pytest.mark.parametrize("form", ["message", "dovecot", "gmail"])
def test_c075_c076_c078_c079_uidl_lines_are_number_space_uid_and_nothing_else(
    form: str, make_server: MakeServer
) -> None:
    srv = make_server({"alice": "pw"}, maildrops={"alice": MESSAGES}, uid_format=form)
    uids = srv.config.visible_uids(srv.mailbox("alice"))
    with connect(srv).login("alice", "pw") as client:
        listing = client.multi("UIDL")
        lines = listing.split(b"\r\n")
        assert lines[0] == b"+OK Unique-ids follow." and lines[-2:] == [b".", b""]
        assert lines[1:-2] == [b"%d %s" % (n, uid.encode()) for n, uid in enumerate(uids, 1)]
        assert all(UID_LINE.fullmatch(line) for line in lines[1:-2])
        for n, uid in enumerate(uids, 1):
            # fetchmail's fast UIDL checks that the number is echoed.
            assert client.cmd(f"UIDL {n}") == f"+OK {n} {uid}\r\n".encode()
        assert client.cmd("QUIT").startswith(b"+OK ")


def test_c080_uids_survive_a_session_that_ended_without_quit(server: POP3Server) -> None:
    with connect(server).login("alice", "pw") as client:
        before = client.multi("UIDL")
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
    server.journal.wait_for(sessions_ended=1)
    with connect(server).login("alice", "pw") as client:
        assert client.multi("UIDL") == before
        client.cmd("QUIT")


def test_c081_the_same_message_delivered_again_after_deletion_gets_a_new_uid(
    server: POP3Server,
) -> None:
    box = server.mailbox("alice")
    old = box.uids[0]
    with connect(server).login("alice", "pw") as client:
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        assert client.cmd("QUIT") == b"+OK Logging out, 1 messages deleted.\r\n"
    box.add(ONE)  # the same bytes again: a new message
    with connect(server).login("alice", "pw") as client:
        lines = client.multi("UIDL").split(b"\r\n")[1:-2]
        client.cmd("QUIT")
    uids = [line.split(b" ")[1].decode() for line in lines]
    assert uids[:2] == list(box.uids[:2])
    assert old not in uids and len(set(uids)) == 3


@pytest.mark.parametrize(
    "end", ["quit", "client close", pytest.param("autologout", marks=pytest.mark.slow)]
)
def test_c089_the_lock_is_released_however_the_session_ends(
    end: str, make_server: MakeServer
) -> None:
    idle = 0.5 if end == "autologout" else 600.0
    srv = make_server({"alice": "pw"}, maildrops={"alice": MESSAGES}, idle_timeout=idle)
    first = RawClient(srv.host, srv.port)
    # One write: with the short timeout no pause of this test may come before DELE.
    first.send(b"USER alice\r\nPASS pw\r\nDELE 1\r\n")
    assert [first.line() for _ in range(4)][1:] == [
        b"+OK Send PASS.\r\n",
        b"+OK Logged in.\r\n",
        b"+OK Message 1 deleted.\r\n",
    ]
    if end == "quit":
        # The maildrop is unlocked before the reply is sent: no wait at all.
        assert first.cmd("QUIT") == b"+OK Logging out, 1 messages deleted.\r\n"
    elif end == "client close":
        first.close()
        srv.journal.wait_for(sessions_ended=1)
    else:
        assert first.read_all() == b""  # silent close by the server (C-093)
    with connect(srv).login("alice", "pw") as second:  # not -ERR [IN-USE]
        left = MESSAGES[1:] if end == "quit" else MESSAGES
        assert second.cmd("STAT") == b"+OK %d %d\r\n" % (len(left), sum(map(len, left)))
        second.cmd("QUIT")
    first.close()


@pytest.mark.parametrize("personality", ["default", "rfc1939", "dovecot"])
def test_c091_the_autologout_timer_is_ten_minutes_unless_configured(personality: str) -> None:
    assert POP3Server(personality=personality).idle_timeout == 600.0
    assert POP3Server(personality=personality, idle_timeout=2).idle_timeout == 2


@pytest.mark.slow
def test_c092_each_command_restarts_the_autologout_timer(make_server: MakeServer) -> None:
    timeout = 1.2
    srv = make_server({"alice": "pw"}, idle_timeout=timeout)
    with connect(srv).login("alice", "pw") as client:
        # Three commands 0.45 s apart keep the session past the timeout; between them the
        # server stays silent (a close would be readable). A gap would have to stretch
        # by 0.75 s, on a busy machine, for the timer to fire early.
        for _ in range(3):
            readable, _, _ = select.select([client.sock], [], [], 0.45)
            assert readable == []
            assert client.cmd("NOOP") == b"+OK\r\n"
        assert client.read_all() == b""  # once the client is silent, the timer fires
    srv.journal.wait_for(sessions_ended=1)
    assert srv.journal.sessions[0].end_reason == "idle timeout"
    assert [c.verb for c in srv.journal.sessions[0].commands].count("NOOP") == 3


@pytest.mark.parametrize("tag", [".x", "[AUTH]", "en US", "", "*", "toolongtag", "en-", "é"])
def test_c098_c116_a_language_tag_can_start_no_line_with_a_dot_or_a_bracket(tag: str) -> None:
    """C-098, C-116: LANG lines start with the tag, so tags are RFC 5646 subtags only."""
    with pytest.raises(ConfigurationError, match="invalid language tag"):
        POP3Server(users={"alice": "pw"}, languages=[("en", "English"), (tag, "x")])


@pytest.mark.server(
    {"alice": "pw"},
    languages=[("en", "English"), ("de-CH", "Deutsch (Schweiz)"), ("i-default", "...")],
)
def test_c098_the_language_listing_is_tag_space_description(server: POP3Server) -> None:
    with connect(server) as client:
        assert client.multi("LANG") == (
            b"+OK Languages follow.\r\nen English\r\nde-CH Deutsch (Schweiz)\r\n"
            b"i-default ...\r\n.\r\n"
        )
        client.cmd("QUIT")


#: Stored bytes and what RETR must put between its status line and its terminator.
STORED = [
    (b"Subject: lf\n\nline 1\nline 2\n", b"Subject: lf\r\n\r\nline 1\r\nline 2\r\n"),
    (b"Subject: cr\r\rline 1\r", b"Subject: cr\r\n\r\nline 1\r\n"),
    (b"Subject: mixed\r\n\nline 1\rline 2", b"Subject: mixed\r\n\r\nline 1\r\nline 2\r\n"),
    (
        b"Subject: 8bit\r\n\r\n\xe9t\xe9 \xff\x80\x00\r\n",
        b"Subject: 8bit\r\n\r\n\xe9t\xe9 \xff\x80\x00\r\n",
    ),
    ("Subject: utf-8\r\n\r\nGrüße\r\n".encode(), "Subject: utf-8\r\n\r\nGrüße\r\n".encode()),
    (b"", b""),
]


def test_c101_c102_c104_c105_stored_bytes_on_the_wire_and_their_announced_sizes(
    make_server: MakeServer,
) -> None:
    srv = make_server({"alice": "pw"}, maildrops={"alice": [stored for stored, _ in STORED]})
    with connect(srv).login("alice", "pw") as client:
        total = sum(len(wire) for _, wire in STORED)
        assert client.cmd("STAT") == b"+OK %d %d\r\n" % (len(STORED), total)
        for n, (_, wire) in enumerate(STORED, 1):
            assert client.cmd(f"LIST {n}") == b"+OK %d %d\r\n" % (n, len(wire))
            assert client.multi(f"RETR {n}") == retr_reply(wire)
        # The empty message: status line and terminator only, size 0 (C-104).
        assert client.multi(f"RETR {len(STORED)}") == b"+OK 0 octets\r\n.\r\n"
        client.cmd("QUIT")


def test_c106_long_lines_are_sent_whole_and_stock_poplib_refuses_them(
    make_server: MakeServer,
) -> None:
    fits = b"Subject: 1500\r\n\r\n" + b"a" * 1500 + b"\r\n"  # over 998, within poplib's 2048
    too_long = b"Subject: 3000\r\n\r\n" + b"b" * 3000 + b"\r\n"
    srv = make_server({"alice": "pw"}, maildrops={"alice": [fits, too_long]})
    with connect(srv).login("alice", "pw") as client:
        assert client.multi("RETR 1") == retr_reply(fits)
        assert client.multi("RETR 2") == retr_reply(too_long)
        client.cmd("QUIT")
    pop = poplib.POP3(srv.host, srv.port, timeout=10)
    try:
        pop.user("alice")
        pop.pass_("pw")
        assert b"".join(line + b"\r\n" for line in pop.retr(1)[1]) == fits
        with pytest.raises(poplib.error_proto, match="line too long"):
            pop.retr(2)
    finally:
        pop.close()
