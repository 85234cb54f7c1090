"""Shared test helpers: a raw line client and a check that no server thread outlives a test."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

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
