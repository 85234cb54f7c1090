"""pytest plugin: the `pop3_server` fixture, stopped and checked after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import POP3Server

__all__ = ["pop3_server"]


@pytest.fixture
def pop3_server() -> Iterator[POP3Server]:
    """A started POP3Server with user ``user`` / ``password`` and an empty maildrop.

    After the test the server is stopped and `check()`ed, so an exception inside the
    server fails the test that caused it.
    """
    server = POP3Server(users={"user": "password"})
    server.start()
    try:
        yield server
    finally:
        server.stop()
    server.check()
