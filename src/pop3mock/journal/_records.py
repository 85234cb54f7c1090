"""What a journal records: a command and its reply (`CommandRecord`), a session
(`SessionRecord`), a protocol rule the client broke (`Violation`), and how each prints.

Credentials are kept (a test may check them) but masked whenever a record is printed: repr,
str, transcripts and assertion messages never show them. What a client sent is printed with
its control characters escaped (see `pop3mock.protocol._text`), so a client cannot steer the
terminal that shows a transcript or a failure; the data fields (`raw`, `verb`, `args`,
`reply`) keep the exact values.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from pop3mock.protocol._text import escape, escape_bytes, mask

__all__ = ["CommandRecord", "LeftOutKey", "SessionRecord", "Violation", "mask"]


# slots=False: attrs stores a frozen dict class's fields straight into its __dict__, where a
# frozen slotted class pays one object.__setattr__ call per field. One record is made per
# command, and this makes it half as costly to make, for about 110 more octets each (310
# instead of 200, measured with tracemalloc).
@attrs.frozen(repr=False, slots=False)
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
