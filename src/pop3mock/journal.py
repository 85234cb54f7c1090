"""The record of every session and command a server saw, with assertion helpers.

It reads like `unittest.mock`: `journal.commands`, `.last`, `.count("RETR")`,
`assert_command("RETR", 3)`, `assert_commands([...])`. Credentials are kept (a test may
check them) but masked whenever a record is printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

import attrs

__all__ = ["CommandRecord", "Journal", "SessionRecord"]

_SECRET_VERBS = frozenset({"PASS", "APOP", "AUTH"})
_TRANSCRIPT_CAP = 4096  # octets of one reply kept in a transcript


def mask(verb: str, args: Sequence[str]) -> str:
    """Render a command with its secrets replaced by ***."""
    if verb == "PASS":
        return "PASS ***" if args else "PASS"
    if verb == "APOP" and args:
        return f"APOP {args[0]} ***"
    if verb == "AUTH" and len(args) > 1:
        return f"AUTH {args[0]} ***"
    if verb == "" and args:
        return "***"  # a SASL continuation line
    return " ".join([verb, *args])


@attrs.frozen(repr=False)
class CommandRecord:
    """One command line a client sent and what the server answered."""

    session: int
    seq: int
    time: float
    state: str
    raw: bytes
    verb: str
    args: tuple[str, ...]
    user: str | None
    status: str = ""
    reply: str = ""
    bytes_sent: int = 0
    fault: str | None = None
    violation: str | None = None

    @property
    def line(self) -> str:
        """The command as text, secrets masked."""
        return mask(self.verb, self.args)

    def __repr__(self) -> str:
        return f"<Command #{self.session}.{self.seq} {self.line!r} -> {self.status} {self.reply!r}>"

    def __str__(self) -> str:
        return self.line


@attrs.define(repr=False)
class SessionRecord:
    """One connection: who, how, and the commands in order."""

    id: int
    peer: str
    tls: bool
    started: float
    user: str | None = None
    ended: float | None = None
    end_reason: str | None = None
    commands: list[CommandRecord] = attrs.field(factory=list)
    violations: list[str] = attrs.field(factory=list)
    faults: list[str] = attrs.field(factory=list)
    client_bytes: bytearray = attrs.field(factory=bytearray)
    server_bytes: bytearray = attrs.field(factory=bytearray)

    @property
    def open(self) -> bool:
        return self.ended is None

    def transcript(self) -> str:
        """The session as C:/S: lines, secrets masked and long replies shortened."""
        out = [f"session {self.id} from {self.peer}{' (TLS)' if self.tls else ''}"]
        for cmd in self.commands:
            out.append(f"C: {cmd.line}")
            out.append(f"S: {cmd.status} {cmd.reply}".rstrip())
        if self.end_reason:
            out.append(f"-- ended: {self.end_reason}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return (
            f"<Session {self.id} {self.peer} user={self.user!r} "
            f"commands={len(self.commands)} end={self.end_reason!r}>"
        )


class Journal:
    """Thread-safe record of sessions and commands, with queries and assertions."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._cond = threading.Condition()
        self._sessions: list[SessionRecord] = []
        self._commands: list[CommandRecord] = []
        self._clock = clock
        self._listeners: list[Callable[[str, SessionRecord, CommandRecord | None], None]] = []

    def subscribe(
        self, listener: Callable[[str, SessionRecord, CommandRecord | None], None]
    ) -> None:
        """Call `listener(event, session, command)` as things happen, in the server thread.

        `event` is "session-start", "command" or "session-end"; `command` is set for
        "command" only. Used to stream the journal (e.g. to a JSON-lines file).
        """
        with self._cond:
            self._listeners.append(listener)

    def _emit(self, event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        for listener in self._listeners:
            listener(event, session, command)

    # -- recording (called by the server) -----------------------------------------------

    def open_session(self, peer: str, tls: bool) -> SessionRecord:
        with self._cond:
            record = SessionRecord(len(self._sessions) + 1, peer, tls, self._clock())
            self._sessions.append(record)
            self._emit("session-start", record, None)
            self._cond.notify_all()
            return record

    def add_command(self, session: SessionRecord, command: CommandRecord) -> None:
        with self._cond:
            session.commands.append(command)
            self._commands.append(command)
            if command.user and session.user is None:
                session.user = command.user
            if command.violation:
                session.violations.append(f"{command.line}: {command.violation}")
            self._emit("command", session, command)
            self._cond.notify_all()

    def note(
        self,
        session: SessionRecord,
        *,
        violation: str | None = None,
        fault: str | None = None,
        user: str | None = None,
        tls: bool | None = None,
    ) -> None:
        with self._cond:
            if violation:
                session.violations.append(violation)
            if fault:
                session.faults.append(fault)
            if user:
                session.user = user
            if tls is not None:
                session.tls = tls
            self._cond.notify_all()

    def close_session(self, session: SessionRecord, reason: str) -> None:
        with self._cond:
            if session.ended is None:
                session.ended = self._clock()
                session.end_reason = reason
                self._emit("session-end", session, None)
            self._cond.notify_all()

    def clock(self) -> float:
        return self._clock()

    # -- queries -------------------------------------------------------------------------

    @property
    def sessions(self) -> list[SessionRecord]:
        with self._cond:
            return list(self._sessions)

    @property
    def commands(self) -> list[CommandRecord]:
        with self._cond:
            return list(self._commands)

    @property
    def last(self) -> CommandRecord | None:
        with self._cond:
            return self._commands[-1] if self._commands else None

    @property
    def violations(self) -> list[str]:
        """Strict-mode findings: client protocol violations, each with its session."""
        with self._cond:
            return [f"session {s.id}: {v}" for s in self._sessions for v in s.violations]

    def find(
        self, verb: str | None = None, *args: object, user: str | None = None
    ) -> list[CommandRecord]:
        """Commands matching a verb (case-insensitive), leading arguments and user."""
        want_verb = verb.upper() if verb else None
        want_args = tuple(str(a) for a in args)
        return [
            c
            for c in self.commands
            if (want_verb is None or c.verb == want_verb)
            and c.args[: len(want_args)] == want_args
            and (user is None or c.user == user)
        ]

    def count(self, verb: str | None = None, *args: object, user: str | None = None) -> int:
        return len(self.find(verb, *args, user=user))

    # -- assertions ----------------------------------------------------------------------

    def assert_command(
        self, verb: str, *args: object, count: int | None = None, user: str | None = None
    ) -> None:
        """Assert the command was sent (at least once, or exactly `count` times; 0 = never)."""
        found = len(self.find(verb, *args, user=user))
        if (count is None and found > 0) or found == count:
            return
        wanted = mask(verb.upper(), [str(a) for a in args])
        expected = "at least once" if count is None else f"{count} time(s)"
        near = [c.line for c in self.find(verb) if c not in self.find(verb, *args, user=user)]
        message = [f"expected {wanted!r} {expected}, found {found}"]
        if user:
            message[0] += f" for user {user!r}"
        if near:
            message.append("near misses (same verb): " + ", ".join(repr(n) for n in near[:10]))
        message.append("commands sent: " + self._summary())
        raise AssertionError("\n".join(message))

    def assert_commands(self, expected: Iterable[str], *, any_order: bool = False) -> None:
        """Assert these commands were sent, contiguous and in order (unittest.mock semantics),
        or all present in any order. Each is a line prefix: 'PASS' matches any password."""
        wanted = [e.upper().split() for e in expected]
        actual = [[c.verb, *(a.upper() for a in c.args)] for c in self.commands]

        def matches(want: list[str], have: list[str]) -> bool:
            return have[: len(want)] == want

        if any_order:
            pool = list(actual)
            missing = []
            for want in wanted:
                for i, have in enumerate(pool):
                    if matches(want, have):
                        del pool[i]
                        break
                else:
                    missing.append(" ".join(want))
            if not missing:
                return
            raise AssertionError(f"commands not sent: {missing}\ncommands sent: {self._summary()}")
        n = len(wanted)
        for start in range(len(actual) - n + 1):
            if all(matches(w, h) for w, h in zip(wanted, actual[start : start + n], strict=False)):
                return
        raise AssertionError(
            f"expected the sequence {[' '.join(w) for w in wanted]}\n"
            f"commands sent: {self._summary()}"
        )

    def _summary(self) -> str:
        lines = [c.line for c in self.commands]
        return repr(lines) if lines else "(none)"

    # -- waiting -------------------------------------------------------------------------

    def wait_for(
        self,
        verb: str | None = None,
        *args: object,
        count: int = 1,
        sessions_ended: int | None = None,
        timeout: float = 5.0,
    ) -> None:
        """Block until `count` matching commands (or `sessions_ended` sessions) are recorded.

        Waits on a condition variable, never polls; raises TimeoutError with what was seen.
        """

        def done() -> bool:
            if sessions_ended is not None:
                return sum(1 for s in self._sessions if s.ended is not None) >= sessions_ended
            want_verb = verb.upper() if verb else None
            want_args = tuple(str(a) for a in args)
            found = sum(
                1
                for c in self._commands
                if (want_verb is None or c.verb == want_verb)
                and c.args[: len(want_args)] == want_args
            )
            return found >= count

        with self._cond:
            if not self._cond.wait_for(done, timeout):
                what = (
                    f"{sessions_ended} ended sessions"
                    if sessions_ended is not None
                    else f"{count} x {mask((verb or '*').upper(), [str(a) for a in args])!r}"
                )
                raise TimeoutError(
                    f"waited {timeout} s for {what}; commands sent: "
                    f"{[c.line for c in self._commands]}"
                )

    def clear(self) -> None:
        with self._cond:
            self._sessions.clear()
            self._commands.clear()
