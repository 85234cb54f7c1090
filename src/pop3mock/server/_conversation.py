"""The conversation with one client, sans-IO: bytes in; replies, journal records and
violations out.

In the spirit of h11's `Connection`: the connection thread (`pop3mock.server._connection`)
feeds what it reads to `receive_data` and carries out what `next_reply` gives back, either
the wire bytes of a plain reply (one piece, or a big message in pieces sent by
scatter-gather, never joined) or a list of I/O steps (`pop3mock.protocol._steps`: a fault,
a failed login's pause). Every decision about the protocol is taken here, where a test
reaches it without a socket:

- which commands were pipelined although PIPELINING is not advertised;
- the verb and arguments a record keeps (credentials included, masked when shown by the
  one rule of `pop3mock.protocol._text`);
- the fault plan of each reply, compiled exactly once: what the journal keeps is cut from
  the very steps that are sent;
- the end of the session: after QUIT (whatever a fault made of its reply), after a reply
  that closes (too many bad commands), and "connection closed without QUIT";
- STLS: the handshake starts after the reply, and plaintext the client sent before it is
  dropped, never run inside TLS.

No sockets, threads or clocks: time reaches the journal and the session through the clocks
they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

from pop3mock.faults._faultset import FaultPlan, FaultSet
from pop3mock.faults._targets import FaultPoint
from pop3mock.journal._journal import CommandRecord, Journal
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.protocol._config import ServerConfig
from pop3mock.protocol._framing import Line, LineReader
from pop3mock.protocol._replay import Replay, ReplaySession
from pop3mock.protocol._session import Response, Session, State, system_error
from pop3mock.protocol._steps import Send, Sleep, Step, sent_bytes
from pop3mock.protocol._text import credential_line, garbled_secret, mask, mask_verb

__all__ = ["Conversation", "CoreError", "Reply"]

#: What the server sends for one reply: wire bytes in pieces, or I/O steps to carry out.
Reply = Union[tuple[bytes, ...], list[Step]]

_PIPELINED = "commands pipelined although PIPELINING is not advertised"
_PLAINTEXT_AFTER_STLS = "plaintext sent after STLS, before the handshake: discarded"
_NO_QUIT = "connection closed without QUIT"
# How a client that leaves shows: only these endings are held to the QUIT rule.
_CLIENT_LEFT = frozenset({"client closed", "client reset"})
# Replies up to this size are joined into one bytes object; bigger ones (a large message)
# stay in pieces, sent by scatter-gather from the message's cached bytes.
_JOIN_LIMIT = 256 * 1024


class CoreError(Exception):
    """The maildrop or the protocol core raised `error`: a server failure, whatever its type.

    The core does no I/O, so an OSError from it (a loader reading a file that is gone) must
    not pass for a lost connection.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class Conversation:
    """One client's conversation, from the connect fault to the record's end.

    Call `connect()` (the steps of a fault at connect time), then `greet()`, then feed
    `receive_data` and take `next_reply()` until it says it needs more data. After each
    reply look at `logged_in`, `said_quit`, `start_tls` and `ending`; at the very end call
    `connection_lost()` then `close(reason)`.
    """

    def __init__(
        self,
        config: ServerConfig,
        users: Mapping[str, Mailbox],
        journal: Journal,
        faults: FaultSet,
        *,
        peer: str,
        implicit_tls: bool = False,
        max_line: int = 65536,
        replay: Replay | None = None,
        timestamp: Callable[[], str] = lambda: "<0.0@pop3mock.localhost>",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.users = users
        self.journal = journal
        self.faults = faults
        self.implicit_tls = implicit_tls
        self.replay = replay
        self.timestamp = timestamp
        self.clock = clock
        self.reader = LineReader(max_line)
        self.record = journal.open_session(peer, implicit_tls)
        self.session: Session | ReplaySession | None = None
        #: A login succeeded (the reply that says so is the one just given).
        self.logged_in = False
        #: A QUIT was accepted: whatever happens to its reply, the client did say QUIT.
        self.said_quit = False
        #: Start the TLS handshake once the reply just given is sent; `tls_started()` after.
        self.start_tls = False
        #: Why the server ends the session once the reply just given is sent, or None.
        self.ending: str | None = None
        #: The command being answered (verb, args, credential), for an error report.
        self.answering: tuple[str, tuple[str, ...], bool] | None = None
        self._eof = False
        self._pipelining = config.has("PIPELINING")
        # The verb of the line before (None after a SASL line): the line after USER is
        # taken for a password whatever it says.
        self._previous_verb: str | None = None

    # -- opening ---------------------------------------------------------------------------

    def connect(self) -> list[Step]:
        """What a fault does as the client connects, before any TLS handshake."""
        plan = self._plan("connect")
        return [] if plan is None else plan.steps(b"")

    def greet(self) -> Reply:
        """Start the session (after an implicit-TLS handshake) and give its greeting."""
        session: Session | ReplaySession
        if self.replay is not None:
            session = self.session = self.replay.session(self.config)
        else:
            session = self.session = Session(
                self.config,
                self.users,
                timestamp=self.timestamp(),
                tls=self.implicit_tls,
                implicit_tls=self.implicit_tls,
                clock=self.clock,
            )
        greeting = session.greeting()
        plan = self._plan("greeting")
        reply, sent = _compile(greeting.parts(), greeting.pause, plan)
        self.journal.add_greeting(self.record, sent)
        if greeting.violation is not None:
            self.journal.note(self.record, violation=greeting.violation)
        if greeting.close:
            self.ending = "closed by server"
        return reply

    # -- commands --------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """What the client sent; b"" when it closed its side."""
        if data:
            self.reader.feed(data)
        else:
            self._eof = True

    @property
    def eof(self) -> bool:
        """The client closed its side: once `next_reply` gives None, the session is over."""
        return self._eof

    def next_reply(self) -> Reply | None:
        """The reply to the next complete command line, or None until more data comes."""
        reader = self.reader
        line = reader.next_line()
        if line is None:
            if not self._eof:
                return None
            line = reader.end_of_stream()
            if line is None:
                return None
        session = self.session
        assert session is not None, "greet() first"
        if reader.buffered and not self._pipelining and not session.in_sasl:
            self.journal.note(self.record, violation=_PIPELINED)
        return self._answer(session, line)

    def _answer(self, session: Session | ReplaySession, line: Line) -> Reply:
        record = self.record
        journal = self.journal
        state = session.state
        in_sasl = session.in_sasl
        data, ending, truncated = line
        if truncated and len(data) > journal.reply_cap:
            # The core only needs to know the line was cut; the journal keeps its start, so
            # a client that sends endless lines cannot fill memory through the records.
            data = data[: journal.reply_cap]
        credential = credential_line(self._previous_verb, in_sasl=in_sasl)
        args: tuple[str, ...]
        split: tuple[str, str] | None = None
        if in_sasl:
            verb, args = "", (data.decode("ascii", "replace"),)
            self._previous_verb = None
        else:
            split = verb, rest = session.verb_of(data)
            args = tuple([rest] if verb == "PASS" and rest else rest.split())
            if garbled_secret(verb):
                # A garbled PASS/APOP/AUTH: the credential is in the "verb" and its arguments;
                # the record keeps neither (raw still holds the exact line).
                verb, args = mask_verb(verb), ()
            self._previous_verb = verb
        self.answering = (verb, args, credential)
        plan = None
        if verb and not in_sasl and self.faults:
            plan = self._plan(verb, args, session.user or session.pending_user, state._value_)
        response: Response | None = None
        if plan is not None and plan.replace is not None:
            wire = plan.replace
            status, text = _split_status(wire)
            reply, sent = _compile((wire,), 0.0, plan)
        else:
            try:
                # (a cut line is refused before its verb counts: `split` is of its start)
                response = session.handle(
                    line.data, truncated=truncated, ending=ending, split=split
                )
            except Exception as exc:
                raise CoreError(exc) from None
            parts = response.parts()
            status = response.status
            first = parts[0] if response.raw is None else response.first_line
            text = first[:-2].decode("utf-8", "replace")[len(status) + 1 :]
            reply, sent = _compile(parts, response.pause, plan)
        journal.add_command(
            record,
            # (positional: the fields in their order; one record per command line)
            CommandRecord(
                record.id,
                record.command_count + 1,
                journal.clock(),
                state._value_,  # (the member's own attribute: .value is a descriptor call)
                data + ending,
                verb,
                args,
                session.user or (session.pending_user if verb == "USER" else None),
                status,
                text,
                sum(map(len, sent)),
                plan.rule if plan is not None else None,
                response.violation if response is not None else None,
                journal.kept(sent),
                credential,
            ),
        )
        if not self.logged_in and session.state is State.TRANSACTION:
            self.logged_in = True
        if verb == "QUIT" and (response is None or session.closed):
            self.said_quit = True
        if response is None:
            if verb == "QUIT":
                # The server closes after answering QUIT whatever it answered (RFC 1939
                # section 6); a replaced reply only means that nothing was committed.
                self.ending = "quit"
            return reply
        if response.start_tls:
            if self.reader.clear():
                # Never run inside TLS what came in plaintext after STLS (C-140).
                journal.note(record, violation=_PLAINTEXT_AFTER_STLS)
            self.start_tls = True
        if response.close:
            self.ending = "quit" if verb == "QUIT" else "closed by server"
        return reply

    def tls_started(self) -> None:
        """The STLS handshake is done."""
        self.start_tls = False
        assert self.session is not None
        self.session.tls_started()
        self.journal.note(self.record, tls=True)

    # -- replies outside the conversation --------------------------------------------------

    def login_timeout_reply(self) -> bytes:
        """What the client reads when its login took longer than allowed."""
        return Response("-ERR", self.config.text("login_timeout")).encode()

    def server_full_reply(self) -> bytes:
        """What the client reads when its slot went to a newer one (server full)."""
        return system_error(self.config, "too_many_connections").encode()

    def place(self) -> str:
        """Where the conversation is, in words, for an error report."""
        if self.answering is None:
            return f"session {self.record.id}, before its first command"
        verb, args, credential = self.answering
        return f"session {self.record.id}, answering {mask(verb, args, credential=credential)!r}"

    # -- closing ---------------------------------------------------------------------------

    def connection_lost(self) -> None:
        """The connection is gone: no UPDATE unless QUIT came, the maildrop is released."""
        if self.session is not None:
            self.session.connection_lost()

    def close(self, reason: str, *, left_a_hang: bool = False) -> None:
        """End the record for `reason` (`left_a_hang`: the client left while a hang fault
        held its reply)."""
        session = self.session
        record = self.record
        # A client that gives up on a hung reply did what a client should: the missing QUIT
        # is the fault's doing. Only a session that sent a command is held to QUIT: a
        # connection that said nothing (a wait-for-port probe, a TLS client that rejects the
        # certificate and closes, as RFC 2595 section 2.4 allows) never started one. A
        # replayed client that leaves where the recorded one left does so too.
        if (
            reason in _CLIENT_LEFT
            and not left_a_hang
            and not self.said_quit
            and record.command_count
            and not (isinstance(session, ReplaySession) and session.at_recorded_close)
        ):
            self.journal.note(record, violation=_NO_QUIT)
        self.journal.close_session(record, reason)
        self.faults.end_session(record.id)

    # -- faults ----------------------------------------------------------------------------

    def _plan(
        self,
        target: str,
        args: tuple[str, ...] = (),
        user: str | None = None,
        state: str = "AUTHORIZATION",
    ) -> FaultPlan | None:
        faults = self.faults
        if not faults:
            return None
        plan = faults.plan(FaultPoint(target, args, user, self.record.id, state))
        if plan is not None:
            self.journal.note(self.record, fault=plan.rule)
        return plan


def _compile(
    parts: tuple[bytes, ...], pause: float, plan: FaultPlan | None
) -> tuple[Reply, tuple[bytes, ...]]:
    """(what to send, what goes on the wire) for a reply: its fault plan compiled once, so
    that the journal keeps an excerpt of the very bytes that are sent."""
    if plan is None and not pause:
        if len(parts) > 1 and sum(map(len, parts)) <= _JOIN_LIMIT:
            # One copy, sent in one call and kept by the journal without another.
            joined = (b"".join(parts),)
            return joined, joined
        return parts, parts
    if plan is None:
        wire = parts[0] if len(parts) == 1 else b"".join(parts)
        steps: list[Step] = [Send(wire)]
        sent = parts
    else:
        steps = plan.steps(parts[0] if len(parts) == 1 else b"".join(parts))
        sent = (sent_bytes(steps),)
    if pause:
        # A failed login's delay (or a replay's recorded pause) comes before the reply.
        steps = [Sleep(pause), *steps]
    return steps, sent


def _split_status(wire: bytes) -> tuple[str, str]:
    first = wire.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    status, _, text = first.partition(" ")
    return status, text
