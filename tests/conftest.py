"""Checks around every test: no server thread outlives it, and no server it started is left
running or holding a socket."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

import pytest
from hypothesis import settings

from pop3mock import POP3Server

# No per-example deadline: on a loaded two-core CI machine one example can take seconds
# through no fault of the code; a property fails on a counterexample, never on a pause.
settings.register_profile("pop3mock", deadline=None)
settings.load_profile("pop3mock")

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pop3-full-load",
        action="store_true",
        default=False,
        help="run the load and leak tests at full size (500 sessions, 1,000 start/stop cycles)",
    )


def pop3mock_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pop3mock-")]


@pytest.fixture(autouse=True)
def _no_thread_left_behind() -> Iterator[None]:
    before = set(pop3mock_threads())
    yield
    left = [t for t in pop3mock_threads() if t not in before]
    assert not left, f"server threads still alive after the test: {[t.name for t in left]}"


@pytest.fixture(autouse=True)
def _no_server_left_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Weak: holding the servers would itself look like a leak to the memory tests. A
    # server still running is kept alive by its own threads, so it is still seen here.
    started: weakref.WeakSet[POP3Server] = weakref.WeakSet()
    start = POP3Server.start

    def recording_start(self: POP3Server) -> POP3Server:
        started.add(self)
        return start(self)

    monkeypatch.setattr(POP3Server, "start", recording_start)
    yield
    for server in list(started):
        assert not server.running, f"{server!r} is still running after the test"
        listening = [sock for sock in server._listeners if sock.fileno() != -1]
        assert not listening, f"{server!r} left listening sockets open: {listening}"
        assert not server._connections, f"{server!r} left connections open"
