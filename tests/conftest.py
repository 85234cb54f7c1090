"""The suite's servers (`make_server`, and `server` as the `server` marker describes it), and
checks around every test: no server thread outlives it, and no server it started is left
running or holding a socket."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pytest
from hypothesis import settings

from helpers import MakeServer
from pop3mock import Message, POP3Server

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


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """Starts servers for one test: `make_server(users, maildrops=, tokens=, **options)`.

    `users` maps names to passwords (alice / wonderland when not given), `maildrops` names to
    the messages their maildrop starts with, `tokens` names to XOAUTH2 tokens; other keywords
    go to `POP3Server`. At teardown every server made is stopped, then checked: an error inside
    the server, or a counted fault rule that never fired, fails the test that caused it.
    """
    made: list[POP3Server] = []

    def make(
        users: Mapping[str, str] | None = None,
        *,
        maildrops: Mapping[str, Iterable[Message | bytes | str]] | None = None,
        tokens: Mapping[str, str] | None = None,
        **options: Any,
    ) -> POP3Server:
        users = {"alice": "wonderland"} if users is None else users
        maildrops, tokens = maildrops or {}, tokens or {}
        if unknown := (set(maildrops) | set(tokens)) - set(users):
            raise ValueError(f"maildrops or tokens for users not given: {sorted(unknown)}")
        if used_up := [name for name, drop in maildrops.items() if isinstance(drop, Iterator)]:
            # A marker is made once per module: its iterator would fill one test's maildrop.
            raise TypeError(f"give the maildrops of {used_up} as lists, not iterators")
        server = POP3Server(**options)
        for name, password in users.items():
            server.add_user(name, password, maildrops.get(name, ()), token=tokens.get(name))
        made.append(server.start())
        return server

    yield make
    with contextlib.ExitStack() as stopping:  # every server stops, even if one stop() raises
        for server in made:
            stopping.callback(server.stop)
    for server in made:
        server.check()


@pytest.fixture
def server(request: pytest.FixtureRequest, make_server: MakeServer) -> POP3Server:
    """A started server built by `make_server` from the closest `server` marker's arguments
    (`pytestmark = pytest.mark.server(...)` for a module, or on one test); without a marker,
    alice / wonderland with an empty maildrop."""
    marker = request.node.get_closest_marker("server")
    if marker is None:
        return make_server()
    return make_server(*marker.args, **marker.kwargs)
