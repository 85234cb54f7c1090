"""What `pop3mock serve` prints: stdout for the user, stderr for problems, and the
reason of an OSError in the system's words."""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from typing import TextIO

__all__ = [
    "Console",
    "reason",
]


class Console:
    """stdout for the user, stderr for problems; one line at a time, flushed at once.

    A closed stdout (`pop3mock serve | head -1`) must not stop the server: output is dropped
    from then on.
    """

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool = False) -> None:
        self._out = out
        self._err = err
        self._lock = threading.Lock()
        self._broken = False
        self.quiet = quiet

    def line(self, text: str = "", *, always: bool = False) -> None:
        if self.quiet and not always:
            return
        with self._lock:
            if self._broken:
                return
            try:
                self._out.write(text + "\n")
                self._out.flush()
            except (OSError, ValueError):
                self._broken = True
                _silence(self._out)

    def error(self, text: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._err.write(f"pop3mock: {text}\n")
            self._err.flush()


def _silence(stream: TextIO) -> None:
    # Point the file descriptor at /dev/null so that the flush at exit does not fail again.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def reason(exc: BaseException) -> str:
    """What went wrong, in the words of the system: "No such file or directory"."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
