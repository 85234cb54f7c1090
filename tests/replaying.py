"""An in-process `pop3mock proxy` for the tests: started in a thread, stopped as a signal
would stop it, its first stdout line read to learn the port (no sleeping, no polling)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pop3mock.cli._main import build_parser
from pop3mock.probe import _proxy as proxy


class _FirstLine(io.StringIO):
    """stdout of the proxy: `ready` is set once the 'listening on' line is written."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if "\n" in self.getvalue():
            self.ready.set()
        return written


@contextmanager
def recording_proxy(upstream: str, record: Path, *extra: str) -> Iterator[int]:
    """Run `pop3mock proxy --upstream URL --record FILE EXTRA...`; yield its port."""
    args = build_parser().parse_args(
        ["proxy", "--upstream", upstream, "--record", str(record), *extra]
    )
    stop = threading.Event()
    out = _FirstLine()
    failure: list[BaseException] = []

    def body() -> None:
        try:
            proxy.run(args, stop.wait, stdout=out, stderr=io.StringIO())
        except BaseException as exc:  # reported by the test, not lost in the thread
            failure.append(exc)
            out.ready.set()

    thread = threading.Thread(target=body, name="proxy-under-test")
    thread.start()
    try:
        out.ready.wait()
        if failure:
            raise failure[0]
        line = out.getvalue().splitlines()[0]
        assert line.startswith("listening on pop3://127.0.0.1:"), line
        yield int(line.rsplit(":", 1)[1])
    finally:
        stop.set()
        thread.join()
    if failure:
        raise failure[0]
