"""Replaying a recording: a session-like object that answers with the recorded replies.

`Replay` holds a `Recording` and hands its connections out in order: the first connection
a server accepts replays the first recorded one, the second the second, and so on; a
connection beyond the last recorded one is refused with ``-ERR`` and a violation.
`ReplaySession` is what the server talks to instead of a `Session`, sans-IO like it: it
takes command lines and returns `Response` objects that carry the recorded bytes. A line
that differs from the recorded one (compared as masked, see `pop3mock.protocol._recording`) is
answered ``-ERR`` with a violation naming the expected and the received line; from there
the replay is stopped: every command gets ``-ERR``, QUIT ``+OK`` and the close.
"""

from __future__ import annotations

import itertools
import os

import attrs

from pop3mock.protocol._config import ServerConfig
from pop3mock.protocol._recording import Connection, Event, Recording, load_recording, shown_command
from pop3mock.protocol._session import Response, Session, State
from pop3mock.protocol._text import escape

__all__ = ["Replay", "ReplaySession"]


class Replay:
    """A recording being replayed: one `ReplaySession` per connection, in order."""

    def __init__(self, recording: Recording | str | os.PathLike[str], *, timing: bool = False):
        if not isinstance(recording, Recording):
            recording = load_recording(recording)
        self.recording = recording
        self.timing = timing
        self._next = itertools.count()  # next() is atomic: connection threads share it

    def session(self, config: ServerConfig) -> ReplaySession:
        index = next(self._next)
        connections = self.recording.connections
        if index < len(connections):
            return ReplaySession(config, connections[index], timing=self.timing)
        return ReplaySession(config, None, timing=self.timing, beyond=len(connections))


def _status(data: bytes) -> tuple[str, str]:
    first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    status, _, text = first.partition(" ")
    if status not in ("+OK", "-ERR"):
        status, text = ("+", first[2:]) if first.startswith("+") else ("-ERR", first)
    return status, text


class ReplaySession:
    """One replayed connection: the recorded replies to the recorded commands."""

    verb_of = staticmethod(Session.verb_of)

    def __init__(
        self,
        config: ServerConfig,
        connection: Connection | None,
        *,
        timing: bool = False,
        beyond: int = 0,
    ) -> None:
        self.config = config
        self.connection = connection
        self.timing = timing
        self.state = State.AUTHORIZATION
        self.closed = False
        self.user: str | None = None
        self.pending_user: str | None = None
        self.tls = False
        self._beyond = beyond
        self._events: list[Event] = list(connection.events) if connection else []
        self._at = 1 if connection else 0  # past "open"
        self._previous_verb: str | None = None
        self._in_sasl = False
        self._stopped: Event | None = None  # the recorded command a differing line met

    @property
    def in_sasl(self) -> bool:
        return self._in_sasl

    @property
    def position(self) -> int:
        """The line of the recording the replay has reached (0: none)."""
        if self._at < len(self._events):
            return self._events[self._at].line_number
        return self._events[-1].line_number if self._events else 0

    @property
    def at_recorded_close(self) -> bool:
        """The recorded client closed the connection here (without QUIT, perhaps)."""
        events = self._events
        return (
            self._stopped is None
            and self._at < len(events)
            and events[self._at].kind == "close"
            and events[self._at].by != "server"
        )

    def _take_reply(self, since: float) -> Response:
        """The reply at the current position; pause and close as recorded."""
        event = self._events[self._at]
        self._at += 1
        status, text = _status(event.data)
        close = self._at < len(self._events) and self._events[self._at].kind == "close"
        if close and self._events[self._at].by == "server":
            self._at += 1
        elif close:
            close = False
        pause = max(event.seconds - since, 0.0) if self.timing else 0.0
        return Response(status, text, close=close, pause=pause, raw=event.data)

    def greeting(self) -> Response:
        if self.connection is None:
            return Response(
                "-ERR",
                f"[SYS/PERM] pop3mock replay: the recording holds {self._beyond} connection(s)",
                close=True,
                violation=f"connection {self._beyond + 1} of a recording of {self._beyond}",
            )
        opened = self._events[0].seconds
        if self._at < len(self._events) and self._events[self._at].kind == "reply":
            return self._take_reply(opened)
        where = self._events[self._at].line_number if self._at < len(self._events) else 0
        return Response(
            "-ERR",
            "[SYS/PERM] pop3mock replay: no greeting recorded",
            close=True,
            violation=f"the recorded connection has no greeting (line {where})",
        )

    def handle(
        self,
        line: bytes,
        *,
        truncated: bool = False,
        ending: bytes = b"\r\n",
        split: tuple[str, str] | None = None,
    ) -> Response:
        """Answer one command line (without its line end) as recorded (`split` as in
        `Session.handle`; a replay compares the line itself)."""
        if self.closed:
            raise RuntimeError("the session is closed")
        verb, shown = shown_command(line, self._previous_verb, in_sasl=self._in_sasl)
        self._previous_verb = verb
        quit_ = verb == "QUIT"
        if self._stopped is not None:
            # QUIT is accepted, so that a client ends cleanly and the report holds the one
            # line where it left the recording.
            return Response(
                "+OK" if quit_ else "-ERR",
                f"pop3mock replay stopped at line {self._stopped.line_number} of the recording",
                close=quit_,
            )
        events = self._events
        if self._at >= len(events) or events[self._at].kind != "command":
            self._stopped = events[-1] if events else Event("close", 0.0, 0)
            return Response(
                "-ERR",
                "pop3mock replay: the recording has no more commands",
                close=quit_,
                violation=f"the recording has no more commands here, received {shown!r}",
            )
        expected = events[self._at]
        if expected.line != shown:
            self._stopped = expected
            self._in_sasl = False
            return Response(
                "-ERR",
                f"pop3mock replay: expected {escape(expected.line)!r}",
                close=quit_,
                violation=(
                    f"expected {expected.line!r} (line {expected.line_number} of the "
                    f"recording), received {shown!r}"
                ),
            )
        self._at += 1
        if self._at >= len(events) or events[self._at].kind != "reply":
            # The recorded connection ended before its reply (the upstream closed).
            self._stopped = expected
            return Response("-ERR", "pop3mock replay: no reply recorded", close=True)
        response = self._take_reply(expected.seconds)
        if quit_ and response.status == "+OK" and not response.close:
            # The server closes after QUIT (the client may have closed first in the record).
            response = attrs.evolve(response, close=True)
            if self._at < len(events) and events[self._at].kind == "close":
                self._at += 1
        self._follow(verb, line, response)
        return response

    def _follow(self, verb: str | None, line: bytes, response: Response) -> None:
        """Track the state the recorded server was in (for faults and the journal)."""
        status = response.status
        was_sasl = self._in_sasl
        self._in_sasl = status == "+" and (was_sasl or verb == "AUTH")
        if self._in_sasl:
            self._previous_verb = None
        words = line.decode("utf-8", "replace").split()
        if verb == "USER" and len(words) > 1:
            self.pending_user = words[1] if status == "+OK" else None
        elif verb == "APOP" and len(words) > 1:
            self.pending_user = words[1]
        login = verb in ("PASS", "APOP") or was_sasl or (verb == "AUTH" and len(words) > 2)
        if status == "+OK" and login and self.state is State.AUTHORIZATION:
            self.state = State.TRANSACTION
            self.user = self.pending_user
        if verb == "QUIT" and status == "+OK":
            if self.state is State.TRANSACTION:
                self.state = State.UPDATE
            self.closed = True

    def connection_lost(self) -> None:
        self.closed = True

    def tls_started(self) -> None:
        self.tls = True
