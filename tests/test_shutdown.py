"""stop() ends everything, whatever the clients are doing, and leaves nothing behind.

Each test counts the process's socket descriptors and server threads before and after; no
test asserts how long stop() takes, only that it returns with every thread joined.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import ssl
import threading
import tracemalloc
from pathlib import Path

import pytest

from helpers import (
    RawClient,
    client_hello,
    connect,
    nothing_left_behind,
    open_descriptors,
    server_threads,
)
from pop3mock import POP3Server
from pop3mock.server.tls import write_files

PASSWORD = "secret"
SMALL = (b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n")


def session_started(server: POP3Server) -> threading.Event:
    """Set when the server opens its next session record (its thread is running)."""
    started = threading.Event()
    server.journal.subscribe(lambda event, *_: started.set() if event == "session-start" else 0)
    return started


def assert_stopped_cleanly(server: POP3Server, reason: str = "server stopped") -> None:
    server.check()  # a thread that did not stop would be a ServerError here
    assert not server.running
    assert [s.end_reason for s in server.journal.sessions] == [reason] * len(
        server.journal.sessions
    )
    for mailbox in server.users.values():
        assert not mailbox.locked


@pytest.mark.slow
def test_stop_while_a_client_stops_reading_a_10_mb_retr() -> None:
    big = b"Subject: big\r\n\r\n" + (b"x" * 1022 + b"\r\n") * (10 * 1024)
    with nothing_left_behind():
        server = POP3Server(users={"alice": PASSWORD}).start()
        server.mailbox("alice").add(big)
        client = connect(server).login("alice", PASSWORD)
        assert client.cmd("DELE 1").startswith(b"+OK")
        assert client.cmd("RSET").startswith(b"+OK")
        client.send(b"RETR 1\r\n")
        assert client.sock.recv(65536).startswith(b"+OK")  # the reply is flowing; stop reading
        server.stop()
        client.close()
    assert_stopped_cleanly(server)
    assert len(server.mailbox("alice")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_stop_in_the_middle_of_auth(mechanism: str) -> None:
    with nothing_left_behind():
        server = POP3Server(users={"alice": PASSWORD}).start()
        client = connect(server)
        assert client.cmd(f"AUTH {mechanism}").startswith(b"+ ")
        if mechanism == "LOGIN":
            assert client.cmd("YWxpY2U=").startswith(b"+ ")  # "alice"; now the password
        server.stop()
        assert client.read_all() == b""
        client.close()
    assert_stopped_cleanly(server)


@pytest.mark.slow
@pytest.mark.parametrize("cut", [0, 10, None], ids=["nothing", "partial-hello", "full-hello"])
def test_stop_in_the_middle_of_an_implicit_tls_handshake(cut: int | None) -> None:
    with nothing_left_behind():
        server = POP3Server(users={"alice": PASSWORD}, implicit_tls=True)
        started = session_started(server)
        server.start()
        assert server.tls_port is not None
        raw = socket.create_connection((server.host, server.tls_port), timeout=10)
        raw.sendall(client_hello()[:cut])
        assert started.wait(10)
        server.stop()
        raw.close()
    server.check()
    assert len(server.journal.sessions) == 1
    assert server.journal.sessions[0].end_reason is not None


@pytest.mark.slow
def test_stop_in_the_middle_of_an_stls_handshake() -> None:
    with nothing_left_behind():
        server = POP3Server(users={"alice": PASSWORD}, stls=True).start()
        client = connect(server)
        assert client.cmd("STLS").startswith(b"+OK")
        client.send(client_hello()[:40])
        server.journal.wait_for("STLS")
        server.stop()
        client.close()
    server.check()
    assert server.journal.sessions[0].end_reason is not None


class _PausingContext(ssl.SSLContext):
    """A server context whose wrap_socket runs a callback once the socket is wrapped.

    The server swaps its plain socket for the TLS one there: the instant where a stop()
    could shut down the old, already detached socket and leave the new one running.
    """

    on_wrap: object = None

    def wrap_socket(self, *args: object, **kwargs: object) -> ssl.SSLSocket:  # type: ignore[override]
        tls = super().wrap_socket(*args, **kwargs)  # type: ignore[arg-type]
        if callable(self.on_wrap):
            self.on_wrap()
        return tls


@pytest.mark.slow
def test_stop_at_the_instant_the_socket_is_wrapped_for_tls(tmp_path: Path) -> None:
    paths = write_files(str(tmp_path))
    context = _PausingContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(paths["cert"], paths["key"])
    with nothing_left_behind():
        server = POP3Server(
            users={"alice": PASSWORD}, implicit_tls=True, ssl_context=context, idle_timeout=30
        )
        # stop() called by the connection thread itself, right after the swap: it shuts
        # down what it finds and joins every other thread.
        context.on_wrap = server.stop
        server.start()
        assert server.tls_port is not None
        raw = socket.create_connection((server.host, server.tls_port), timeout=10)
        server.journal.wait_for(sessions_ended=1, timeout=10)
        server.stop()  # joins the connection thread too
        raw.close()
    server.check()
    assert server.journal.sessions[0].end_reason == "server stopped"


@pytest.mark.slow
def test_stop_while_a_fault_hangs_the_reply() -> None:
    with nothing_left_behind():
        server = POP3Server(users={"alice": PASSWORD}).start()
        server.mailbox("alice").add(*SMALL)
        server.faults.on("RETR").hang()
        client = connect(server).login("alice", PASSWORD)
        client.send(b"RETR 1\r\n")
        server.journal.wait_for("RETR")
        server.stop()
        assert client.read_all() == b""
        client.close()
    server.check()
    assert server.journal.sessions[0].end_reason == "fault: hang"
    assert not server.mailbox("alice").locked


@pytest.mark.slow
def test_stop_while_a_fault_delays_the_greeting() -> None:
    with nothing_left_behind():
        server = POP3Server(users={"alice": PASSWORD})
        server.faults.on("greeting").delay(3600)
        started = session_started(server)
        server.start()
        client = RawClient(server.host, server.port)
        assert started.wait(10)
        server.stop()
        assert client.read_all() == b""
        client.close()
    assert_stopped_cleanly(server)


@pytest.mark.slow
def test_stop_with_many_sessions_in_every_state_commits_nothing() -> None:
    with nothing_left_behind():
        server = POP3Server(users={f"u{i}": PASSWORD for i in range(12)}).start()
        for i in range(12):
            server.mailbox(f"u{i}").add(*SMALL)
        clients = []
        for i in range(12):
            client = connect(server)
            if i % 3:
                assert client.cmd(f"USER u{i}").startswith(b"+OK")
            if i % 3 == 2:
                assert client.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
                assert client.cmd("DELE 1").startswith(b"+OK")
            clients.append(client)
        server.stop()
        for client in clients:
            assert client.read_all() == b""
            client.close()
    assert_stopped_cleanly(server)
    assert all(len(m) == 2 and m.deleted == () for m in server.users.values())


def test_a_thread_that_does_not_stop_is_reported_by_stop_and_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection thread stuck in user code (here a journal listener) cannot be joined:
    stop() and check() say which thread, instead of hanging or passing in silence."""
    import pop3mock.server._server
    from pop3mock import ServerError

    monkeypatch.setattr(pop3mock.server._server, "_JOIN_TIMEOUT", 0.2)
    release, entered = threading.Event(), threading.Event()

    def stuck_listener(event: str, session: object, command: object) -> None:
        if event == "command" and getattr(command, "verb", None) == "NOOP":
            entered.set()
            release.wait(30)

    server = POP3Server(users={"alice": "secret"})
    server.journal.subscribe(stuck_listener)
    server.start()
    client = None
    try:
        client = connect(server).login("alice", PASSWORD)
        client.send(b"NOOP\r\n")
        assert entered.wait(10)
        with pytest.raises(ServerError, match=r"did not stop within 0\.2 s: \['pop3mock-conn-"):
            server.stop()
        with pytest.raises(ServerError, match="did not stop"):
            server.check()
    finally:
        release.set()
        if client is not None:
            client.close()
        with contextlib.suppress(ServerError):
            server.stop()  # joins the thread, free again
    assert server_threads() == set()


@pytest.mark.slow
def test_after_stop_the_port_is_closed_and_stop_is_idempotent() -> None:
    with nothing_left_behind():
        server = POP3Server().start()
        port = server.port
        server.stop()
        server.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=10)
        POP3Server().stop()  # never started: nothing to do
    with pytest.raises(RuntimeError):
        server.start()  # a stopped server is not restarted


def _one_cycle(i: int) -> None:
    tls = i % 10 == 5
    with POP3Server(users={"alice": PASSWORD}, implicit_tls=tls) as server:
        server.mailbox("alice").add(*SMALL)
        if i % 4 == 0:
            # A session still open at stop(): stop() has to end it.
            client = connect(server).login("alice", PASSWORD)
            assert client.cmd("DELE 1").startswith(b"+OK")
        else:
            client = None
    if client is not None:
        client.close()
    server.check()
    assert len(server.mailbox("alice")) == 2


@pytest.mark.slow
def test_start_stop_cycles_leak_nothing(request: pytest.FixtureRequest) -> None:
    cycles = 1000 if request.config.getoption("--pop3-full-load") else 200
    for i in range(20):  # warm up: the TLS certificate, imports, caches
        _one_cycle(i)
    gc.collect()
    threads, descriptors = server_threads(), open_descriptors()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(cycles):
            _one_cycle(i)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert server_threads() - threads == set()
    assert open_descriptors() - descriptors == set()  # sockets, certificate files, anything
    # One leaked server (journal, mailbox, threads) costs kilobytes: a leak per cycle would
    # show as hundreds of kilobytes here.
    assert grown < 64 * 1024, f"{grown} octets more after {cycles} start/stop cycles"
