"""A server shared by many clients, some hostile: limits on what a client can hold."""

from __future__ import annotations

import socket
import threading
from typing import BinaryIO

import pytest

from helpers import connect
from pop3mock import POP3Server, ServerError


def closed(reader: BinaryIO) -> bool:
    """Whether the server closed: nothing more comes (a reset, if the client had already
    sent more, is a close too)."""
    try:
        return reader.read() == b""
    except ConnectionResetError:
        return True


def refuse_connection_threads(monkeypatch: pytest.MonkeyPatch, times: int) -> list[str]:
    """Make the next `times` starts of a connection thread fail as under a process limit."""
    start = threading.Thread.start
    refused: list[str] = []

    def failing_start(self: threading.Thread) -> None:
        if self.name.startswith("pop3mock-conn-") and len(refused) < times:
            refused.append(self.name)
            raise RuntimeError("can't start new thread")
        start(self)

    monkeypatch.setattr(threading.Thread, "start", failing_start)
    return refused


@pytest.mark.slow
def test_a_connection_whose_thread_cannot_start_gets_sys_temp_and_frees_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(50):
        refused = refuse_connection_threads(monkeypatch, 1)
        server = POP3Server(users={"alice": "pw"}, max_connections=1)
        server.start()
        try:
            with socket.create_connection(server.address, timeout=10) as first:
                reply = first.makefile("rb").read()
            assert reply == b"-ERR [SYS/TEMP] Internal error.\r\n"
            assert len(refused) == 1
            with socket.create_connection(server.address, timeout=10) as second:
                reader = second.makefile("rb")
                assert reader.readline().startswith(b"+OK")  # the slot was freed
                second.sendall(b"QUIT\r\n")
                assert reader.readline().startswith(b"+OK")
        finally:
            server.stop()  # never "cannot join thread before it is started"
        with pytest.raises(ServerError, match="cannot start a thread for the connection from"):
            server.check()
        monkeypatch.undo()


def test_stop_never_joins_a_thread_that_did_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_connection_threads(monkeypatch, 3)
    server = POP3Server(users={"alice": "pw"})
    with server:
        for _ in range(3):
            with socket.create_connection(server.address, timeout=10) as client:
                assert client.makefile("rb").read().startswith(b"-ERR [SYS/TEMP]")
    assert len(server.errors) == 3
    assert not server._threads or all(t.ident is not None for t in server._threads)


# -- the login deadline -------------------------------------------------------------------


@pytest.mark.slow
def test_a_client_that_does_not_log_in_in_time_is_told_and_closed() -> None:
    # It keeps the connection busy, trickling each line in two pieces (so the idle timeout
    # never fires): only the login deadline ends it.
    with POP3Server(users={"alice": "pw"}, login_timeout=0.2, idle_timeout=60) as server:
        for _ in range(5):
            with socket.create_connection(server.address, timeout=10) as sock:
                reader = sock.makefile("rb")
                assert reader.readline().startswith(b"+OK")
                reply = b"+OK"
                while reply.startswith(b"+OK"):
                    try:
                        sock.sendall(b"USER al")
                        sock.sendall(b"ice\r\n")
                    except OSError:
                        pass  # closed already: its last words are waiting to be read
                    reply = reader.readline()
                assert reply == b"-ERR No login within the time allowed.\r\n"
                assert closed(reader)
        server.journal.wait_for(sessions_ended=5)
        assert {s.end_reason for s in server.journal.sessions} == {"login timeout"}
    server.check()


@pytest.mark.slow
def test_a_client_that_logged_in_is_not_held_to_the_login_deadline() -> None:
    with POP3Server(users={"alice": "pw"}, login_timeout=0.5, idle_timeout=60) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            # The login in the first write, before the greeting is read: no pause of this
            # test between its lines can reach the deadline.
            sock.sendall(b"USER alice\r\nPASS pw\r\n")
            reader = sock.makefile("rb")
            assert [reader.readline()[:3] for _ in range(3)] == [b"+OK"] * 3
            session = server.journal.sessions[0]
            # Busy past twice the deadline (a lower bound on the time, never an upper one).
            while server.journal.clock() - session.started < 1.0:
                sock.sendall(b"NOOP\r\n")
                assert reader.readline().startswith(b"+OK")
            sock.sendall(b"QUIT\r\n")
            assert reader.readline().startswith(b"+OK")
        server.journal.wait_for(sessions_ended=1)
        assert server.journal.sessions[0].end_reason == "quit"
    server.check()


def test_the_login_deadline_covers_a_tls_handshake_that_never_ends() -> None:
    with POP3Server(
        users={"alice": "pw"}, implicit_tls=True, login_timeout=0.2, idle_timeout=60
    ) as server:
        assert server.tls_port is not None
        with socket.create_connection((server.host, server.tls_port), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
            server.journal.wait_for(sessions_ended=1)
            assert server.journal.sessions[0].end_reason.startswith("TLS handshake failed")


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), True, "3"])
def test_login_timeout_is_checked(bad: object) -> None:
    from pop3mock import ConfigurationError

    with pytest.raises(ConfigurationError, match="login_timeout must be a positive"):
        POP3Server(login_timeout=bad)  # type: ignore[arg-type]


# -- when full: the oldest connection not logged in gives way -----------------------------


def test_when_full_the_oldest_connection_not_logged_in_gives_way() -> None:
    for _ in range(20):
        users = {"alice": "pw", "bob": "pw"}
        server = POP3Server(users=users, max_connections=2, drop_oldest_when_full=True)
        with server:
            waiting = connect(server)  # connected, never logs in
            alice = connect(server).login("alice", "pw")
            bob = connect(server)  # full: the waiting one makes room
            assert waiting.line() == b"-ERR [SYS/TEMP] Too many connections, try later.\r\n"
            assert closed(waiting.sock.makefile("rb"))
            bob.login("bob", "pw")
            # Full of clients that logged in: a newcomer is refused, nobody is dropped.
            with socket.create_connection(server.address, timeout=10) as late:
                assert late.makefile("rb").read() == (
                    b"-ERR [SYS/TEMP] Too many connections, try later.\r\n"
                )
            for client in (alice, bob):
                assert client.cmd("QUIT").startswith(b"+OK")
                client.close()
            waiting.close()
            server.journal.wait_for(sessions_ended=3)
            reasons = [s.end_reason for s in server.journal.sessions]
        assert reasons == ["dropped: server full", "quit", "quit"]
        server.check()


def test_without_drop_oldest_when_full_a_newcomer_is_refused() -> None:
    with POP3Server(users={"alice": "pw"}, max_connections=1) as server:
        waiting = connect(server)
        with socket.create_connection(server.address, timeout=10) as late:
            assert late.makefile("rb").read().startswith(b"-ERR [SYS/TEMP] Too many")
        assert waiting.cmd("QUIT").startswith(b"+OK")
        waiting.close()
    server.check()


# -- the idle timeout holds while sending -------------------------------------------------

BIG = b"Subject: big\r\n\r\n" + (b"y" * 1022 + b"\r\n") * 10240  # 10 MiB


@pytest.mark.slow
@pytest.mark.parametrize("tls", [False, True])
def test_a_client_that_never_reads_a_big_reply_is_ended_by_the_idle_timeout(tls: bool) -> None:
    from pop3mock.server import tls as pop3tls

    # 1 s: the TLS handshake's round trips must fit in it on a loaded machine.
    with POP3Server(users={"alice": "pw"}, idle_timeout=1.0, implicit_tls=tls) as server:
        server.mailbox("alice").add(BIG)
        port = server.tls_port if tls else server.port
        assert port is not None
        raw = socket.create_connection((server.host, port), timeout=10)
        sock = (
            pop3tls.client_context().wrap_socket(raw, server_hostname="localhost") if tls else raw
        )
        with sock:
            # Login and RETR in one write, and never a read: no pause of this test can
            # outlast the timeout before RETR.
            sock.sendall(b"USER alice\r\nPASS pw\r\nRETR 1\r\n")
            server.journal.wait_for("RETR")
            server.journal.wait_for(sessions_ended=1, timeout=10)
        (record,) = server.journal.sessions
        assert record.end_reason == "idle timeout"
        assert [(c.verb, c.status) for c in record.commands] == [
            ("USER", "+OK"),
            ("PASS", "+OK"),
            ("RETR", "+OK"),
        ]
        assert not server.mailbox("alice").locked
        # Never before the send has made no progress for the idle timeout.
        assert record.ended is not None
        assert record.ended - server.journal.find("RETR")[0].time >= 1.0
    server.check()


def test_the_marker_takes_the_same_limits() -> None:
    from pop3mock.plugin import build_server

    server, _ = build_server(
        {
            "max_connections": 2,
            "drop_oldest_when_full": True,
            "login_timeout": 1.5,
            "session_keep_commands": 5,
        }
    )
    assert (server.max_connections, server.drop_oldest_when_full) == (2, True)
    assert server.login_timeout == 1.5
    assert server.journal.keep_commands == 5
