"""Connection threads: reused from one connection to the next, all joined by stop()."""

from __future__ import annotations

import poplib
import queue
import threading

import pytest

from pop3mock import POP3Server


def _session(server: POP3Server, user: str = "alice") -> None:
    client = poplib.POP3(server.host, server.port, timeout=10)
    client.user(user)
    client.pass_("secret")
    assert client.stat() == (1, 6)
    client.quit()


def _conn_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("pop3mock-conn-")}


class _Handoff:
    """The server's queue of connections for idle threads, telling when a thread waits on it."""

    def __init__(self) -> None:
        self.connections: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.idle = threading.Semaphore(0)

    def put(self, item: object) -> None:
        self.connections.put(item)

    def get(self) -> object:
        # Called by a connection thread that has already counted itself idle.
        self.idle.release()
        return self.connections.get()


@pytest.mark.slow
def test_sequential_sessions_are_served_by_reused_threads() -> None:
    sessions = 200
    served_by: list[str] = []
    with POP3Server(users={"alice": "secret"}) as server:
        server.mailbox("alice").add(b"Hi\r\n\r\n")
        handoff = server._handoff = _Handoff()  # type: ignore[assignment]
        server.journal.subscribe(
            lambda event, record, command: (
                served_by.append(threading.current_thread().name)
                if event == "session-start"
                else None
            )
        )
        for _ in range(sessions):
            _session(server)
            # The session ended; once its thread waits for the next one, a new client
            # must be handed to it, never to a new thread.
            assert handoff.idle.acquire(timeout=10)
        server.journal.wait_for(sessions_ended=sessions)
        assert [s.end_reason for s in server.journal.sessions] == ["quit"] * sessions
    assert len(set(served_by)) == 1
    assert served_by[0].startswith("pop3mock-conn-")
    assert not _conn_threads()


def test_stop_ends_idle_and_busy_connection_threads() -> None:
    with POP3Server(users={"alice": "secret", "bob": "secret"}) as server:
        server.mailbox("alice").add(b"Hi\r\n\r\n")
        server.mailbox("bob").add(b"Hi\r\n\r\n")
        _session(server)  # leaves an idle thread behind
        server.journal.wait_for(sessions_ended=1)
        busy = poplib.POP3(server.host, server.port, timeout=10)  # open at stop()
        busy.user("bob")
        busy.pass_("secret")
    assert server.journal.sessions[-1].end_reason == "server stopped"
    assert not _conn_threads()
    busy.close()


def test_many_concurrent_connections_then_stop() -> None:
    with POP3Server(users={f"u{i}": "secret" for i in range(24)}) as server:
        for i in range(24):
            server.mailbox(f"u{i}").add(b"Hi\r\n\r\n")
        clients = [poplib.POP3(server.host, server.port, timeout=10) for _ in range(24)]
        for i, client in enumerate(clients):
            client.user(f"u{i}")
            client.pass_("secret")
        for client in clients:
            assert client.stat() == (1, 6)
            client.quit()
        server.journal.wait_for(sessions_ended=24)
        _session(server, "u0")  # after the burst, threads are still there to serve
    assert not _conn_threads()
