"""Hostile input, faulty clients and security defaults, over real loopback sockets.

Whatever a client sends or does, the server keeps serving: bad lines get -ERR and the
session goes on, a dropped connection changes nothing in the maildrop and releases its lock,
and `check()` finds no server error afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import poplib
import socket
import ssl
import subprocess
import threading
import tracemalloc
import warnings

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import RawClient, client_hello, connect
from pop3mock import (
    ClientViolationError,
    Journal,
    Mailbox,
    POP3Server,
    ServerConfig,
    Session,
    State,
)
from pop3mock.server.tls import client_context

PASSWORD = "wonder land"  # a space inside: PASS takes the rest of the line
MESSAGES = (
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: two\r\n\r\n.dotted\r\nsecond\r\n",
    b"Subject: three\r\n\r\n" + b"line of the third message\r\n" * 200,
)


def snapshot(mailbox: Mailbox) -> tuple[object, ...]:
    """Everything a session could change in a maildrop."""
    return (mailbox.uids, tuple(m.data for m in mailbox.messages), mailbox.deleted)


pytestmark = pytest.mark.server({"alice": PASSWORD}, maildrops={"alice": MESSAGES})


def ended_sessions(server: POP3Server) -> int:
    return sum(1 for s in server.journal.sessions if not s.open)


# -- 1. bad input never kills the server nor the session ---------------------------------

# (line sent, in TRANSACTION state, expected status); every one must leave the session usable.
HOSTILE_LINES = [
    (b"", "-ERR"),
    (b"   ", "-ERR"),
    (b"\t", "-ERR"),
    (b"\0", "-ERR"),
    (b"\0\0\0\0", "-ERR"),
    (b"NOOP\0", "-ERR"),
    (b"\0NOOP", "-ERR"),
    (b"RETR \0", "-ERR"),
    (b"RETR 1\0", "-ERR"),
    (b"\xff\xfe\xfd\xfc", "-ERR"),
    (b"N\xc3\xb6OP", "-ERR"),  # 8-bit verb (valid UTF-8)
    (b"NO\xf6P", "-ERR"),  # 8-bit verb (Latin-1, invalid UTF-8)
    (b"RETR \xc3\x28", "-ERR"),  # invalid UTF-8 argument
    (b"RETR \xd9\xa1", "-ERR"),  # ARABIC-INDIC DIGIT ONE
    (b"RETR \xc2\xb9", "-ERR"),  # SUPERSCRIPT ONE (str.isdigit says yes)
    (b"RETR 99999999999999999999", "-ERR"),
    (b"RETR 9999999999999999999999999999999999999999", "-ERR"),
    (b"DELE 18446744073709551617", "-ERR"),
    (b"RETR -1", "-ERR"),
    (b"DELE -0", "-ERR"),
    (b"LIST +1", "-ERR"),
    (b"RETR 0", "-ERR"),
    (b"RETR 1.0", "-ERR"),
    (b"RETR 0x1", "-ERR"),
    (b"RETR 1e3", "-ERR"),
    (b"RETR 1 2", "-ERR"),
    (b"DELE 1 1", "-ERR"),
    (b"STAT 1", "-ERR"),
    (b"NOOP extra words here", "-ERR"),
    (b"RSET now", "-ERR"),
    (b"QUIT now", "-ERR"),
    (b"TOP 1", "-ERR"),
    (b"TOP 1 -1", "-ERR"),
    (b"TOP 99999999999999999999 0", "-ERR"),
    (b"TOP 1 99999999999999999999", "+OK"),  # more lines than the message has: all of it
    (b"UIDL 99999999999999999999", "-ERR"),
    (b"LIST 1 2 3 4 5 6 7 8 9", "-ERR"),
    (b"USER alice", "-ERR"),
    (b"PASS " + PASSWORD.encode(), "-ERR"),
    (b"AUTH PLAIN", "-ERR"),
    (b"STLS", "-ERR"),
    (b"X" * 300, "-ERR"),  # longer than the 255 octets RFC 2449 allows
    (b"RETR " + b"9" * 250, "-ERR"),
    (b"GET / HTTP/1.1", "-ERR"),
]


@pytest.mark.parametrize(
    ("line", "status"), HOSTILE_LINES, ids=[repr(line[:24]) for line, _ in HOSTILE_LINES]
)
def test_hostile_line_after_login_gets_an_answer_and_the_session_goes_on(
    server: POP3Server, line: bytes, status: str
) -> None:
    before = snapshot(server.mailbox("alice"))
    client = connect(server).login("alice", PASSWORD)
    client.send(line + b"\r\n")
    reply = client.multiline() if line.startswith(b"TOP 1 9") else client.line()
    assert reply.split(b" ")[0].rstrip(b"\r\n") == status.encode(), reply
    assert server.journal.last is not None and server.journal.last.raw == line + b"\r\n"
    assert client.cmd("NOOP").startswith(b"+OK")
    assert client.cmd("STAT").startswith(b"+OK 3 ")
    assert client.cmd("QUIT").startswith(b"+OK")
    assert client.read_all() == b""
    assert snapshot(server.mailbox("alice")) == before


@pytest.mark.parametrize(
    "line",
    [line for line, _ in HOSTILE_LINES if not line.startswith((b"USER", b"PASS", b"AUTH"))],
    ids=repr,
)
def test_hostile_line_before_login_leaves_login_possible(server: POP3Server, line: bytes) -> None:
    client = connect(server)
    client.send(line + b"\r\n")
    assert client.line().startswith(b"-ERR")
    assert client.cmd("USER alice").startswith(b"+OK")
    assert client.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
    assert client.cmd("QUIT").startswith(b"+OK")


@pytest.mark.parametrize("strict", [False, True])
def test_bare_lf_and_bare_cr_are_accepted_and_recorded_as_violations(strict: bool) -> None:
    with POP3Server(users={"alice": PASSWORD}, strict=strict) as srv:
        srv.mailbox("alice").add(*MESSAGES)
        client = connect(srv)
        # Bare LF, bare CR (followed by the next command), then CRLF lines.
        client.send(f"USER alice\nPASS {PASSWORD}\rSTAT\r\nDELE 1\nQUIT\r\n".encode())
        replies = [client.line() for _ in range(5)]
        assert [r[:3] for r in replies] == [b"+OK"] * 5, replies
        assert client.read_all() == b""
        assert len(srv.mailbox("alice")) == 2  # the bare-LF DELE counted
        violations = [str(v) for v in srv.journal.violations]
        assert len(violations) == 3, violations
        assert all("bare LF or CR" in v for v in violations), violations
        assert PASSWORD not in "\n".join(violations)
    if strict:
        with pytest.raises(ClientViolationError, match="bare LF or CR"):
            srv.check()
    else:
        srv.check()


def test_half_closed_bare_cr_quit_is_still_answered_and_commits(server: POP3Server) -> None:
    # A CR at the very end of the data could be the first half of a CRLF; once the client
    # has shut down its side nothing can follow, so it ends the line.
    client = connect(server).login("alice", PASSWORD)
    assert client.cmd("DELE 1").startswith(b"+OK")
    client.send(b"QUIT\r")
    client.sock.shutdown(socket.SHUT_WR)
    assert client.read_all().startswith(b"+OK")
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "quit"
    assert len(server.mailbox("alice")) == 2


@pytest.mark.parametrize("size", [300, 65536, 1 << 20])
def test_long_line_is_cut_answered_once_and_the_session_goes_on(
    server: POP3Server, size: int
) -> None:
    client = connect(server).login("alice", PASSWORD)
    client.send(b"RETR " + b"1" * size + b"\r\n")
    assert client.line().startswith(b"-ERR")
    assert client.cmd("NOOP").startswith(b"+OK")
    assert client.buf == b""  # exactly one -ERR for the whole line
    assert client.cmd("QUIT").startswith(b"+OK")
    record = next(c for c in server.journal.commands if c.raw.startswith(b"RETR 111"))
    assert record.violation is not None and record.status == "-ERR"
    # The journal keeps the line's start only: endless lines cannot fill memory through it.
    assert record.raw.rstrip(b"\r\n") == (b"RETR " + b"1" * size)[: server.journal.reply_cap]
    assert len(record.args[0]) < server.journal.reply_cap


def test_endless_line_keeps_server_memory_bounded() -> None:
    chunk = b"A" * 65536
    total = 32 << 20
    with POP3Server(users={"alice": PASSWORD}, max_line=4096) as srv:
        client = connect(srv)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            view = memoryview(chunk)
            for _ in range(total // len(chunk)):
                client.send(view)  # type: ignore[arg-type]
            # The line finally ends; the next command proves the server read all of it.
            assert client.cmd("\r\nCAPA").startswith(b"-ERR")  # the cut line's answer
            assert client.line().startswith(b"+OK")  # CAPA
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        client.close()
    srv.check()
    assert [c.status for c in srv.journal.commands] == ["-ERR", "+OK"]
    # 32 MB went in; the server held at most its line limit plus one read of it.
    assert peak < 1 << 20, f"server memory grew by {peak} octets for an endless line"


def test_tls_client_hello_on_the_plain_port(server: POP3Server) -> None:
    client = connect(server)
    client.send(client_hello() + b"\r\nUSER alice\r\n")
    # Whatever lines the binary record splits into get -ERR; then USER is answered.
    while True:
        reply = client.line()
        if reply.startswith(b"+OK"):
            break
        assert reply.startswith(b"-ERR"), reply
    assert client.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
    assert client.cmd("QUIT").startswith(b"+OK")


def test_real_tls_client_on_the_plain_port_fails_cleanly(server: POP3Server) -> None:
    with (
        socket.create_connection((server.host, server.port), timeout=10) as raw,
        pytest.raises(ssl.SSLError),
    ):
        client_context().wrap_socket(raw, server_hostname="localhost")
    server.journal.wait_for(sessions_ended=1)
    client = connect(server).login("alice", PASSWORD)
    assert client.cmd("QUIT").startswith(b"+OK")


def test_http_request_on_the_pop3_port(server: POP3Server) -> None:
    client = connect(server)
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"
    client.send(request)
    replies = [client.line() for _ in range(4)]
    assert all(r.startswith(b"-ERR") for r in replies), replies
    assert client.cmd("USER alice").startswith(b"+OK")
    assert client.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
    assert client.cmd("QUIT").startswith(b"+OK")


def test_curl_speaking_http_to_the_pop3_port(server: POP3Server) -> None:
    result = subprocess.run(
        ["/usr/bin/curl", "-sS", "--max-time", "10", f"http://{server.host}:{server.port}/"],
        capture_output=True,
        check=False,
    )
    assert result.returncode != 0  # curl does not take "+OK ..." for an HTTP response
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.commands[0].verb == "GET"
    client = connect(server).login("alice", PASSWORD)
    assert client.cmd("QUIT").startswith(b"+OK")


BIG = b"Subject: big\r\n\r\n" + (b"y" * 1022 + b"\r\n") * 1024  # 1 MiB


def _quiet_count(journal: Journal, verb: str, quiet: float = 0.3) -> int:
    """Wait until no new `verb` command is recorded for `quiet` seconds; return the count."""
    count = journal.count(verb)
    while True:
        try:
            journal.wait_for(verb, count=count + 1, timeout=quiet)
        except TimeoutError:
            return count
        count = journal.count(verb)


def test_client_that_pipelines_and_never_reads_blocks_the_server_not_its_memory() -> None:
    sent = 5000  # 5 GiB of replies if the server buffered them
    with POP3Server(users={"alice": PASSWORD}) as srv:
        srv.mailbox("alice").add(BIG)
        client = connect(srv).login("alice", PASSWORD)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            client.send(b"RETR 1\r\n" * sent)
            answered = _quiet_count(srv.journal, "RETR")
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        # The server sits in sendall; stop() wakes it and ends the session.
        srv.stop()
        client.close()
    srv.check()
    assert 1 <= answered < sent
    assert peak < 4 * len(BIG), f"server memory grew by {peak} octets"
    assert srv.journal.sessions[0].end_reason == "server stopped"
    assert not srv.mailbox("alice").locked


@pytest.mark.slow
def test_client_that_never_reads_is_dropped_by_the_idle_timeout() -> None:
    with POP3Server(users={"alice": PASSWORD}, idle_timeout=0.5) as srv:
        srv.mailbox("alice").add(BIG)
        client = RawClient(srv.host, srv.port)
        # The login too in one write at once: no pause of this test can outlast the timeout.
        login = f"USER alice\r\nPASS {PASSWORD}\r\n".encode()
        client.send(login + b"DELE 1\r\nRSET\r\n" + b"RETR 1\r\n" * 200)
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "idle timeout"
        assert [c.status for c in srv.journal.sessions[0].commands][:5] == ["+OK"] * 5
        assert len(srv.mailbox("alice")) == 1 and not srv.mailbox("alice").locked
        client.close()
    srv.check()


@pytest.mark.slow
def test_silent_client_is_closed_by_the_idle_timeout() -> None:
    with POP3Server(users={"alice": PASSWORD}, idle_timeout=0.5) as srv:
        silent = RawClient(srv.host, srv.port)  # connects and never says a word
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "idle timeout"
        assert silent.read_all().startswith(b"+OK")  # the greeting, then the close
        silent.close()
    srv.check()


@pytest.mark.slow
def test_silent_client_on_the_tls_port_is_closed_by_the_idle_timeout() -> None:
    with POP3Server(users={"alice": PASSWORD}, implicit_tls=True, idle_timeout=0.5) as srv:
        assert srv.tls_port is not None
        silent = socket.create_connection((srv.host, srv.tls_port), timeout=10)
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason.startswith("TLS handshake failed")
        assert silent.recv(100) == b""
        silent.close()
    srv.check()


@pytest.mark.slow
def test_client_silent_in_the_middle_of_a_line_is_closed_without_update() -> None:
    with POP3Server(users={"alice": PASSWORD}, idle_timeout=0.5) as srv:
        srv.mailbox("alice").add(*MESSAGES)
        before = snapshot(srv.mailbox("alice"))
        client = RawClient(srv.host, srv.port)
        # One write at once: no pause of this test can outlast the timeout before QUI.
        client.send(f"USER alice\r\nPASS {PASSWORD}\r\nDELE 1\r\nQUI".encode())  # no line end
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "idle timeout"
        assert [c.status for c in srv.journal.sessions[0].commands] == ["+OK"] * 3
        assert (
            client.read_all().count(b"\r\n") == 4
        )  # greeting, USER, PASS, DELE: autologout is silent
        assert snapshot(srv.mailbox("alice")) == before
        assert not srv.mailbox("alice").locked
        client.close()
    srv.check()


def test_half_close_after_quit_answers_everything_and_commits(server: POP3Server) -> None:
    client = connect(server)
    client.send(f"USER alice\r\nPASS {PASSWORD}\r\nSTAT\r\nDELE 1\r\nQUIT\r\n".encode())
    client.sock.shutdown(socket.SHUT_WR)
    replies = client.read_all().split(b"\r\n")
    assert [r[:3] for r in replies[:5]] == [b"+OK"] * 5 and replies[5:] == [b""]
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "quit"
    assert len(server.mailbox("alice")) == 2


def test_half_close_without_quit_answers_everything_and_does_not_update(
    server: POP3Server,
) -> None:
    before = snapshot(server.mailbox("alice"))
    client = connect(server)
    client.send(f"USER alice\r\nPASS {PASSWORD}\r\nDELE 1\r\nDELE 2\r\nLIST\r\n".encode())
    client.sock.shutdown(socket.SHUT_WR)
    for _ in range(4):
        assert client.line().startswith(b"+OK")
    assert client.multiline() == b"+OK 1 messages (%d octets)\r\n3 %d\r\n.\r\n" % (
        (len(MESSAGES[2]),) * 2
    )
    assert client.read_all() == b""  # then the server closes its side too
    server.journal.wait_for(sessions_ended=1)
    session = server.journal.sessions[0]
    assert session.end_reason == "client closed"
    assert "connection closed without QUIT" in session.violations
    assert snapshot(server.mailbox("alice")) == before
    assert not server.mailbox("alice").locked


# -- 2. faults of the client at every point --------------------------------------------

SCRIPT = [
    "CAPA",
    "USER alice",
    f"PASS {PASSWORD}",
    "STAT",
    "LIST",
    "UIDL",
    "TOP 1 0",
    "RETR 1",
    "DELE 1",
    "RETR 2",
    "DELE 2",
    "LIST",
    "NOOP",
]
MULTILINE = {"CAPA", "LIST", "UIDL", "TOP 1 0", "RETR 1", "RETR 2"}


def run_script(client: RawClient, commands: list[str]) -> None:
    for command in commands:
        client.send(command.encode() + b"\r\n")
        reply = client.multiline() if command in MULTILINE else client.line()
        assert reply.startswith(b"+OK"), (command, reply[:100])


@pytest.mark.parametrize("how", ["close after reply", "reset after reply", "close unanswered"])
def test_connection_dropped_after_any_command_changes_nothing(server: POP3Server, how: str) -> None:
    mailbox = server.mailbox("alice")
    before = snapshot(mailbox)
    for done in range(len(SCRIPT) + 1):
        client = connect(server)
        if how == "close unanswered" and done:
            run_script(client, SCRIPT[: done - 1])
            client.send(SCRIPT[done - 1].encode() + b"\r\n")  # and go away at once
        else:
            run_script(client, SCRIPT[:done])
        if how.startswith("reset"):
            client.reset()
        else:
            client.close()
        server.journal.wait_for(sessions_ended=done + 1)
        assert snapshot(mailbox) == before, f"changed by a session dropped after {done}"
        assert not mailbox.locked, f"still locked after a session dropped after {done}"
    reasons = {s.end_reason for s in server.journal.sessions}
    assert reasons <= {"client closed", "client reset"}, reasons
    # The same script with QUIT does delete: the drops above really were after DELE.
    client = connect(server)
    run_script(client, [*SCRIPT, "QUIT"])
    assert [m.data for m in mailbox.messages] == [MESSAGES[2]]


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_connection_dropped_in_the_middle_of_a_big_retr(reset: bool) -> None:
    big = b"Subject: big\r\n\r\n" + b"z" * (8 << 20) + b"\r\n"
    with POP3Server(users={"alice": PASSWORD}) as srv:
        mailbox = srv.mailbox("alice")
        mailbox.add(big, *MESSAGES)
        before = snapshot(mailbox)
        client = connect(srv).login("alice", PASSWORD)
        assert client.cmd("DELE 2").startswith(b"+OK")
        client.send(b"RETR 1\r\n")
        received = 0
        while received < 100_000:
            received += len(client.sock.recv(65536))
        if reset:
            client.reset()
        else:
            client.close()
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason in ("client closed", "client reset")
        assert snapshot(mailbox) == before and not mailbox.locked
        client = connect(srv).login("alice", PASSWORD)  # the lock is free again
        assert client.cmd("QUIT").startswith(b"+OK")
    srv.check()


def test_quit_sent_but_reply_never_read_still_updates(server: POP3Server) -> None:
    # QUIT reached the server: it enters UPDATE whether or not the client reads the +OK.
    client = connect(server).login("alice", PASSWORD)
    client.send(b"DELE 3\r\nQUIT\r\n")
    client.close()
    server.journal.wait_for(sessions_ended=1)
    assert [m.data for m in server.mailbox("alice").messages] == list(MESSAGES[:2])


def test_many_short_sessions_on_one_mailbox_in_a_row() -> None:
    rounds = 150
    messages = [b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i) for i in range(rounds)]
    with POP3Server(users={"alice": PASSWORD}) as srv:
        mailbox = srv.mailbox("alice")
        mailbox.add(*messages)
        for i in range(rounds):
            # Never "[IN-USE]": each session released the lock.
            client = connect(srv).login("alice", PASSWORD)
            assert client.cmd("STAT").startswith(b"+OK %d " % (rounds - i))
            client.send(b"RETR 1\r\n")
            assert client.multiline() == b"+OK %d octets\r\n%s.\r\n" % (
                len(messages[i]),
                messages[i],
            )
            assert client.cmd("DELE 1").startswith(b"+OK")
            # Every third session is dropped after DELE and redone with QUIT.
            if i % 3 == 0:
                client.close()
                srv.journal.wait_for(sessions_ended=srv.journal.sessions[-1].id)
                assert len(mailbox) == rounds - i
                client = connect(srv).login("alice", PASSWORD)
                assert client.cmd("DELE 1").startswith(b"+OK")
            assert client.cmd("QUIT").startswith(b"+OK")
            assert client.read_all() == b""
        assert len(mailbox) == 0
        assert [m.data for m in mailbox.deleted] == messages
        assert mailbox.logins == rounds + len(range(0, rounds, 3))
    srv.check()
    assert not any(c.status == "-ERR" for c in srv.journal.commands)


@pytest.mark.parametrize("cut", [5, 60, None], ids=["record-header", "partial-hello", "hello"])
def test_client_killed_mid_tls_handshake(cut: int | None) -> None:
    with POP3Server(users={"alice": PASSWORD}, implicit_tls=True) as srv:
        srv.mailbox("alice").add(*MESSAGES)
        assert srv.tls_port is not None
        raw = RawClient(srv.host, srv.tls_port)
        raw.send(client_hello()[:cut])
        if cut is None:
            assert raw.sock.recv(5)[:1] == b"\x16"  # the ServerHello started; we never finish
        raw.reset()
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason.startswith("TLS handshake failed")
        # A real client still gets a full session on the TLS port.
        client = poplib.POP3_SSL(srv.host, srv.tls_port, context=client_context(), timeout=10)
        client.user("alice")
        client.pass_(PASSWORD)
        assert client.stat()[0] == 3
        client.quit()
    srv.check()


def test_plaintext_on_the_tls_port_fails_the_handshake_and_nothing_else() -> None:
    with POP3Server(users={"alice": PASSWORD}, implicit_tls=True) as srv:
        assert srv.tls_port is not None
        raw = RawClient(srv.host, srv.tls_port)
        raw.send(b"USER alice\r\nPASS x\r\n")
        try:
            answer = raw.read_all()
        except ConnectionResetError:  # closed with our unread lines still in its buffer
            answer = b""
        assert answer[:1] in (b"", b"\x15")  # closed, perhaps after a TLS alert
        raw.close()
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason.startswith("TLS handshake failed")
        assert srv.journal.commands == []
    srv.check()


# -- 5. security defaults ------------------------------------------------------------------


def test_binds_to_loopback_by_default_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with POP3Server() as srv:
            assert srv.host == "127.0.0.1"
            assert {s.getsockname()[0] for s in srv._listeners} == {"127.0.0.1"}


@pytest.mark.parametrize("host", ["::1", "localhost", "127.0.0.1"])
def test_explicit_loopback_hosts_do_not_warn(host: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        POP3Server(host=host)  # never started


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.0.2.10"])
def test_any_other_host_warns_when_asked_for(host: str) -> None:
    # Constructed only: a test never listens on a non-loopback address.
    with pytest.warns(UserWarning, match="not loopback"):
        server = POP3Server(host=host)
    assert not server.running


SECRET = "s3cr3t pa55"
SECRET_FORMS = (
    SECRET,
    SECRET.upper(),
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(f"\0alice\0{SECRET}".encode()).decode(),
    base64.b64encode(f"\0alice\0wrong {SECRET}".encode()).decode(),
)


def _logins_with_every_mechanism(server: POP3Server) -> None:
    def b64(data: str) -> str:
        return base64.b64encode(data.encode()).decode()

    exchanges = [
        [f"USER alice\r\nPASS wrong {SECRET}", f"USER alice\r\nPASS {SECRET}"],
        [f"AUTH PLAIN {b64(chr(0) + 'alice' + chr(0) + SECRET)}"],
        [f"AUTH PLAIN {b64(chr(0) + 'alice' + chr(0) + 'wrong ' + SECRET)}"],
        ["AUTH PLAIN", b64(f"\0alice\0{SECRET}")],
        ["AUTH LOGIN", b64("alice"), b64(SECRET)],
    ]
    for steps in exchanges:
        client = connect(server)
        for step in steps:
            for line in step.split("\r\n"):
                client.cmd(line)
        client.cmd("QUIT")
        client.read_all()
        client.close()
    client = connect(server)
    reply = client.cmd(f"APOP alice {hashlib.md5(b'<x>' + SECRET.encode()).hexdigest()}")
    assert reply.startswith(b"-ERR")
    client.close()
    # CRAM-MD5, answered correctly.
    client = connect(server)
    challenge = base64.b64decode(client.cmd("AUTH CRAM-MD5")[2:].strip())
    digest = hmac.new(SECRET.encode(), challenge, hashlib.md5).hexdigest()
    assert client.cmd(b64(f"alice {digest}")).startswith(b"+OK")
    client.cmd("QUIT")
    client.close()
    # A bare-LF PASS: a strict-mode violation that names the command.
    client = connect(server)
    client.send(f"USER alice\nPASS {SECRET}\n".encode())
    client.line()
    client.line()
    client.close()
    # Garbled PASS lines: no space after the verb, so the password reads as part of it.
    for garbled in (f"PASS\t{SECRET}", f"PASS\0{SECRET}", f"PASS{SECRET}", f"pass\t{SECRET}"):
        client = connect(server)
        client.cmd("USER alice")
        assert client.cmd(garbled).startswith(b"-ERR")
        client.cmd("QUIT")
        client.read_all()
        client.close()


#: Pieces of the password a garbled line could leave in a "verb" or its arguments.
SECRET_PIECES = tuple(piece for word in SECRET.split() for piece in (word, word.upper()))


@pytest.mark.parametrize("personality", ["default", "dovecot"])  # dovecot echoes the verb
def test_passwords_are_masked_in_everything_printed(personality: str) -> None:
    with POP3Server(users={"alice": SECRET}, strict=True, personality=personality) as srv:
        _logins_with_every_mechanism(srv)
        srv.journal.wait_for(sessions_ended=len(srv.journal.sessions))
    journal = srv.journal
    assert any(c.verb == "PASS" and SECRET in c.args[0] for c in journal.commands)  # kept
    printed = [
        repr(journal.commands),
        *(str(c) for c in journal.commands),
        *(c.line for c in journal.commands),
        repr(journal.sessions),
        *(s.transcript() for s in journal.sessions),
        "\n".join(str(v) for v in journal.violations),
        repr(journal.violations),
        repr(srv),
        repr(srv.mailbox("alice")),
    ]
    failures = []
    for attempt in (
        lambda: journal.assert_command("PASS", SECRET, count=0),
        lambda: journal.assert_command("PASS", "not " + SECRET),
        lambda: journal.assert_command("AUTH", "PLAIN", SECRET_FORMS[3], count=5),
        lambda: journal.assert_command("APOP", "alice", "0" * 32),
        lambda: journal.wait_for("PASS", SECRET, count=99, timeout=0.01),
        lambda: journal.assert_commands(["USER alice", f"PASS {SECRET}", "RETR 1"]),
        lambda: journal.assert_commands([f"PASS not {SECRET}"], any_order=True),
        lambda: journal.assert_commands([("AUTH", "PLAIN", SECRET_FORMS[4]), "STAT"]),
        srv.check,  # strict mode: the bare-LF PASS is a violation
    ):
        with pytest.raises((AssertionError, TimeoutError, ClientViolationError)) as info:
            attempt()
        failures.append(str(info.value))
    assert "PASS ***" in failures[0]
    for text in printed + failures:
        for secret in SECRET_FORMS + SECRET_PIECES:
            assert secret not in text, f"a password shows in: {text[:300]!r}"


# -- authentication is real ---------------------------------------------------------------

_PASSWORDS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), max_size=40
)


def _session(password: str) -> Session:
    return Session(ServerConfig(), {"alice": Mailbox("alice", password)}, timestamp="<1.2@x>")


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


@pytest.mark.slow
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(password=_PASSWORDS, guess=_PASSWORDS)
def test_wrong_password_never_logs_in(password: str, guess: str) -> None:
    assume(guess != password)
    user_pass = _session(password)
    user_pass.handle(b"USER alice")
    assert not user_pass.handle(b"PASS " + guess.encode()).ok
    plain = _session(password)
    assert not plain.handle(b"AUTH PLAIN " + _b64(f"\0alice\0{guess}".encode())).ok
    login_ = _session(password)
    login_.handle(b"AUTH LOGIN")
    login_.handle(_b64(b"alice"))
    assert not login_.handle(_b64(guess.encode())).ok
    apop = _session(password)
    digest = hashlib.md5(f"<1.2@x>{guess}".encode()).hexdigest()
    assert not apop.handle(f"APOP alice {digest}".encode()).ok
    cram = _session(password)
    challenge = base64.b64decode(cram.handle(b"AUTH CRAM-MD5").text)
    digest = hmac.new(guess.encode(), challenge, hashlib.md5).hexdigest()
    assert not cram.handle(_b64(f"alice {digest}".encode())).ok
    for session in (user_pass, plain, login_, apop, cram):
        assert session.state is State.AUTHORIZATION and session.user is None


@settings(max_examples=50)
@given(password=_PASSWORDS)
def test_right_password_logs_in_with_every_mechanism(password: str) -> None:
    user_pass = _session(password)
    user_pass.handle(b"USER alice")
    assert user_pass.handle(b"PASS " + password.encode()).ok
    plain = _session(password)
    assert plain.handle(b"AUTH PLAIN " + _b64(f"\0alice\0{password}".encode())).ok
    login_ = _session(password)
    login_.handle(b"AUTH LOGIN")
    login_.handle(_b64(b"alice"))
    assert login_.handle(_b64(password.encode())).ok
    apop = _session(password)
    digest = hashlib.md5(f"<1.2@x>{password}".encode()).hexdigest()
    assert apop.handle(f"APOP alice {digest}".encode()).ok
    cram = _session(password)
    challenge = base64.b64decode(cram.handle(b"AUTH CRAM-MD5").text)
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    assert cram.handle(_b64(f"alice {digest}".encode())).ok


def test_unknown_user_never_logs_in_even_with_the_stand_in_secret() -> None:
    # For unknown users the password is compared with a stand-in secret, so that timing does
    # not tell which users exist; typing that stand-in must not log anyone in.
    stand_in = "\0unknown"
    with POP3Server(users={"alice": PASSWORD}) as srv:
        client = connect(srv)
        assert client.cmd("USER nobody").startswith(b"+OK")
        assert client.cmd(f"PASS {stand_in}").startswith(b"-ERR [AUTH]")
        assert client.cmd("AUTH LOGIN").startswith(b"+ ")
        assert client.cmd(_b64(b"nobody").decode()).startswith(b"+ ")
        assert client.cmd(_b64(stand_in.encode()).decode()).startswith(b"-ERR [AUTH]")
        challenge = base64.b64decode(client.cmd("AUTH CRAM-MD5")[2:].strip())
        digest = hmac.new(stand_in.encode(), challenge, hashlib.md5).hexdigest()
        assert client.cmd(_b64(f"nobody {digest}".encode()).decode()).startswith(b"-ERR [AUTH]")
        assert client.cmd("QUIT").startswith(b"+OK")
    srv.check()
    assert all(s.user in (None, "nobody") for s in srv.journal.sessions)


def test_concurrent_wrong_logins_do_not_lock_out_the_right_one(server: POP3Server) -> None:
    errors: list[bytes] = []

    def wrong() -> None:
        client = connect(server)
        for _ in range(20):
            client.cmd("USER alice")
            reply = client.cmd("PASS guess")
            if not reply.startswith(b"-ERR [AUTH]"):
                errors.append(reply)
        client.close()

    threads = [threading.Thread(target=wrong) for _ in range(4)]
    for thread in threads:
        thread.start()
    client = connect(server).login("alice", PASSWORD)
    assert client.cmd("QUIT").startswith(b"+OK")
    for thread in threads:
        thread.join()
    assert errors == []
