"""A journal's memory: recording what the server reports, bounded for a long-running
server (the last sessions, the first and last commands of each), and the queries on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from pop3mock.checks import whole_number
from pop3mock.journal._records import CommandRecord, SessionRecord, Violation, _Want, mask
from pop3mock.protocol._text import escape

__all__ = ["REPLY_CAP", "Listener"]

#: Octets of each server reply a journal keeps by default: enough for every status line and
#: listing a test looks at, while a 10 MB RETR does not cost another 10 MB of memory.
REPLY_CAP = 4096
_SUMMARY_LIMIT = 40  # commands per session in an assertion message

Listener = Callable[[str, "SessionRecord", "CommandRecord | None"], None]


def _asked(verb: str | None, args: Sequence[object]) -> str:
    return repr(mask((verb or "*").upper(), [str(a) for a in args]))


def _unsure_text(unsure: Mapping[int, int]) -> str:
    where = ", ".join(f"{n} in session {sid}" for sid, n in sorted(unsure.items()))
    return (
        f"commands of that verb were left out of long sessions' records and counted without "
        f"their arguments ({where}): raise session_keep_commands to count them one by one"
    )


class _Memory:
    """The journal's records and the queries on them; `Journal` adds assertions and waits."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        reply_cap: int = REPLY_CAP,
        keep_sessions: int | None = None,
        keep_commands: int | None = None,
    ) -> None:
        if keep_sessions is not None and not whole_number(keep_sessions, 1):
            raise ValueError(
                f"keep_sessions must be a whole number >= 1 or None, not {keep_sessions!r}"
            )
        if keep_commands is not None and not whole_number(keep_commands, 1):
            raise ValueError(
                f"keep_commands must be a whole number >= 1 or None, not {keep_commands!r}"
            )
        # `with self._lock` on the paths each command takes: Condition.__enter__ is a Python
        # call, the lock's own is not.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._sessions: list[SessionRecord] = []
        self._commands: list[CommandRecord] = []
        #: Ended sessions kept in memory (None: all): a long-running server (pop3mock serve)
        #: keeps the last ones, with their commands; open sessions are always kept.
        self.keep_sessions = keep_sessions
        #: Commands of one session kept at each end (None: all): the first and the last
        #: `keep_commands`; those in between are counted (`SessionRecord.left_out`).
        self.keep_commands = keep_commands
        # Commands left out of their session but still in `_commands`, by id (alive, so
        # the ids are unique): removed in batches, so that each command costs O(1).
        self._left_out: set[int] = set()
        #: Every session and command recorded, the forgotten ones included.
        self.total_sessions = 0
        self.total_commands = 0
        # Every session that ended since the journal was made or cleared, the ones no longer
        # kept (keep_sessions) included: a running count, so that a wait woken at each end
        # does not count over all the sessions. Sessions open when clear() came are not
        # counted when they end (their records are gone): their ids wait here.
        self._ended_total = 0
        self._cleared_open: set[int] = set()
        # Violations counted but not kept: of forgotten sessions, or beyond a session's share.
        self._violations_not_kept = 0
        self._violations: list[Violation] = []
        #: The journal's clock, read once per record (the function itself: no call around it).
        self.clock: Callable[[], float] = clock
        self._listeners: list[Listener] = []
        # Threads in wait_for() (the only waiters on `_cond`): a record wakes nobody when
        # nobody waits.
        self._waiting = 0
        #: Called with (exception, where) when a listener raises; None lets it propagate.
        self.on_listener_error: Callable[[BaseException, str], None] | None = None
        self.reply_cap = reply_cap

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(event, session, command)` as things happen, in the server thread.

        `event` is "session-start", "command" or "session-end"; `command` is set for
        "command" only. Used to stream the journal (e.g. to a JSON-lines file).
        """
        with self._cond:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling `listener` (one given to `subscribe`)."""
        with self._cond:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        for listener in self._listeners:
            try:
                listener(event, session, command)
            except Exception as exc:
                if self.on_listener_error is None:
                    raise
                self.on_listener_error(
                    exc, f"journal listener {listener!r}, on {event} of session {session.id}"
                )

    def __repr__(self) -> str:
        with self._cond:
            return f"<Journal {len(self._sessions)} sessions, {len(self._kept())} commands>"

    # -- recording (called by the server) -----------------------------------------------

    def kept(self, parts: Iterable[bytes]) -> bytes:
        """The first `reply_cap` octets of a reply given in pieces, without joining it all."""
        if isinstance(parts, tuple) and len(parts) == 1 and len(parts[0]) <= self.reply_cap:
            return parts[0]  # the usual reply: one piece, kept as it is
        if isinstance(parts, (list, tuple)) and sum(map(len, parts)) <= self.reply_cap:
            return b"".join(parts)  # the usual reply: whole, one copy
        out = bytearray()
        for part in parts:
            room = self.reply_cap - len(out)
            if room <= 0:
                break
            out += part[:room]
        return bytes(out)

    def open_session(self, peer: str, tls: bool) -> SessionRecord:
        with self._lock:
            self.total_sessions += 1
            record = SessionRecord(self.total_sessions, peer, tls, self.clock())
            self._sessions.append(record)
            self._emit("session-start", record, None)
            if self._waiting:
                self._cond.notify_all()
            return record

    def add_greeting(self, session: SessionRecord, parts: Sequence[bytes]) -> None:
        """Keep the greeting as it goes out (capped like replies)."""
        with self._lock:
            session.greeting = self.kept(parts)
            session.greeting_size = sum(map(len, parts))

    def add_command(self, session: SessionRecord, command: CommandRecord) -> None:
        with self._lock:
            session.commands.append(command)
            self._commands.append(command)
            self.total_commands += 1
            session.command_count += 1
            keep = self.keep_commands
            if keep is not None and len(session.commands) > 2 * keep:
                # The oldest of the last ones joins the gap after the first `keep`.
                gone = session.commands.pop(keep)
                session._leave_out(gone, keep)
                self._left_out.add(id(gone))
                if len(self._left_out) > max(4096, len(self._commands) // 2):
                    self._drop_left_out()
            if command.user and session.user is None:
                session.user = command.user
            if command.violation and self._keeps_violation(session):
                session.violations.append(f"{command.line}: {escape(command.violation)}")
                self._violations.append(Violation(session.id, command.violation, command))
            if self._listeners:
                self._emit("command", session, command)
            if self._waiting:
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
            if violation and self._keeps_violation(session):
                session.violations.append(escape(violation))
                after = session.command_count
                self._violations.append(Violation(session.id, violation, after=after))
            if fault and (
                self.keep_commands is None or len(session.faults) < 2 * self.keep_commands
            ):
                # (a fault on every command of a long session is listed up to there)
                session.faults.append(fault)
            if user:
                session.user = user
            if tls and not session.tls:
                session.tls_after = session.command_count
            if tls is not None:
                session.tls = tls
            if self._waiting:
                self._cond.notify_all()

    def _keeps_violation(self, session: SessionRecord) -> bool:
        # A session keeps as many violations as commands at each end; the rest are counted.
        if self.keep_commands is None or len(session.violations) < 2 * self.keep_commands:
            return True
        self._violations_not_kept += 1
        return False

    def close_session(self, session: SessionRecord, reason: str) -> None:
        with self._lock:
            if session.ended is None:
                session.ended = self.clock()
                session.end_reason = reason
                if self._cleared_open and session.id in self._cleared_open:
                    self._cleared_open.discard(session.id)
                else:
                    self._ended_total += 1
                self._emit("session-end", session, None)
                self._forget_old_sessions()
            if self._waiting:
                self._cond.notify_all()

    def _forget_old_sessions(self) -> None:
        keep = self.keep_sessions
        # In batches: nothing until twice `keep` sessions are held, then back to the last
        # `keep` ended ones (and the open ones), so that each session's end costs O(1) on
        # average however long the server runs.
        if keep is None or len(self._sessions) <= 2 * keep:
            return
        ended = [s for s in self._sessions if s.ended is not None]
        if len(ended) <= keep:
            return
        dropped = {s.id for s in ended[: len(ended) - keep]}
        self._sessions = [s for s in self._sessions if s.id not in dropped]
        kept = [v for v in self._violations if v.session not in dropped]
        self._violations_not_kept += len(self._violations) - len(kept)
        self._violations = kept
        left_out = self._left_out
        self._commands = [
            c for c in self._commands if c.session not in dropped and id(c) not in left_out
        ]
        left_out.clear()

    def _drop_left_out(self) -> None:
        if self._left_out:
            left_out = self._left_out
            self._commands = [c for c in self._commands if id(c) not in left_out]
            left_out.clear()

    def clear(self) -> None:
        with self._cond:
            self._cleared_open.update(s.id for s in self._sessions if s.ended is None)
            self._sessions.clear()
            self._commands.clear()
            self._violations.clear()
            self._ended_total = 0
            self._violations_not_kept = 0
            self._left_out.clear()

    # -- queries -------------------------------------------------------------------------

    @property
    def sessions(self) -> list[SessionRecord]:
        with self._cond:
            return list(self._sessions)

    @property
    def ended_sessions(self) -> int:
        """How many sessions have ended, those forgotten (keep_sessions) included."""
        with self._cond:
            return self._ended_total

    @property
    def commands(self) -> list[CommandRecord]:
        """The commands kept, in the order they arrived (see `SessionRecord` for what a
        long session keeps)."""
        with self._cond:
            return list(self._kept())

    def _kept(self) -> list[CommandRecord]:
        self._drop_left_out()
        return self._commands

    @property
    def last(self) -> CommandRecord | None:
        """The most recent command, or None."""
        with self._cond:
            return self._commands[-1] if self._commands else None

    @property
    def called(self) -> bool:
        """Whether any command was received (`unittest.mock` spelling)."""
        with self._cond:
            return bool(self._commands)

    @property
    def call_count(self) -> int:
        """How many commands the sessions held by the journal received, those left out of a
        long session's record included (`unittest.mock` spelling)."""
        with self._cond:
            left_out = sum(s.commands_left_out for s in self._sessions)
            return len(self._kept()) + left_out

    @property
    def violations(self) -> list[Violation]:
        """Client protocol violations seen so far (strict mode fails on them): those of the
        sessions kept, up to twice `keep_commands` a session."""
        with self._cond:
            return list(self._violations)

    @property
    def violation_count(self) -> int:
        """Every violation seen, those of sessions no longer kept (`keep_sessions`) or
        beyond a session's share included."""
        with self._cond:
            return len(self._violations) + self._violations_not_kept

    def find(
        self,
        verb: str | None = None,
        *args: object,
        user: str | None = None,
        session: int | None = None,
    ) -> list[CommandRecord]:
        """Commands matching a verb (any case), leading arguments, user and session."""
        return self._find(self.commands, verb, args, user, session)

    @staticmethod
    def _find(
        commands: Iterable[CommandRecord],
        verb: str | None,
        args: Sequence[object],
        user: str | None,
        session: int | None,
    ) -> list[CommandRecord]:
        want = _Want(verb.upper(), tuple(str(a) for a in args)) if verb else None
        return [
            c
            for c in commands
            if (want is None or want.matches(c))
            and (user is None or c.user == user)
            and (session is None or c.session == session)
        ]

    def count(
        self,
        verb: str | None = None,
        *args: object,
        user: str | None = None,
        session: int | None = None,
    ) -> int:
        """How many commands match (see `find`), counting those left out of a long
        session's record too. Raises ValueError when that count cannot be exact: arguments
        asked for, and commands of that verb left out without their arguments."""
        with self._cond:
            kept = len(self._find(self._kept(), verb, args, user, session))
            extra, unsure = self._left_out_matching(verb, args, user, session)
        if unsure:
            raise ValueError(f"cannot count {_asked(verb, args)} exactly: {_unsure_text(unsure)}")
        return kept + extra

    def _left_out_matching(
        self, verb: str | None, args: Sequence[object], user: str | None, session: int | None
    ) -> tuple[int, dict[int, int]]:
        """Matching commands left out of the kept sessions' records: how many for sure, and
        by session how many more might match (counted without their arguments)."""
        want = _Want(verb.upper(), tuple(str(a) for a in args)) if verb else None
        certain = 0
        unsure: dict[int, int] = {}
        for record in self._sessions:
            if not record.commands_left_out or session not in (None, record.id):
                continue
            for (got_verb, got_args, got_user), n in record.left_out.items():
                if not got_verb:
                    # Counted without verb or user: it may be what was asked, or not.
                    if want is None and user is None:
                        certain += n
                    else:
                        unsure[record.id] = unsure.get(record.id, 0) + n
                    continue
                if (user is not None and got_user != user) or (
                    want is not None and got_verb != want.verb
                ):
                    continue
                if want is None or not want.args:
                    certain += n
                elif got_args is None:
                    unsure[record.id] = unsure.get(record.id, 0) + n
                elif got_args[: len(want.args)] == want.args:
                    certain += n
        return certain, unsure

    def transcript(self, *, max_lines: int | None = None) -> str:
        """Every session's transcript, secrets masked."""
        return "\n\n".join(s.transcript(max_lines=max_lines) for s in self.sessions)

    def _summary(self, commands: Sequence[CommandRecord]) -> list[str]:
        if not commands:
            return ["  Commands sent: none"]
        lines = [f"  Commands sent ({len(commands)}):"]
        by_session: dict[int, list[str]] = {}
        for c in commands:
            by_session.setdefault(c.session, []).append(c.line)
        with self._cond:
            left_out = {s.id: s.commands_left_out for s in self._sessions if s.commands_left_out}
        for sid, seen in by_session.items():
            shown = ", ".join(seen[:_SUMMARY_LIMIT])
            more = (
                f", ... ({len(seen) - _SUMMARY_LIMIT} more)" if len(seen) > _SUMMARY_LIMIT else ""
            )
            if sid in left_out:
                more += f" ({left_out[sid]} more left out of the record in the middle)"
            lines.append(f"    session {sid}: {shown}{more}")
        return lines
