"""Faults seen by a real client (poplib, or exact bytes over a socket) over loopback."""

from __future__ import annotations

import poplib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from helpers import connect
from pop3mock import ClientViolationError, POP3Server, UnfiredFaultError

PLAIN = b"Subject: plain\r\nFrom: a@example.org\r\n\r\n" + b"".join(
    b"body line %d\r\n" % i for i in range(40)
)
DOTS = b"Subject: dots\r\n\r\n.leading\r\n.\r\n..two\r\nend\r\n"
SMALL = b"Subject: small\r\n\r\nhello\r\n"
MESSAGES = (PLAIN, DOTS, SMALL)
SEED = 1234
#: A client read timeout for tests whose expected outcome IS the timeout.
SHORT = 0.3


# The server fixture checks at teardown: no server error, and every counted rule fired.
pytestmark = pytest.mark.server(
    {"alice": "pw", "bob": "pw"}, maildrops={"alice": MESSAGES, "bob": [SMALL]}, fault_seed=SEED
)


@contextmanager
def pop(server: POP3Server, user: str = "alice", *, timeout: float = 10.0) -> Iterator[poplib.POP3]:
    # The login has all the time it needs on a busy machine; `timeout` is for what follows.
    client = poplib.POP3(server.host, server.port, timeout=10.0)
    try:
        client.user(user)
        client.pass_("pw")
        client.sock.settimeout(timeout)
        yield client
    finally:
        client.close()


def joined(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def assert_intact(server: POP3Server) -> None:
    """A new session logs in (the lock was released) and finds every message unchanged."""
    with pop(server) as client:
        assert client.stat()[0] == len(MESSAGES)
        for number, message in enumerate(MESSAGES, 1):
            assert joined(client.retr(number)[1]) == message
        client.quit()
    assert [m.data for m in server.mailbox("alice").messages] == list(MESSAGES)


# -- -ERR, raw lines, lies -------------------------------------------------------------------


def test_sys_temp_on_the_nth_retr(server: POP3Server) -> None:
    """The second RETR gets -ERR [SYS/TEMP]; a retry succeeds; the journal names the rule."""
    server.faults.on("RETR").nth(2).error("[SYS/TEMP] storage offline")
    with pop(server) as client:
        assert joined(client.retr(1)[1]) == PLAIN
        with pytest.raises(poplib.error_proto) as info:
            client.retr(2)
        assert info.value.args[0] == b"-ERR [SYS/TEMP] storage offline"
        assert joined(client.retr(2)[1]) == DOTS
        client.quit()
    failed = server.journal.find("RETR")[1]
    assert failed.fault == "RETR #2 -> error [SYS/TEMP] storage offline"
    assert failed.status == "-ERR"
    assert server.journal.sessions[0].faults == ["RETR #2 -> error [SYS/TEMP] storage offline"]
    assert server.faults.unfired() == []


@pytest.mark.parametrize("code", ["SYS/TEMP", "SYS/PERM", "IN-USE", "LOGIN-DELAY", "AUTH"])
def test_response_codes_on_login(server: POP3Server, code: str) -> None:
    """PASS answered with each RFC 2449/3206 code; the login was not run, so a retry works."""
    server.faults.on("PASS").once().error("try again", code=code)
    client = poplib.POP3(server.host, server.port, timeout=10)
    try:
        client.user("alice")
        with pytest.raises(poplib.error_proto) as info:
            client.pass_("pw")
        assert info.value.args[0] == f"-ERR [{code}] try again".encode()
        client.user("alice")
        assert client.pass_("pw").startswith(b"+OK")
        client.quit()
    finally:
        client.close()


def test_in_use_for_one_user_from_the_spec(server: POP3Server) -> None:
    """`PASS user=bob: error [IN-USE] ...` locks bob out; alice logs in as usual."""
    server.faults.add_spec("PASS user=bob: error [IN-USE] mailbox locked")
    with pop(server, "alice") as client:
        assert client.stat()[0] == 3
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\] mailbox locked"), pop(server, "bob"):
        pass


def test_reply_raw_is_sent_as_is(server: POP3Server) -> None:
    """An arbitrary status line: poplib rejects one without +OK/-ERR."""
    server.faults.on("STAT").reply_raw(b"OK 3 1000\r\n")
    with pop(server) as client, pytest.raises(poplib.error_proto) as info:
        client.stat()
    assert info.value.args[0] == b"OK 3 1000"


def test_lying_dele_leaves_the_message(server: POP3Server) -> None:
    """DELE acknowledged but not applied: after QUIT the message is still there."""
    server.faults.on("DELE", 1).lie()
    with pop(server) as client:
        assert client.dele(1) == b"+OK"
        assert client.quit().startswith(b"+OK")
    assert len(server.mailbox("alice")) == 3
    assert server.mailbox("alice").deleted == ()


def test_ok_text_replaces_the_reply(server: POP3Server) -> None:
    """ok("text") answers +OK text without running the command."""
    server.faults.on("DELE").ok("message 2 deleted")
    with pop(server) as client:
        assert client.dele(2) == b"+OK message 2 deleted"
        assert joined(client.retr(2)[1]) == DOTS  # not even marked
        client.quit()
    assert server.mailbox("alice").deleted == ()


# -- time: delays, bandwidth, dribble, hang --------------------------------------------------


def test_short_delay_answers_late_but_intact(server: POP3Server) -> None:
    """A seeded delay in a range: the reply arrives whole; the journal shows the rule."""
    server.faults.on("RETR").delay(0.01, 0.05)
    with pop(server) as client:
        assert joined(client.retr(1)[1]) == PLAIN
    assert server.journal.find("RETR")[0].fault == "RETR -> delay 0.01 0.05"


def test_delay_beyond_the_client_timeout(server: POP3Server) -> None:
    """A 30 s delay: the client's read times out; stop() ends the waiting thread at once."""
    server.faults.on("STAT").delay(30.0)
    with pop(server, timeout=SHORT) as client, pytest.raises(TimeoutError):
        client.stat()


def test_bandwidth_limit_delivers_the_whole_message(server: POP3Server) -> None:
    """A 40 kB message at 800 kB/s comes in 20 paced slices, intact."""
    big = b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n" * 1 + (b"y" * 78 + b"\r\n") * 500
    server.mailbox("bob").add(big)
    server.faults.on("RETR", user="bob").bandwidth(800_000)
    with pop(server, "bob") as client:
        assert joined(client.retr(2)[1]) == big


def test_dribbled_replies_are_reassembled(server: POP3Server) -> None:
    """One octet per write: poplib still reads whole lines."""
    server.faults.on("LIST").dribble(1)
    server.faults.on("RETR", 2).dribble(2)
    with pop(server) as client:
        listing = client.list()[1]
        assert listing == [b"%d %d" % (i, m.size) for i, m in enumerate(_messages(server), 1)]
        assert joined(client.retr(2)[1]) == DOTS


def _messages(server: POP3Server) -> list[object]:
    return list(server.mailbox("alice").messages)


def test_hang_is_woken_by_stop(server: POP3Server) -> None:
    """hang(): the client times out; stopping the server ends the hung connection at once
    (the client still connected)."""
    server.faults.on("RETR").hang()
    with pop(server, timeout=SHORT) as client:
        with pytest.raises(TimeoutError):
            client.retr(1)
        server.stop()
    assert server.journal.sessions[0].end_reason == "fault: hang"


def test_client_that_gives_up_on_a_hang_frees_the_maildrop(server: POP3Server) -> None:
    """hang() without a time: the client times out and closes; the session ends as a client
    close (no UPDATE, lock released) and the next login works while the server runs."""
    server.faults.on("RETR").once().hang()
    with pop(server, timeout=SHORT) as client:
        client.dele(3)
        with pytest.raises(TimeoutError):
            client.retr(1)
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "client closed"
    assert not server.mailbox("alice").locked
    assert_intact(server)


@pytest.mark.slow
@pytest.mark.parametrize("over_tls", [False, True])
def test_giving_up_on_a_hang_is_no_strict_violation(over_tls: bool) -> None:
    """The client did what it should when the server hung: strict mode does not count the
    missing QUIT against it (it still counts a plain close without QUIT)."""
    from pop3mock.server import tls

    with POP3Server(users={"alice": "pw"}, strict=True, implicit_tls=over_tls) as srv:
        srv.mailbox("alice").add(*MESSAGES)
        srv.faults.on("RETR").once().hang()
        if over_tls:
            assert srv.tls_port is not None
            client: poplib.POP3 = poplib.POP3_SSL(
                srv.host, srv.tls_port, context=tls.client_context(), timeout=10.0
            )
        else:
            client = poplib.POP3(srv.host, srv.port, timeout=10.0)
        client.user("alice")
        client.pass_("pw")
        client.sock.settimeout(SHORT)
        with pytest.raises(TimeoutError):
            client.retr(1)
        client.close()
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "client closed"
        assert not srv.mailbox("alice").locked
        assert srv.journal.violations == []
        with pop(srv) as second:  # a plain close without QUIT is still a violation
            second.stat()
        srv.journal.wait_for(sessions_ended=2)
        assert [str(v) for v in srv.journal.violations][-1].endswith(
            "connection closed without QUIT"
        )
    with pytest.raises(ClientViolationError):
        srv.check()


def test_commands_sent_into_a_hang_are_dropped(server: POP3Server) -> None:
    """While the reply hangs, what the client sends is read and ignored (a QUIT commits
    nothing); the client's close then ends the session at once."""
    server.faults.on("RETR").once().hang()
    client = connect(server).login("alice", "pw")
    assert client.cmd("DELE 1").startswith(b"+OK")
    client.send(b"RETR 2\r\n")
    server.journal.wait_for("RETR")
    client.send(b"NOOP\r\nSTAT\r\n" + b"x" * 100_000 + b"\r\nQUIT\r\n")
    client.close()
    server.journal.wait_for(sessions_ended=1)
    session = server.journal.sessions[0]
    assert [c.verb for c in session.commands] == ["USER", "PASS", "DELE", "RETR"]
    assert session.end_reason == "client closed"
    assert_intact(server)


def test_hang_with_a_time_also_ends_when_the_client_closes(server: POP3Server) -> None:
    """hang(T) does not hold the session for T once the client has gone."""
    server.faults.on("RETR").once().hang(3600.0)
    with pop(server, timeout=SHORT) as client, pytest.raises(TimeoutError):
        client.retr(1)
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "client closed"
    assert_intact(server)


def test_client_reset_during_a_hang(server: POP3Server) -> None:
    """An RST from the client during a hang ends the session as a client reset."""
    server.faults.on("RETR").once().hang()
    client = connect(server).login("alice", "pw")
    client.send(b"RETR 1\r\n")
    server.journal.wait_for("RETR")
    client.reset()
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "client reset"
    assert_intact(server)


def test_hang_then_close(server: POP3Server) -> None:
    """hang(close_after=...) goes silent, then closes: the client sees EOF."""
    server.faults.on("RETR").once().hang(0.05)
    with pop(server) as client, pytest.raises(poplib.error_proto, match="-ERR EOF"):
        client.retr(1)
    assert_intact(server)


# -- closing and resetting -------------------------------------------------------------------


def test_close_before_replying(server: POP3Server) -> None:
    """disconnect(): EOF instead of a reply; nothing was sent for RETR; the drop is a fault."""
    server.faults.on("RETR", 1).once().disconnect()
    with pop(server) as client, pytest.raises(poplib.error_proto, match="-ERR EOF"):
        client.retr(1)
    server.journal.wait_for(sessions_ended=1)
    record = server.journal.find("RETR")[0]
    assert (record.status, record.bytes_sent) == ("", 0)
    assert server.journal.sessions[0].end_reason == "fault: close"
    assert_intact(server)


def test_truncated_retr(server: POP3Server) -> None:
    """disconnect(after_bytes=100): exactly the first 100 octets of the reply, then EOF."""
    with connect(server).login("alice", "pw") as client:
        client.send(b"RETR 1\r\n")
        full = client.multiline()
        assert client.cmd("QUIT").startswith(b"+OK")
    server.faults.on("RETR").once().disconnect(after_bytes=100)
    with connect(server).login("alice", "pw") as client:
        client.send(b"RETR 1\r\n")
        assert client.read_all() == full[:100]
    server.journal.wait_for(sessions_ended=2)
    assert server.journal.find("RETR")[1].bytes_sent == 100
    assert_intact(server)


def test_reply_cut_after_lines(server: POP3Server) -> None:
    """disconnect(after_lines=3): the status line and two body lines, then EOF."""
    server.faults.on("RETR").disconnect(after_lines=3)
    with connect(server).login("alice", "pw") as client:
        client.send(b"RETR 1\r\n")
        data = client.read_all()
    assert data.split(b"\r\n")[1:3] == PLAIN.split(b"\r\n")[:2]
    assert data.count(b"\r\n") == 3 and data.endswith(b"\r\n")


def test_mid_retr_disconnect_keeps_every_message(server: POP3Server) -> None:
    """A classic partial download after a DELE: no UPDATE, nothing lost, lock released."""
    server.faults.on("RETR", 2).once().disconnect(after_bytes=30)
    with pop(server) as client:
        client.dele(1)
        with pytest.raises(poplib.error_proto, match="-ERR EOF"):
            client.retr(2)
    assert_intact(server)


def test_reset_mid_retr(server: POP3Server) -> None:
    """reset(after_bytes=...): the client gets ECONNRESET; the mailbox is intact."""
    server.faults.on("RETR").once().reset(after_bytes=50)
    with pop(server) as client, pytest.raises(ConnectionResetError):
        client.retr(1)
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "fault: reset"
    assert server.journal.sessions[0].faults == ["RETR once -> reset after_bytes=50"]
    assert_intact(server)


def test_reset_on_connect_then_a_normal_session(server: POP3Server) -> None:
    """`connect: reset` once: the first connection is refused with RST, the next one works."""
    rule = server.faults.add_spec("connect once: reset")
    with pytest.raises(ConnectionResetError):
        poplib.POP3(server.host, server.port, timeout=10)
    assert_intact(server)
    assert server.faults.fired(rule) == 1


def test_quit_dropped_before_its_reply_does_not_commit(server: POP3Server) -> None:
    """QUIT never answered: UPDATE did not run, the DELE is not applied."""
    server.faults.on("QUIT").once().disconnect()
    with pop(server) as client:
        client.dele(1)
        with pytest.raises(poplib.error_proto, match="-ERR EOF"):
            client.quit()
    assert_intact(server)


@pytest.mark.parametrize("action", ["lie", "error"])
def test_replaced_quit_commits_nothing_and_still_closes(action: str) -> None:
    """A lying or failing QUIT: nothing is deleted, the server closes as after any QUIT, and
    strict mode has nothing to say about the client."""
    with POP3Server(users={"alice": "pw"}, strict=True) as server:
        server.mailbox("alice").add(*MESSAGES)
        getattr(server.faults.on("QUIT").once(), action)()
        client = connect(server).login("alice", "pw")
        assert client.cmd("DELE 1").startswith(b"+OK")
        reply = client.cmd("QUIT")
        assert reply.startswith(b"+OK" if action == "lie" else b"-ERR [SYS/TEMP]")
        assert client.read_all() == b""  # closed by the server
        client.close()
        server.journal.wait_for(sessions_ended=1)
        assert server.journal.sessions[0].end_reason == "quit"
        assert_intact(server)
    server.check()  # no violation, the rule fired


def test_reset_while_logged_in_releases_the_lock(server: POP3Server) -> None:
    """After an RST in TRANSACTION a new session logs in at once (no [IN-USE])."""
    server.faults.on("NOOP").reset()
    with pop(server) as client:
        client.dele(3)
        with pytest.raises(ConnectionResetError):
            client.noop()
    assert_intact(server)


# -- greeting --------------------------------------------------------------------------------


def test_greeting_delay(server: POP3Server) -> None:
    """A late greeting is still a greeting."""
    server.faults.on("greeting").delay(0.02)
    with pop(server) as client:
        assert client.getwelcome().startswith(b"+OK")


def test_no_greeting_hang(server: POP3Server) -> None:
    """No greeting at all: the client's connect times out."""
    server.faults.add_spec("greeting: hang")
    with pytest.raises(TimeoutError):
        poplib.POP3(server.host, server.port, timeout=SHORT)


def test_no_greeting_close(server: POP3Server) -> None:
    """The connection closes before the greeting: EOF."""
    server.faults.on("greeting").disconnect()
    with pytest.raises(poplib.error_proto, match="-ERR EOF"):
        poplib.POP3(server.host, server.port, timeout=10)


def test_err_greeting(server: POP3Server) -> None:
    """-ERR as the greeting: poplib refuses to go on."""
    server.faults.on("greeting").error("[SYS/TEMP] maintenance", then="close")
    with pytest.raises(poplib.error_proto) as info:
        poplib.POP3(server.host, server.port, timeout=10)
    assert info.value.args[0] == b"-ERR [SYS/TEMP] maintenance"


def test_greeting_without_apop_timestamp(server: POP3Server) -> None:
    """No <timestamp>: an APOP client fails cleanly; USER/PASS still works."""
    with pop(server) as client:
        assert b"<" in client.getwelcome()
        client.quit()
    server.faults.add_spec("greeting: corrupt no_timestamp")
    client = poplib.POP3(server.host, server.port, timeout=10)
    try:
        assert b"<" not in client.getwelcome()
        with pytest.raises(poplib.error_proto, match="APOP not supported"):
            client.apop("alice", "pw")
        client.user("alice")
        assert client.pass_("pw").startswith(b"+OK")
        client.quit()
    finally:
        client.close()


# -- corruptions -----------------------------------------------------------------------------


def test_wrong_octet_counts_in_list(server: POP3Server) -> None:
    """LIST once with sizes off by 7; LIST n too; the next LIST is right again."""
    server.faults.add_spec("LIST once: corrupt size delta=7")
    server.faults.on("LIST", 2).corrupt("size", delta=-1)
    sizes = [m.size for m in server.mailbox("alice").messages]
    with pop(server) as client:
        assert [int(x.split()[1]) for x in client.list()[1]] == [s + 7 for s in sizes]
        assert client.list(2) == b"+OK 2 %d" % (sizes[1] - 1)
        assert [int(x.split()[1]) for x in client.list()[1]] == sizes


def test_stat_disagrees_with_list(server: POP3Server) -> None:
    """STAT counts one message more than LIST lists."""
    server.faults.on("STAT").corrupt("stat_count")
    with pop(server) as client:
        assert client.stat()[0] == 4
        assert len(client.list()[1]) == 3


def test_missing_terminator_then_close(server: POP3Server) -> None:
    """No final '.' and the connection closes: poplib reports EOF."""
    server.faults.on("RETR").once().corrupt("no_terminator", then="close")
    with pop(server) as client, pytest.raises(poplib.error_proto, match="-ERR EOF"):
        client.retr(1)
    assert_intact(server)


def test_missing_terminator_leaves_the_client_waiting(server: POP3Server) -> None:
    """No final '.': the client waits for more until its timeout."""
    server.faults.on("LIST").corrupt("no_terminator")
    with pop(server, timeout=SHORT) as client, pytest.raises(TimeoutError):
        client.list()


def test_unstuffed_dots_end_the_message_early(server: POP3Server) -> None:
    """Dots not stuffed: a lone '.' body line ends the message; the rest desyncs the client."""
    server.faults.on("RETR", 2).corrupt("unstuffed")
    with pop(server) as client:
        assert client.retr(2)[1] == [b"Subject: dots", b"", b".leading"]
        with pytest.raises(poplib.error_proto) as info:
            client.noop()
        assert info.value.args[0] == b"..two"


def test_double_stuffed_dots_survive_unstuffing(server: POP3Server) -> None:
    """Dots stuffed twice: after the client's unstuffing every dotted line keeps one extra."""
    server.faults.on("RETR").corrupt("double_stuffed")
    with pop(server) as client:
        assert client.retr(2)[1] == [b"Subject: dots", b"", b"..leading", b"..", b"...two", b"end"]


def test_bare_lf_line_ends(server: POP3Server) -> None:
    """Bare LF on the wire; poplib is lenient and reads the same lines."""
    server.faults.on("RETR").corrupt("bare_lf")
    with connect(server).login("alice", "pw") as client:
        client.send(b"RETR 3\r\n")
        data = client.buf
        while not data.endswith(b"\n.\n"):
            chunk = client.sock.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
        status, _, body = data.partition(b"\n")
        assert status.startswith(b"+OK") and b"\r" not in data
        assert body == SMALL.replace(b"\r\n", b"\n") + b".\n"
        client.buf = b""
        assert client.cmd("QUIT").startswith(b"+OK")
    with pop(server) as client:
        assert joined(client.retr(3)[1]) == SMALL


def test_over_long_line(server: POP3Server) -> None:
    """A 2100-octet line: poplib raises 'line too long'."""
    server.faults.on("RETR").corrupt("long_line")
    with pop(server) as client, pytest.raises(poplib.error_proto, match="line too long"):
        client.retr(3)


def test_garbage_is_the_same_for_the_same_seed() -> None:
    """Garbage instead of STAT's reply: poplib rejects it; one seed, the same garbage."""
    seen = []
    for _ in range(2):
        with POP3Server(users={"alice": "pw"}, fault_seed=SEED) as server:
            server.faults.on("STAT").corrupt("garbage", length=40)
            with pop(server) as client, pytest.raises(poplib.error_proto) as info:
                client.stat()
            seen.append(info.value.args[0])
    assert seen[0] == seen[1] and len(seen[0]) == 40


def test_trailing_data_desyncs_the_next_command(server: POP3Server) -> None:
    """Extra bytes after LIST's terminator are read as the next command's reply."""
    server.faults.on("LIST").once().corrupt("trailing_data")
    with pop(server) as client:
        client.list()
        assert client.noop() == b"+OK unexpected line after the reply"


def test_duplicate_uids(server: POP3Server) -> None:
    """UIDL lists message 2 with message 1's unique-id."""
    server.faults.add_spec("UIDL: corrupt duplicate_uid")
    with pop(server) as client:
        uids = [line.split()[1] for line in client.uidl()[1]]
    assert uids[0] == uids[1] != uids[2]


def test_uids_change_between_sessions(server: POP3Server) -> None:
    """UIDs differ in every session (and from the maildrop's), UIDL n included."""
    server.faults.on("UIDL").corrupt("changing_uid")
    seen = []
    for _ in range(2):
        with pop(server) as client:
            seen.append([line.split()[1].decode() for line in client.uidl()[1]])
            assert client.uidl(1).split()[2].decode() == seen[-1][0]
            client.quit()
    real = list(server.mailbox("alice").uids)
    assert seen[0] != seen[1] and real not in seen


# -- probability, seed, check ----------------------------------------------------------------


def retr_pattern(seed: int) -> list[bool]:
    with POP3Server(users={"alice": "pw"}, fault_seed=seed) as server:
        server.mailbox("alice").add(SMALL)
        server.faults.add_spec("RETR p=0.5: error [SYS/TEMP] flaky")
        pattern = []
        with pop(server) as client:
            for _ in range(16):
                try:
                    client.retr(1)
                    pattern.append(True)
                except poplib.error_proto:
                    pattern.append(False)
        assert server.faults.seed == seed
    return pattern


def test_probability_rule_repeats_with_one_seed() -> None:
    """Two servers with one seed give a client the same pattern of failures."""
    first = retr_pattern(77)
    assert first == retr_pattern(77)
    assert True in first and False in first


def test_unfired_counted_rule_fails_check_with_the_seed() -> None:
    """check() raises for a rule that never reached its nth occurrence, printing the seed."""
    with POP3Server(users={"alice": "pw"}, fault_seed=99) as server:
        server.mailbox("alice").add(SMALL)
        server.faults.on("RETR").nth(5).error()
        with pop(server) as client:
            client.retr(1)
    with pytest.raises(UnfiredFaultError, match="fault seed 99") as info:
        server.check()
    assert "RETR #5 -> error [SYS/TEMP] Fault injected.  (fired 0 of 1, matched 1)" in str(
        info.value
    )
    (short,) = server.faults.shortfalls()
    assert short.rule is server.faults.rules[0]
    assert (short.name, short.fired, short.wanted, short.matched) == (
        "RETR #5 -> error [SYS/TEMP] Fault injected.",
        0,
        1,
        1,
    )


def test_check_faults_false_switches_the_check_off() -> None:
    """POP3Server(check_faults=False): unfired rules are not an error."""
    with POP3Server(check_faults=False) as server:
        server.faults.on("RETR").once().error()
    server.check()


# -- credentials in what a fault leaves behind ---------------------------------------------


def test_a_fired_pass_rule_never_shows_the_password() -> None:
    """The journal names a fired PASS rule with the password masked: in the transcript, the
    command and session records, and str/repr of the journal."""
    secret = "my secret"
    with POP3Server(users={"carol": secret}, fault_seed=SEED) as srv:
        srv.faults.add_spec(f'PASS "{secret}" once: error [AUTH] nope')
        client = poplib.POP3(srv.host, srv.port, timeout=10.0)
        client.user("carol")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] nope"):
            client.pass_(secret)
        client.user("carol")
        client.pass_(secret)
        client.quit()
        srv.journal.wait_for(sessions_ended=1)
    srv.check()
    journal = srv.journal
    session = journal.sessions[0]
    fired = [c for c in session.commands if c.fault]
    assert [c.fault for c in fired] == ["PASS *** once -> error [AUTH] nope"]
    assert session.faults == ["PASS *** once -> error [AUTH] nope"]
    shown = [
        journal.transcript(),
        session.transcript(),
        str(journal),
        repr(journal),
        str(session),
        repr(session),
        *(str(c) for c in session.commands),
        *(repr(c) for c in session.commands),
        *(c.describe() for c in session.commands),
        repr(srv.faults.rules),
    ]
    assert "-- fault: PASS *** once -> error [AUTH] nope" in journal.transcript()
    for text in shown:
        assert secret not in text


def test_an_unfired_pass_rule_never_shows_the_password() -> None:
    """UnfiredFaultError names a PASS rule that never fired with the password masked."""
    with POP3Server(users={"carol": "pw"}, fault_seed=SEED) as srv:
        srv.faults.add_spec("PASS hunter2 once: error [AUTH] nope")
        srv.faults.on("APOP", "carol", "c4c9334bac560ecc979e58001b3e22fb").once().error()
    with pytest.raises(UnfiredFaultError) as info:
        srv.check()
    message = str(info.value)
    assert "PASS *** once -> error [AUTH] nope  (fired 0 of 1, matched 0)" in message
    assert "APOP carol *** once -> " in message
    assert "hunter2" not in message
    assert "c4c9334bac" not in message


def test_one_rule_on_retr_and_top_seen_by_poplib(server: POP3Server) -> None:
    rule = server.faults.on(("RETR", "TOP"), 2).times(2).error("[SYS/TEMP] busy")
    with pop(server) as client:
        with pytest.raises(poplib.error_proto, match=r"SYS/TEMP\] busy"):
            client.retr(2)
        with pytest.raises(poplib.error_proto, match=r"SYS/TEMP\] busy"):
            client.top(2, 99999999)
        assert joined(client.retr(2)[1]) == DOTS  # fired its two times
        assert joined(client.top(1, 0)[1]).startswith(b"Subject: plain")  # other message
        client.quit()
    journal = server.journal
    fired = [(c.line, c.fault) for c in journal.commands if c.fault]
    assert fired == [
        ("RETR 2", "RETR|TOP 2 times=2 -> error [SYS/TEMP] busy"),
        ("TOP 2 99999999", "RETR|TOP 2 times=2 -> error [SYS/TEMP] busy"),
    ]
    assert journal.sessions[0].faults == [f for _, f in fired]
    assert server.faults.fired(rule) == 2
    assert "-- fault: RETR|TOP 2 times=2 -> error [SYS/TEMP] busy" in journal.transcript()


def test_a_rule_on_every_command_meets_an_unknown_one(server: POP3Server) -> None:
    server.faults.on("*", state="TRANSACTION").error("[SYS/TEMP] busy")
    with connect(server).login("alice", "pw") as raw:
        assert raw.cmd("XYZZY 1 2") == b"-ERR [SYS/TEMP] busy\r\n"
        raw.send(b"QUIT\r\n")
        raw.read_all()
    assert server.errors == []
