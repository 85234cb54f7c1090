"""End to end with Python's poplib over loopback."""

from __future__ import annotations

import gc
import poplib
import socket
import threading

import pytest

from helpers import RawClient, connect, nothing_left_behind, open_sockets
from pop3mock import POP3Server, ServerError

DOTS = b"Subject: dots\r\n\r\n.leading\r\n.\r\n..two\r\n . space\r\n"
NO_FINAL = b"Subject: nofinal\r\n\r\nno final newline"
UTF8 = "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße, 8-bit body\r\n".encode()
PLAIN = b"Subject: plain\r\nFrom: a@example.org\r\n\r\n" + b"".join(
    b"body line %d\r\n" % i for i in range(10)
)


pytestmark = pytest.mark.server(
    {"alice": "wonderland"}, maildrops={"alice": [PLAIN, DOTS, NO_FINAL, UTF8]}
)


def poplib_login(
    server: POP3Server, user: str = "alice", password: str = "wonderland"
) -> poplib.POP3:
    client = poplib.POP3(server.host, server.port, timeout=10)
    client.user(user)
    client.pass_(password)
    return client


def joined(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def test_every_command(server: POP3Server) -> None:
    c = poplib_login(server)
    count, size = c.stat()
    assert count == 4
    assert size == sum(m.size for m in server.mailbox("alice").messages)
    _, listing, _ = c.list()
    assert [int(x.split()[1]) for x in listing] == [
        m.size for m in server.mailbox("alice").messages
    ]
    assert c.list(2) == b"+OK 2 %d" % len(DOTS)
    _, uids, _ = c.uidl()
    assert [u.split()[1].decode() for u in uids] == list(server.mailbox("alice").uids)
    assert c.uidl(1).split()[2].decode() == server.mailbox("alice").uids[0]
    _, lines, octets = c.retr(1)
    assert joined(lines) == PLAIN and octets == len(PLAIN)
    _, lines, _ = c.top(1, 2)
    assert lines[-2:] == [b"body line 0", b"body line 1"]
    assert c.noop().startswith(b"+OK")
    assert c.dele(1).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="deleted"):
        c.retr(1)
    assert c.rset().startswith(b"+OK")
    assert c.stat()[0] == 4
    assert c.quit().startswith(b"+OK")
    assert server.mailbox("alice").retrieved[server.mailbox("alice").uids[0]] == 2


def test_dot_stuffing_and_no_final_newline_round_trip(server: POP3Server) -> None:
    c = poplib_login(server)
    _, lines, octets = c.retr(2)
    assert joined(lines) == DOTS
    _, lines, octets = c.retr(3)
    assert joined(lines) == NO_FINAL + b"\r\n"
    assert octets == int(c.list(3).split()[2])  # announced size == what is sent
    _, lines, _ = c.retr(4)
    assert joined(lines) == UTF8
    c.quit()


def test_dele_quit_then_new_session_sees_it_gone(server: POP3Server) -> None:
    c = poplib_login(server)
    uids = [u.split()[1] for u in c.uidl()[1]]
    c.dele(1)
    c.dele(3)
    c.quit()
    c = poplib_login(server)
    assert c.stat()[0] == 2
    assert [u.split()[1] for u in c.uidl()[1]] == [uids[1], uids[3]]
    assert [int(x.split()[0]) for x in c.list()[1]] == [1, 2]
    c.quit()
    assert [m.uid for m in server.mailbox("alice").deleted] == [uids[0].decode(), uids[2].decode()]


def test_dropped_connection_deletes_nothing_and_releases_lock(server: POP3Server) -> None:
    c = poplib_login(server)
    c.dele(1)
    c.dele(2)
    c.sock.close()
    c.file.close()
    server.journal.wait_for(sessions_ended=1)
    c = poplib_login(server)  # not [IN-USE]: the lock was released
    assert c.stat()[0] == 4
    c.quit()
    server.journal.wait_for(sessions_ended=2)
    ended = server.journal.sessions[0]
    assert ended.end_reason == "client closed"


def test_second_concurrent_login_gets_in_use(server: POP3Server) -> None:
    first = poplib_login(server)
    second = poplib.POP3(server.host, server.port, timeout=10)
    second.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_("wonderland")
    second.quit()
    assert first.stat()[0] == 4
    first.quit()


def test_wrong_password(server: POP3Server) -> None:
    client = poplib.POP3(server.host, server.port, timeout=10)
    client.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("nope")
    client.quit()


@pytest.mark.slow
def test_ten_megabyte_message() -> None:
    big = b"Subject: big\r\n\r\n" + b"".join(
        b"%09d ......................\r\n" % i for i in range(300_000)
    )
    big += b".\r\n..x\r\n"
    with POP3Server(users={"alice": "pw"}) as srv:
        srv.mailbox("alice").add(big)
        c = poplib_login(srv, password="pw")
        _, lines, octets = c.retr(1)
        assert joined(lines) == big
        assert octets == len(big)
        c.quit()
    srv.check()


@pytest.mark.slow
def test_ten_thousand_message_maildrop() -> None:
    messages = [b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i) for i in range(10_000)]
    with POP3Server(users={"alice": "pw"}) as srv:
        srv.mailbox("alice").add(*messages)
        c = poplib_login(srv, password="pw")
        assert c.stat()[0] == 10_000
        assert len(c.list()[1]) == 10_000
        uids = [u.split()[1] for u in c.uidl()[1]]
        assert len(set(uids)) == 10_000
        assert joined(c.retr(9_999)[1]) == messages[9_998]
        c.quit()
    srv.check()


def test_identical_messages_get_distinct_uids() -> None:
    with POP3Server(users={"alice": "pw"}) as srv:
        srv.mailbox("alice").add(PLAIN, PLAIN)
        c = poplib_login(srv, password="pw")
        uids = [u.split()[1] for u in c.uidl()[1]]
        assert len(set(uids)) == 2
        c.quit()


def test_pipelined_commands_answered_in_order(server: POP3Server) -> None:
    with connect(server) as raw:
        raw.send(b"USER alice\r\nPASS wonderland\r\nSTAT\r\nLIST 1\r\nUIDL 1\r\nNOOP\r\nQUIT\r\n")
        replies = [raw.line() for _ in range(7)]
        assert all(r.startswith(b"+OK") for r in replies)
        assert replies[3] == b"+OK 1 %d\r\n" % len(PLAIN)
        assert raw.read_all() == b""


def test_quit_closes_connection(server: POP3Server) -> None:
    with connect(server) as raw:
        assert raw.cmd("QUIT").startswith(b"+OK")
        assert raw.read_all() == b""


def test_no_unsolicited_bytes_after_reply(server: POP3Server) -> None:
    with connect(server).login() as raw:
        raw.multi("LIST")
        raw.sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            raw.sock.recv(1)


def test_over_long_line_gets_err_and_session_goes_on(server: POP3Server) -> None:
    with connect(server) as raw:
        assert raw.cmd("NOOP " + "x" * 300).startswith(b"-ERR")
        assert raw.cmd("USER " + "x" * 248).startswith(b"+OK")
        raw.send(b"Z" * 1_000_000 + b"\r\n")
        assert raw.line().startswith(b"-ERR")
        assert raw.cmd("QUIT").startswith(b"+OK")


@pytest.mark.slow
def test_idle_timeout_closes_silently_without_update() -> None:
    with POP3Server(users={"alice": "pw"}, idle_timeout=0.5) as srv:
        srv.mailbox("alice").add(PLAIN)
        with RawClient(srv.host, srv.port) as raw:
            # One write at once: no pause of this test can outlast the timeout before DELE.
            raw.send(b"USER alice\r\nPASS pw\r\nDELE 1\r\n")
            assert [raw.line()[:3] for _ in range(4)] == [b"+OK"] * 4
            assert raw.read_all() == b""  # closed, no reply sent
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "idle timeout"
        assert len(srv.mailbox("alice")) == 1
        assert not srv.mailbox("alice").locked


def test_server_exception_answers_err_and_check_raises() -> None:
    from pop3mock import LazyMessage, Message

    def broken() -> Message:
        raise ValueError("storage exploded")

    with POP3Server(users={"alice": "pw"}) as srv:
        srv.mailbox("alice").add(LazyMessage("u1", 10, broken))
        c = poplib_login(srv, password="pw")
        with pytest.raises(poplib.error_proto, match=r"SYS/TEMP"):
            c.retr(1)
        srv.journal.wait_for(sessions_ended=1)
        assert not srv.mailbox("alice").locked
        # The server goes on serving others.
        c = poplib_login(srv, password="pw")
        c.quit()
    with pytest.raises(ServerError, match="storage exploded") as info:
        srv.check()
    assert isinstance(info.value.__cause__, ValueError)
    assert str(info.value) == (
        "the POP3 server failed in session 1, answering 'RETR 1': ValueError: storage exploded\n"
        "(traceback of the first failure above)"
    )


def test_several_server_failures_are_each_named_with_their_session_and_command() -> None:
    from pop3mock import LazyMessage, Message

    calls = iter(range(1, 10))

    def broken() -> Message:
        raise OSError(f"disk {next(calls)} gone")

    with POP3Server(users={"alice": "pw"}) as srv:
        srv.mailbox("alice").add(PLAIN, LazyMessage("u1", 10, broken))
        for command in ("retr", "top"):
            c = poplib_login(srv, password="pw")
            with pytest.raises(poplib.error_proto, match=r"SYS/TEMP"):
                c.retr(2) if command == "retr" else c.top(2, 0)
            srv.journal.wait_for(sessions_ended=len(srv.journal.sessions))
    with pytest.raises(ServerError) as info:
        srv.check()
    assert str(info.value) == (
        "the POP3 server failed 2 times:\n"
        "  session 1, answering 'RETR 2': OSError: disk 1 gone\n"
        "  session 2, answering 'TOP 2 0': OSError: disk 2 gone\n"
        "(traceback of the first failure above)"
    )
    assert info.value.__cause__ is srv.errors[0]


@pytest.mark.slow
def test_stop_with_open_sessions_joins_every_thread_and_closes_sockets() -> None:
    gc.collect()
    sockets_before = open_sockets()
    srv = POP3Server(users={"alice": "pw"}).start()
    clients = [poplib.POP3(srv.host, srv.port, timeout=10) for _ in range(5)]
    srv.stop()  # raises if a thread does not join
    assert not [t for t in threading.enumerate() if t.name.startswith("pop3mock-")]
    for c in clients:
        assert c.sock.recv(1) == b""  # the server side is closed
        c.close()
    assert open_sockets() - sockets_before == set()  # the listener and the server ends are gone
    with pytest.raises(RuntimeError):
        srv.start()


@pytest.mark.slow
def test_start_stop_leaves_no_file_descriptor() -> None:
    with nothing_left_behind():
        for _ in range(50):
            POP3Server().start().stop()


def test_users_from_mailboxes_and_unknown_mailbox() -> None:
    from pop3mock import Mailbox

    box = Mailbox("bob", "builder", [PLAIN])
    srv = POP3Server(users={"bob": box})
    assert srv.mailbox("bob") is box
    with pytest.raises(KeyError, match="no user 'carol'"):
        srv.mailbox("carol")


def test_plugin_fixture(pop3_server: POP3Server) -> None:
    pop3_server.mailbox("user").add(PLAIN)
    c = poplib_login(pop3_server, "user", "password")
    assert c.stat()[0] == 1
    c.quit()
    pop3_server.journal.assert_command("STAT")


def test_internal_error_has_no_code_without_resp_codes() -> None:
    from pop3mock import LazyMessage, Message

    def broken() -> Message:
        raise ValueError("storage exploded")

    with POP3Server(users={"alice": "pw"}, capabilities={"USER", "CAPA", "TOP"}) as srv:
        srv.mailbox("alice").add(LazyMessage("u1", 10, broken))
        c = poplib_login(srv, password="pw")
        with pytest.raises(poplib.error_proto) as info:
            c.retr(1)
        assert info.value.args[0] == b"-ERR Internal error."
    with pytest.raises(ServerError):
        srv.check()


@pytest.mark.slow
@pytest.mark.parametrize("way", ["implicit", "stls"])
def test_idle_timeout_inside_tls_closes_without_update(way: str) -> None:
    from pop3mock.server import tls

    # 1 s: the TLS handshake's round trips must fit in it on a loaded machine.
    with POP3Server(users={"alice": "pw"}, stls=True, implicit_tls=True, idle_timeout=1.0) as srv:
        srv.mailbox("alice").add(PLAIN)
        # All the commands in one write: only the TLS handshake's round trips are left in the
        # timeout's window.
        if way == "implicit":
            assert srv.tls_port is not None
            c = RawClient(srv.host, srv.tls_port).start_tls(tls.client_context())
        else:
            c = RawClient(srv.host, srv.port)
            c.send(b"STLS\r\n")
            assert [c.line()[:3] for _ in range(2)] == [b"+OK"] * 2
            c.start_tls(tls.client_context())
        c.send(b"USER alice\r\nPASS pw\r\nDELE 1\r\n")
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "idle timeout"
        assert [(x.verb, x.status) for x in srv.journal.sessions[0].commands][-3:] == [
            ("USER", "+OK"),
            ("PASS", "+OK"),
            ("DELE", "+OK"),
        ]
        assert len(srv.mailbox("alice")) == 1
        assert not srv.mailbox("alice").locked
        c.close()
    srv.check()


def test_rfc2384_pop_urls() -> None:
    from pop3mock import ConfigurationError

    with POP3Server() as srv:
        base = f"pop://127.0.0.1:{srv.port}"
        assert srv.pop_url() == base
        assert srv.pop_url("alice") == f"pop://alice@127.0.0.1:{srv.port}"
        assert srv.pop_url("a@b") == f"pop://a%40b@127.0.0.1:{srv.port}"
        assert srv.pop_url("x;y:z %") == f"pop://x%3By%3Az%20%25@127.0.0.1:{srv.port}"
        assert srv.pop_url("alice", auth="+APOP") == f"pop://alice;AUTH=+APOP@127.0.0.1:{srv.port}"
        assert srv.pop_url("alice", auth="*").endswith(f";AUTH=*@127.0.0.1:{srv.port}")
        assert srv.pop_url("alice", auth="CRAM-MD5").startswith("pop://alice;AUTH=CRAM-MD5@")
        with pytest.raises(ConfigurationError, match="only with a user"):
            srv.pop_url(auth="PLAIN")
    with POP3Server(host="::1") as v6:
        assert v6.pop_url("bob") == f"pop://bob@[::1]:{v6.port}"


def test_a_failing_journal_listener_is_a_server_failure_and_the_session_goes_on() -> None:
    def listener(event: str, *_: object) -> None:
        if event == "command":
            raise OSError(28, "No space left on device")

    with POP3Server(users={"alice": "pw"}) as srv:
        srv.mailbox("alice").add(PLAIN)
        srv.journal.subscribe(listener)
        c = poplib_login(srv, password="pw")
        assert c.stat() == (1, len(PLAIN))
        c.quit()
    assert srv.journal.sessions[0].end_reason == "quit"
    with pytest.raises(ServerError, match=r"failed 4 times:\n  journal listener .* on command"):
        srv.check()
    assert isinstance(srv.errors[0], OSError)
