"""The `--journal` file of `pop3mock serve`: the journal as JSON lines, as it happens."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any, TextIO

from pop3mock.cli._console import Console, reason
from pop3mock.errors import ConfigurationError
from pop3mock.journal._journal import CommandRecord, SessionRecord
from pop3mock.protocol._text import escape_json, masked

__all__ = [
    "JournalFile",
]


class JournalFile:
    """Streams the journal to a JSON-lines file: one object per session start, command and
    session end, flushed at once so another process can follow it. Secrets are masked, and
    the characters a terminal would obey are written as JSON escapes (`tail -f` is safe)."""

    def __init__(self, handle: TextIO | None, console: Console) -> None:
        self._handle = handle
        # Without a handle yet: the lines of the sessions that start before the file is
        # opened (once the ports are bound).
        self._pending: list[str] | None = [] if handle is None else None
        self._console = console
        self._lock = threading.Lock()
        #: Why writing stopped (a full disk...), or None.
        self.failure: str | None = None
        # The journal's clock is monotonic; the file says when, in Unix time.
        self._offset = time.time() - time.monotonic()

    def _when(self, moment: float) -> float:
        return round(moment + self._offset, 6)

    def record(
        self, event: str, session: SessionRecord, command: CommandRecord | None
    ) -> dict[str, Any]:
        if command is not None:
            verb, args = masked(command.verb, command.args, credential=command.credential)
            return {
                "event": event,
                "session": session.id,
                "seq": command.seq,
                "time": self._when(command.time),
                "state": command.state,
                "user": command.user,
                "command": command.line,
                "verb": verb,
                "args": list(args),
                "status": command.status,
                "reply": command.reply,
                "bytes_sent": command.bytes_sent,
                "fault": command.fault,
                "violation": command.violation,
            }
        out: dict[str, Any] = {
            "event": event,
            "session": session.id,
            "time": self._when(session.ended if session.ended is not None else session.started),
            "peer": session.peer,
            "tls": session.tls,
        }
        if event == "session-end":
            out.update(
                user=session.user,
                reason=session.end_reason,
                commands=session.command_count,
                duration=round((session.ended or session.started) - session.started, 6),
                faults=list(session.faults),
                violations=list(session.violations),
            )
        return out

    def open(self, path: str) -> None:
        """Open (and empty) the file, and write what happened so far."""
        try:
            handle = open(  # noqa: SIM115 - closed by close()
                path, "w", encoding="utf-8", errors="backslashreplace"
            )
        except OSError as exc:
            raise ConfigurationError(f"cannot write the journal {path}: {reason(exc)}") from None
        with self._lock:
            self._handle, pending, self._pending = handle, self._pending or [], None
            self._write("".join(pending))

    def __call__(self, event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        line = escape_json(json.dumps(self.record(event, session, command), ensure_ascii=False))
        with self._lock:
            if self._pending is not None:
                self._pending.append(line + "\n")
            else:
                self._write(line + "\n")

    def _write(self, text: str) -> None:
        if self._handle is None or not text:
            return
        try:
            self._handle.write(text)
            self._handle.flush()
        except (OSError, ValueError) as exc:
            self.failure = reason(exc)
            self._console.error(f"error: the journal file stopped: {self.failure}")
            self._close()

    def _close(self) -> None:
        self._pending = None
        if self._handle is not None:
            with contextlib.suppress(OSError, ValueError):
                self._handle.close()
            self._handle = None

    def close(self) -> None:
        with self._lock:
            self._close()
