"""The record of every session and command a server saw, with assertion helpers.

It reads like `unittest.mock`: `journal.commands`, `.last`, `.called`, `.call_count`,
`.count("RETR")`, `assert_command("RETR", 3)`, `assert_command("DELE", count=0)`,
`assert_commands([...])`. Credentials are kept (a test may check them) but masked whenever
a record is printed: repr, str, transcripts and assertion messages never show them. What a
client sent is printed with its control characters escaped (see `pop3mock.protocol._text`), so a
client cannot steer the terminal that shows a transcript or a failure; the data fields
(`raw`, `verb`, `args`, `reply`) keep the exact values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from pop3mock.checks import whole_number
from pop3mock.protocol._text import escape, escape_bytes
from pop3mock.protocol._text import mask as _mask

__all__ = ["CommandRecord", "Journal", "SessionRecord", "Violation", "mask"]

#: Octets of each server reply a journal keeps by default: enough for every status line and
#: listing a test looks at, while a 10 MB RETR does not cost another 10 MB of memory.
REPLY_CAP = 4096
_REPORT_LIMIT = 20  # violations listed in full in one report
_SUMMARY_LIMIT = 40  # commands per session in an assertion message

Listener = Callable[[str, "SessionRecord", "CommandRecord | None"], None]


def mask(verb: str, args: Sequence[str], *, credential: bool = False) -> str:
    """Render a command with its secrets replaced by *** and its control characters escaped
    (`credential`: the whole line may be a password, as the line after USER is)."""
    return _mask(verb, args, credential=credential)


@attrs.frozen(repr=False)
class CommandRecord:
    """One command line a client sent and what the server answered.

    `raw` is the line exactly as received (line end included) and `response` the first
    octets of the reply (at most the journal's cap; `bytes_sent` is the full size). Both
    keep credentials: they are data for assertions, and masked when printed. A line longer
    than the server's `max_line` is kept as its first octets, up to the same cap. Every
    printed form (`line`, `str`, `repr`, `describe()`) escapes control characters.
    """

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
    response: bytes = b""
    #: The whole line may be a credential, whatever its verb: the line after a USER command
    #: or a line of an AUTH exchange. It is shown as ``***`` (or ``PASS ***``...).
    credential: bool = False

    @property
    def line(self) -> str:
        """The command as text, secrets masked, control characters escaped."""
        return mask(self.verb, self.args, credential=self.credential)

    @property
    def secret(self) -> bool:
        """Whether the line carries a credential (and is masked when printed)."""
        return self.line != escape(" ".join([self.verb, *self.args]))

    @property
    def ok(self) -> bool:
        return self.status == "+OK"

    @property
    def response_truncated(self) -> bool:
        """The journal kept only the first octets of this reply."""
        return len(self.response) < self.bytes_sent

    def __repr__(self) -> str:
        return f"<Command {self.session}.{self.seq} {self.line!r} -> {self.status} {self.reply!r}>"

    def __str__(self) -> str:
        return self.line

    def describe(self) -> str:
        """`session 1, command 4: RETR 1 -> +OK 120 octets` (secrets masked)."""
        reply = escape(f"{self.status} {self.reply}".strip()) or "(no reply)"
        return f"session {self.session}, command {self.seq}: {self.line} -> {reply}"


@attrs.frozen
class Violation:
    """A protocol rule the client broke (strict mode fails on these).

    `command` is the offending command when there is one; otherwise `after` says how many
    commands of the session came before (pipelining, a connection dropped without QUIT).
    """

    session: int
    text: str
    command: CommandRecord | None = None
    after: int = 0

    def __str__(self) -> str:
        if self.command is not None:
            where = f"command {self.command.seq} {self.command.line!r}"
        elif self.after:
            where = f"after command {self.after}"
        else:
            where = "before any command"
        return f"session {self.session}, {where}: {escape(self.text)}"


#: A command left out of a session's record, as counted: verb ("": any verb), arguments
#: (None: not counted one by one, see `SessionRecord.left_out`) and user.
LeftOutKey = tuple[str, "tuple[str, ...] | None", "str | None"]


@attrs.define(repr=False, eq=False)
class SessionRecord:
    """One connection: who, how, and the commands in order.

    A long session keeps its first and last commands only (the journal's `keep_commands`
    at each end, `session_keep_commands` of the server): `commands` holds those, in order,
    with a gap between them; `command_count` counts every command and `commands_left_out`
    those in the gap, which `left_out` counts by verb, arguments and user.
    """

    id: int
    peer: str
    tls: bool
    started: float
    user: str | None = None
    ended: float | None = None
    end_reason: str | None = None
    commands: list[CommandRecord] = attrs.field(factory=list)
    #: Violations as text (``"RETR 1: RETR sent before login"``); `Journal.violations` has
    #: them as `Violation` values with their position.
    violations: list[str] = attrs.field(factory=list)
    faults: list[str] = attrs.field(factory=list)
    #: The greeting's first octets as sent (capped like replies).
    greeting: bytes = b""
    greeting_size: int = 0
    #: Commands answered before TLS started (STLS); None if TLS never started mid-session.
    tls_after: int | None = None
    #: Every command of the session, the ones left out of `commands` included.
    command_count: int = 0
    #: Commands left out of `commands`, between the first and the last ones kept.
    commands_left_out: int = 0
    #: The commands left out, counted by (verb, arguments, user). Arguments are None for
    #: those counted by verb only: once a session has left out as many distinct commands
    #: as it keeps at each end, further new ones are counted without their arguments; past
    #: twice that, a new verb too is counted under "" (a client chooses its verbs, and
    #: unknown ones must not grow the count without bound).
    left_out: dict[LeftOutKey, int] = attrs.field(factory=dict)

    def _leave_out(self, command: CommandRecord, distinct: int) -> None:
        self.commands_left_out += 1
        key: LeftOutKey = (command.verb, command.args, command.user)
        if key not in self.left_out and len(self.left_out) >= distinct:
            key = (command.verb, None, command.user)
            if key not in self.left_out and len(self.left_out) >= 2 * distinct:
                key = ("", None, None)
        self.left_out[key] = self.left_out.get(key, 0) + 1

    @property
    def open(self) -> bool:
        return self.ended is None

    @property
    def client_bytes(self) -> bytes:
        """Every line the client sent, as received (credentials included): of a long
        session, the lines of the commands kept."""
        return b"".join(c.raw for c in list(self.commands))

    @property
    def server_bytes(self) -> bytes:
        """The greeting and every reply as kept by the journal (each capped; of a long
        session, the replies to the commands kept)."""
        return self.greeting + b"".join(c.response for c in list(self.commands))

    def transcript(self, *, max_lines: int | None = None) -> str:
        """The session as S:/C: lines, secrets masked, replies shortened to what was kept.

        `max_lines` shortens each reply further (for printing long listings).
        """
        head = f"session {self.id} from {self.peer}"
        if self.user:
            head += f", user {self.user!r}"
        if self.tls and self.tls_after is None:
            head += ", TLS"
        out = [head]
        out += _server_lines(self.greeting, self.greeting_size, max_lines)
        previous = 0
        for cmd in list(self.commands):
            if cmd.seq > previous + 1:
                gap = cmd.seq - previous - 1
                out.append(
                    f"-- {gap:,} command{'s' if gap != 1 else ''} left out here "
                    f"({previous + 1} to {cmd.seq - 1}; the journal keeps the first and "
                    "last ones of a session)"
                )
            previous = cmd.seq
            line = cmd.line if cmd.secret else escape_bytes(cmd.raw.rstrip(b"\r\n"))
            ending = cmd.raw[len(cmd.raw.rstrip(b"\r\n")) :]
            if ending != b"\r\n":
                line += f"  [line ended by {escape_bytes(ending) or 'nothing'}, not CRLF]"
            out.append(f"C: {line}")
            if cmd.response or cmd.bytes_sent:
                out += _server_lines(cmd.response, cmd.bytes_sent, max_lines)
            else:
                out.append(escape(f"S: {cmd.status} {cmd.reply}".rstrip()))
            if cmd.fault:
                out.append(f"-- fault: {cmd.fault}")
            if self.tls_after == cmd.seq:
                out.append("-- TLS started")
        if self.end_reason:
            out.append(f"-- ended: {escape(self.end_reason)}")  # may quote an OS or TLS error
        return "\n".join(out)

    def __repr__(self) -> str:
        return (
            f"<Session {self.id} {self.peer} user={self.user!r} "
            f"commands={self.command_count} end={self.end_reason!r}>"
        )


def _server_lines(kept: bytes, total: int, max_lines: int | None) -> list[str]:
    if total == 0:
        return ["S: (nothing sent)"]
    pieces = kept.split(b"\r\n")
    tail = pieces.pop()  # after the last CRLF: empty, or a cut-off line
    out = [f"S: {escape_bytes(p)}".rstrip() for p in pieces]
    cut = total > len(kept)
    if tail:
        out.append(f"S: {escape_bytes(tail)}{'...' if cut else '  [no CRLF]'}")
    if max_lines is not None and len(out) > max_lines:
        out = [*out[:max_lines], f"S: [... {len(out) - max_lines} more lines]"]
    if cut:
        out.append(
            f"S: [... {total - len(kept)} more octets sent, not kept: "
            f"the journal keeps the first {len(kept)} of each reply]"
        )
    return out


@attrs.frozen
class _Want:
    """One expected command: a verb and leading arguments, parsed like the server does."""

    verb: str
    args: tuple[str, ...]

    @classmethod
    def of(cls, pattern: str | Sequence[object]) -> _Want:
        if isinstance(pattern, str):
            verb, _, rest = pattern.strip().partition(" ")
            verb = verb.upper()
            # PASS takes the rest of the line as one argument, spaces included.
            args = (rest,) if verb == "PASS" and rest else tuple(rest.split())
            return cls(verb, args)
        if isinstance(pattern, CommandRecord):
            return cls(pattern.verb, pattern.args)
        items = list(pattern)
        if not items:
            raise ValueError("an expected command needs at least a verb")
        return cls(str(items[0]).upper(), tuple(str(a) for a in items[1:]))

    def matches(self, command: CommandRecord) -> bool:
        return command.verb == self.verb and command.args[: len(self.args)] == self.args

    def __str__(self) -> str:
        return mask(self.verb, self.args)


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _asked(verb: str | None, args: Sequence[object]) -> str:
    return repr(mask((verb or "*").upper(), [str(a) for a in args]))


def _unsure_text(unsure: Mapping[int, int]) -> str:
    where = ", ".join(f"{n} in session {sid}" for sid, n in sorted(unsure.items()))
    return (
        f"commands of that verb were left out of long sessions' records and counted without "
        f"their arguments ({where}): raise session_keep_commands to count them one by one"
    )


class Journal:
    """Thread-safe record of sessions and commands, with queries and assertions."""

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
        self._cond = threading.Condition()
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
        # Ended sessions no longer kept (keep_sessions), so that waits count them too.
        self._ended_forgotten = 0
        # Violations counted but not kept: of forgotten sessions, or beyond a session's share.
        self._violations_not_kept = 0
        self._violations: list[Violation] = []
        self._clock = clock
        self._listeners: list[Listener] = []
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

    def wake(self) -> None:
        """Wake every `wait_for` so that it checks its `cancel` callable again."""
        with self._cond:
            self._cond.notify_all()

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
        out = bytearray()
        for part in parts:
            room = self.reply_cap - len(out)
            if room <= 0:
                break
            out += part[:room]
        return bytes(out)

    def open_session(self, peer: str, tls: bool) -> SessionRecord:
        with self._cond:
            self.total_sessions += 1
            record = SessionRecord(self.total_sessions, peer, tls, self._clock())
            self._sessions.append(record)
            self._emit("session-start", record, None)
            self._cond.notify_all()
            return record

    def add_greeting(self, session: SessionRecord, parts: Sequence[bytes]) -> None:
        """Keep the greeting as it goes out (capped like replies)."""
        with self._cond:
            session.greeting = self.kept(parts)
            session.greeting_size = sum(len(p) for p in parts)

    def add_command(self, session: SessionRecord, command: CommandRecord) -> None:
        with self._cond:
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
            self._cond.notify_all()

    def _keeps_violation(self, session: SessionRecord) -> bool:
        # A session keeps as many violations as commands at each end; the rest are counted.
        if self.keep_commands is None or len(session.violations) < 2 * self.keep_commands:
            return True
        self._violations_not_kept += 1
        return False

    def close_session(self, session: SessionRecord, reason: str) -> None:
        with self._cond:
            if session.ended is None:
                session.ended = self._clock()
                session.end_reason = reason
                self._emit("session-end", session, None)
                self._forget_old_sessions()
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
        self._ended_forgotten += len(dropped)
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

    def clock(self) -> float:
        return self._clock()

    def clear(self) -> None:
        with self._cond:
            self._sessions.clear()
            self._commands.clear()
            self._violations.clear()
            self._ended_forgotten = 0
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
            return self._ended_forgotten + sum(1 for s in self._sessions if s.ended is not None)

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

    def violation_report(self, limit: int = _REPORT_LIMIT) -> str:
        """The violations as a readable multi-line text ('' when there are none)."""
        with self._cond:
            found, total = list(self._violations), self.violation_count
        if not total:
            return ""
        lines = [
            f"the client broke the POP3 protocol (strict mode), "
            f"{total} violation{'s' if total != 1 else ''}:"
        ]
        for item in found[:limit]:
            lines.append(f"  {item}")
            if item.command is not None:
                lines.append(f"      C: {item.command.line}")
                reply = escape(f"{item.command.status} {item.command.reply}".rstrip())
                lines.append(f"      S: {reply}")
        shown = min(len(found), limit)
        if total > shown:
            lines.append(f"  ... and {total - shown} more")
        return "\n".join(lines)

    # -- assertions ----------------------------------------------------------------------

    def assert_command(
        self,
        verb: str,
        *args: object,
        count: int | None = None,
        user: str | None = None,
        session: int | None = None,
    ) -> list[CommandRecord]:
        """Assert a command was sent at least once, or exactly `count` times (0: never).

        Arguments match leading arguments as text: `assert_command("RETR", 3)`,
        `assert_command("TOP", 1)` matches `TOP 1 10`. Returns the matching commands.
        """
        __tracebackhide__ = True
        with self._cond:
            commands = list(self._kept())
            extra, unsure = self._left_out_matching(verb, args, user, session)
        found = self._find(commands, verb, args, user, session)
        total = len(found) + extra
        maybe = sum(unsure.values())
        if (count is None and total) or (total == count and not maybe):
            return found
        want = _Want(verb.upper(), tuple(str(a) for a in args))
        scope = "".join(
            f" {k} {v!r}" for k, v in (("for user", user), ("in session", session)) if v
        )
        if maybe and (total <= count <= total + maybe if count is not None else not total):
            # Matches may hide among commands counted without their arguments: no answer
            # is sure, so none is given.
            expected = "at least once" if count is None else _times(count)
            lines = [
                f"cannot tell whether {str(want)!r} was sent {expected}{scope}: "
                f"{total} sure, {_unsure_text(unsure)}"
            ]
        elif count == 0:
            lines = [f"expected {str(want)!r} never to be sent{scope}, but it was:"]
            lines += [f"    {c.describe()}" for c in found]
        else:
            expected = "at least once" if count is None else _times(count)
            actual = "not sent" if not total else f"sent {_times(total)}"
            if maybe:
                actual += f" (or up to {maybe} more)"
            lines = [
                f"expected {str(want)!r} to be sent {expected}{scope}, but it was {actual}.",
                f"  Expected: {want}  ({expected})",
                f"  Actual:   {actual}",
            ]
            lines += [f"    {c.describe()}" for c in found]
        if extra:
            lines.append(
                f"    ... and {extra} left out of the record of a long session (counted, not kept)"
            )
        hits = {id(c) for c in found}
        near = [c for c in commands if c.verb == want.verb and id(c) not in hits]
        if near:
            lines.append(f"  Near misses ({want.verb} with other arguments, user or session):")
            lines += [f"    {c.describe()}" for c in near[:10]]
            if len(near) > 10:
                lines.append(f"    ... and {len(near) - 10} more")
        lines += self._summary(commands)
        raise AssertionError("\n".join(lines))

    def assert_command_once(
        self, verb: str, *args: object, user: str | None = None, session: int | None = None
    ) -> CommandRecord:
        """Assert the command was sent exactly once and return it."""
        __tracebackhide__ = True
        found = self.assert_command(verb, *args, count=1, user=user, session=session)
        if not found:
            raise AssertionError(
                f"{str(_Want.of([verb, *args]))!r} was sent once, but in the middle of a long "
                "session, whose record keeps only its first and last commands "
                "(session_keep_commands): it was counted, not kept"
            )
        return found[0]

    def assert_commands(
        self,
        expected: Iterable[str | Sequence[object]],
        *,
        any_order: bool = False,
        session: int | None = None,
    ) -> None:
        """Assert these commands were sent: a contiguous run within one session, in this
        order (like `unittest.mock`'s `assert_has_calls`), or anywhere with `any_order`.

        Each expected command is a line ("USER alice", "RETR 1") or a tuple ("RETR", 1) and
        matches leading arguments: "PASS" matches any password.
        """
        __tracebackhide__ = True
        wanted = [_Want.of(e) for e in expected]
        commands = self._find(self.commands, None, (), None, session)
        if any_order:
            self._check_any_order(wanted, commands, session)
            return
        # One run per stretch of consecutive commands: a long session's record has a gap,
        # and a run must not match across it.
        runs: dict[tuple[int, int], list[CommandRecord]] = {}
        ends: dict[int, tuple[int, int]] = {}
        for command in commands:
            key = ends.get(command.session)
            if key is None or runs[key][-1].seq + 1 != command.seq:
                key = (command.session, command.seq)
            runs.setdefault(key, []).append(command)
            ends[command.session] = key
        best: tuple[int, int, list[CommandRecord]] = (-1, 0, [])
        for run in runs.values():
            for start in range(len(run)):
                n = 0
                while (
                    n < len(wanted) and start + n < len(run) and wanted[n].matches(run[start + n])
                ):
                    n += 1
                if n == len(wanted):
                    return
                if n > best[0]:
                    best = (n, start, run)
        lines = [
            "expected these commands in a row, in this order:",
            "  Expected: " + ", ".join(str(w) for w in wanted),
        ]
        matched, start, run = best
        if matched > 0:
            first = run[start]
            lines.append(
                f"  Closest:  session {first.session}, commands {first.seq}-"
                f"{first.seq + matched - 1} match the first {matched}, then"
            )
            if start + matched < len(run):
                got = run[start + matched]
                lines.append(
                    f"            command {got.seq} is {got.line!r}, not {str(wanted[matched])!r}"
                )
            else:
                lines.append(
                    f"            the session has no more commands ({wanted[matched]!s} missing)"
                )
        else:
            lines.append(f"  Actual:   {str(wanted[0])!r} was never sent" if wanted else "")
        lines += self._gaps(session)
        lines += self._summary(commands)
        raise AssertionError("\n".join(lines))

    def _gaps(self, session: int | None) -> list[str]:
        """Lines naming the commands left out of long sessions: a run among them cannot be
        checked."""
        with self._cond:
            gaps = [s for s in self._sessions if s.commands_left_out and session in (None, s.id)]
        return [
            f"  Not kept: session {s.id} left out {s.commands_left_out} commands in its middle "
            "(the record keeps the first and last ones: session_keep_commands); a run among "
            "them cannot be checked"
            for s in gaps
        ]

    def _check_any_order(
        self, wanted: list[_Want], commands: list[CommandRecord], session: int | None
    ) -> None:
        __tracebackhide__ = True
        pool = list(commands)
        with self._cond:
            left_out = {
                (s.id, key): n
                for s in self._sessions
                if session in (None, s.id)
                for key, n in s.left_out.items()
            }
        missing: list[_Want] = []
        for want in wanted:
            for index, command in enumerate(pool):
                if want.matches(command):
                    del pool[index]
                    break
            else:
                # Counted, not kept: a command left out of a long session's record.
                for (sid, (verb, args, _user)), n in left_out.items():
                    if (
                        n
                        and verb == want.verb
                        and (
                            not want.args
                            or (args is not None and args[: len(want.args)] == want.args)
                        )
                    ):
                        left_out[(sid, (verb, args, _user))] = n - 1
                        break
                else:
                    missing.append(want)
        if not missing:
            return
        lines = [
            "expected these commands in any order:",
            "  Expected: " + ", ".join(str(w) for w in wanted),
            "  Missing:  " + ", ".join(str(w) for w in missing),
        ]
        for want in missing:
            near = [c.describe() for c in commands if c.verb == want.verb]
            if near:
                lines.append(f"  Near misses for {str(want)!r}:")
                lines += [f"    {n}" for n in near[:10]]
        lines += self._gaps(session)
        lines += self._summary(commands)
        raise AssertionError("\n".join(lines))

    def assert_no_sessions(self) -> None:
        """Assert no client connected at all."""
        __tracebackhide__ = True
        sessions = self.sessions
        if sessions:
            raise AssertionError(
                f"expected no connection, but {len(sessions)} were made:\n"
                + "\n".join(f"  {s!r}" for s in sessions)
            )

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

    # -- waiting -------------------------------------------------------------------------

    def wait_for(
        self,
        verb: str | None = None,
        *args: object,
        count: int = 1,
        user: str | None = None,
        session: int | None = None,
        sessions_ended: int | None = None,
        timeout: float = 5.0,
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Block until `count` matching commands (or `sessions_ended` ended sessions) are
        recorded, for clients running in another thread or process. `sessions_ended`
        counts the ended sessions the journal no longer keeps (`keep_sessions`) too.

        Waits on the journal's condition variable (woken by every record, never polls);
        raises TimeoutError saying what it saw. `cancel` ends the wait early the same way
        once it returns true when checked (after a record or `wake()`).
        """
        __tracebackhide__ = True
        command_given = verb is not None or args or user is not None or session is not None
        if sessions_ended is not None and (command_given or count != 1):
            raise ValueError(
                "wait_for: give a command (verb, args, user, session, count) or "
                "sessions_ended=, not both; call it twice to wait for both"
            )

        def ended_count() -> int:
            # The ones no longer kept count too: with keep_sessions the wait would never end.
            return self._ended_forgotten + sum(1 for s in self._sessions if s.ended is not None)

        def done() -> bool:
            if cancel is not None and cancel():
                return True
            if sessions_ended is not None:
                return ended_count() >= sessions_ended
            # Commands left out of a long session count when sure to match (a wait must
            # not end early).
            seen = len(self._find(self._kept(), verb, args, user, session))
            return seen + self._left_out_matching(verb, args, user, session)[0] >= count

        with self._cond:
            if self._cond.wait_for(done, timeout) and not (cancel is not None and cancel()):
                return
            if sessions_ended is not None:
                ended = ended_count()
                kept = sum(1 for s in self._sessions if s.ended is not None)
                what = f"{sessions_ended} ended sessions (ended: {ended}, open: "
                what += f"{len(self._sessions) - kept})"
            else:
                seen = len(self._find(self._kept(), verb, args, user, session))
                seen += self._left_out_matching(verb, args, user, session)[0]
                want = mask((verb or "*").upper(), [str(a) for a in args])
                what = f"{count} x {want!r} (seen: {seen})"
            summary = "\n".join(self._summary(self._kept()))
        raise TimeoutError(f"waited {timeout} s for {what}\n{summary}")
