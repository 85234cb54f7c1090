"""A server shared by many clients, some hostile: limits on what a client can hold."""

from __future__ import annotations

import socket
import threading

import pytest

from pop3mock import POP3Server, ServerError


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
