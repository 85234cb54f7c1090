"""The conversation layer without sockets: bytes in; replies, journal records and violations
out (pop3mock.server._conversation)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3mock.faults._faultset import FaultPlan, FaultSet
from pop3mock.faults._targets import FaultPoint
from pop3mock.journal._journal import Journal
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.protocol._config import ALL_CAPABILITIES, ServerConfig
from pop3mock.protocol._steps import Close, Hang, Send, Sleep, Step, sent_bytes
from pop3mock.server._conversation import Conversation, CoreError, Reply

MESSAGE = b"Subject: hi\r\n\r\nHello\r\n"
NO_PIPELINING = ALL_CAPABILITIES - {"PIPELINING"}


def make(
    config: ServerConfig | None = None,
    faults: FaultSet | None = None,
    *,
    max_line: int = 65536,
    messages: int = 2,
) -> Conversation:
    users = {"alice": Mailbox("alice", "secret", [MESSAGE] * messages)}
    return Conversation(
        config or ServerConfig(),
        users,
        Journal(clock=lambda: 0.0),
        faults if faults is not None else FaultSet(1),
        peer="127.0.0.1:1",
        max_line=max_line,
    )


def wire(reply: Reply) -> bytes:
    """What a reply puts on the wire."""
    if isinstance(reply, tuple):
        return b"".join(reply)
    return sent_bytes(reply)


def talk(conversation: Conversation, *chunks: bytes) -> list[bytes]:
    """Greet, feed `chunks` one after another, and return every reply's wire bytes."""
    out = [wire(conversation.greet())]
    for chunk in chunks:
        conversation.receive_data(chunk)
        while (reply := conversation.next_reply()) is not None:
            out.append(wire(reply))
    return out


def violations(conversation: Conversation) -> list[str]:
    return [v.text for v in conversation.journal.violations]


def test_greeting_reply_and_record() -> None:
    conversation = make()
    greeting = conversation.greet()
    assert isinstance(greeting, tuple)  # a plain reply goes out in pieces, never joined
    assert wire(greeting).startswith(b"+OK ")
    assert conversation.record.greeting == wire(greeting)
    assert conversation.ending is None


def test_a_whole_session_gives_replies_and_records() -> None:
    conversation = make()
    replies = talk(conversation, b"USER alice\r\n", b"PASS secret\r\nSTAT\r\n")
    assert replies[1].startswith(b"+OK") and replies[3] == b"+OK 2 %d\r\n" % (2 * len(MESSAGE))
    assert conversation.logged_in
    conversation.receive_data(b"RETR 1\r\n")
    retr = conversation.next_reply()
    assert isinstance(retr, tuple) and b"".join(retr).endswith(b"Hello\r\n.\r\n")
    assert conversation.next_reply() is None  # waits for more data
    conversation.receive_data(b"QUIT\r\n")
    assert wire(conversation.next_reply() or ()).startswith(b"+OK")
    assert conversation.said_quit and conversation.ending == "quit"
    records = conversation.record.commands
    assert [(r.verb, r.args) for r in records] == [
        ("USER", ("alice",)),
        ("PASS", ("secret",)),
        ("STAT", ()),
        ("RETR", ("1",)),
        ("QUIT", ()),
    ]
    assert records[3].response == b"".join(retr) and records[3].bytes_sent == len(b"".join(retr))
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    conversation.connection_lost()
    conversation.close("quit")
    assert conversation.record.end_reason == "quit"
    assert violations(conversation) == []


def test_login_shows_on_the_reply_that_grants_it() -> None:
    conversation = make()
    talk(conversation, b"USER alice\r\n")
    assert not conversation.logged_in
    conversation.receive_data(b"PASS secret\r\n")
    conversation.next_reply()
    assert conversation.logged_in


@pytest.mark.parametrize(
    ("capabilities", "chunks", "expected"),
    [
        (NO_PIPELINING, [b"NOOP\r\nCAPA\r\n"], 1),  # two commands in one read
        (NO_PIPELINING, [b"NOOP\r\n", b"CAPA\r\n"], 0),  # one at a time
        (ALL_CAPABILITIES, [b"NOOP\r\nCAPA\r\n"], 0),  # advertised: allowed
    ],
)
def test_pipelining_without_the_capability_is_a_violation(
    capabilities: frozenset[str], chunks: list[bytes], expected: int
) -> None:
    conversation = make(ServerConfig(capabilities=capabilities))
    talk(conversation, *chunks)
    found = [v for v in violations(conversation) if "pipelined" in v]
    assert len(found) == expected


def test_a_replaced_quit_still_ends_the_session() -> None:
    faults = FaultSet(1)
    faults.on("QUIT").error("not now")
    conversation = make(faults=faults)
    replies = talk(conversation, b"QUIT\r\n")
    assert replies[1] == b"-ERR not now\r\n"
    assert conversation.said_quit and conversation.ending == "quit"
    assert conversation.record.commands[0].fault is not None


def test_plaintext_after_stls_is_dropped_before_the_handshake() -> None:
    conversation = make(ServerConfig(stls_available=True))
    replies = talk(conversation, b"STLS\r\nUSER injected\r\n")
    assert replies[1].startswith(b"+OK") and len(replies) == 2  # USER never answered
    assert conversation.start_tls
    assert any("plaintext sent after STLS" in v for v in violations(conversation))
    conversation.tls_started()
    assert not conversation.start_tls and conversation.record.tls_after == 1
    assert conversation.next_reply() is None  # nothing left of the plaintext


def test_stls_alone_is_no_violation() -> None:
    conversation = make(ServerConfig(stls_available=True))
    talk(conversation, b"STLS\r\n")
    assert conversation.start_tls and violations(conversation) == []


@pytest.mark.parametrize(
    ("reason", "commands", "left_a_hang", "violation"),
    [
        ("client closed", b"NOOP\r\n", False, True),
        ("client reset", b"NOOP\r\n", False, True),
        ("client closed", b"", False, False),  # never said anything (a port probe)
        ("client closed", b"NOOP\r\n", True, False),  # gave up on a hung reply
        ("server stopped", b"NOOP\r\n", False, False),
        ("idle timeout", b"NOOP\r\n", False, False),
        ("client closed", b"NOOP\r\nQUIT\r\n", False, False),
    ],
)
def test_closed_without_quit(
    reason: str, commands: bytes, left_a_hang: bool, violation: bool
) -> None:
    conversation = make()
    talk(conversation, commands)
    conversation.connection_lost()
    conversation.close(reason, left_a_hang=left_a_hang)
    assert ("connection closed without QUIT" in violations(conversation)) is violation
    assert conversation.record.end_reason == reason


def test_too_many_bad_commands_end_the_session() -> None:
    conversation = make(ServerConfig(bad_command_limit=2))
    talk(conversation, b"BOGUS\r\n")
    assert conversation.ending is None
    conversation.receive_data(b"BOGUS\r\n")
    assert wire(conversation.next_reply() or ()).startswith(b"-ERR")
    assert conversation.ending == "closed by server" and not conversation.said_quit


@pytest.mark.parametrize(
    ("line", "verb", "args", "credential"),
    [
        (b"list 1", "LIST", ("1",), False),
        (b"PASS\tsecret", "PASS***", (), False),  # garbled: the record keeps no credential
        (b"PASS my secret", "PASS", ("my secret",), False),  # one argument, spaces and all
        (b"\xffx y", "\ufffdx", ("y",), False),  # only ASCII verbs are upper-cased
    ],
)
def test_what_a_record_keeps_of_a_line(
    line: bytes, verb: str, args: tuple[str, ...], credential: bool
) -> None:
    conversation = make()
    talk(conversation, line + b"\r\n")
    record = conversation.record.commands[0]
    assert (record.verb, record.args, record.credential) == (verb, args, credential)
    assert record.raw == line + b"\r\n"


def test_the_line_after_user_and_sasl_lines_are_credentials() -> None:
    conversation = make()
    talk(conversation, b"USER alice\r\n", b"QUIT\r\n")
    quit_record = conversation.record.commands[1]
    # A credential line keeps its verb when it names a command: QUIT is run as QUIT.
    assert quit_record.credential and quit_record.verb == "QUIT"
    sasl = make()
    talk(sasl, b"AUTH PLAIN\r\n", b"AGFsaWNlAHNlY3JldA==\r\n")
    line = sasl.record.commands[1]
    assert (line.verb, line.args, line.credential) == ("", ("AGFsaWNlAHNlY3JldA==",), True)
    assert sasl.logged_in


def test_a_cut_line_is_kept_only_up_to_the_reply_cap() -> None:
    conversation = make(max_line=10_000)
    conversation.journal.reply_cap = 16
    talk(conversation, b"X" * 12_000 + b"\r\n")
    assert conversation.record.commands[0].raw == b"X" * 16


def test_a_bare_cr_at_the_end_of_the_stream_ends_a_line() -> None:
    conversation = make()
    talk(conversation, b"NOOP\r")
    assert conversation.record.commands == []  # a LF may still follow
    conversation.receive_data(b"")
    assert conversation.next_reply() is not None
    assert conversation.eof and conversation.next_reply() is None


def test_a_failed_login_pauses_before_its_reply() -> None:
    conversation = make(ServerConfig(auth_failure_delay=0.5))
    talk(conversation, b"USER alice\r\n")
    conversation.receive_data(b"PASS wrong\r\n")
    reply = conversation.next_reply()
    assert isinstance(reply, list) and reply[0] == Sleep(0.5)
    assert isinstance(reply[1], Send) and reply[1].data.startswith(b"-ERR")


class _Counting(FaultSet):
    """A fault set whose one plan counts how often its steps are compiled."""

    def __init__(self, make_steps: Callable[[bytes], list[Step]]) -> None:
        super().__init__(1)
        self.on("*").error()  # so that the set is not empty
        self.compiled = 0
        self.points: list[FaultPoint] = []

        def steps(data: bytes) -> list[Step]:
            self.compiled += 1
            return make_steps(data)

        self._steps = steps

    def plan(self, point: FaultPoint) -> FaultPlan | None:
        self.points.append(point)
        return FaultPlan("counted", None, self._steps)


def test_each_fault_plan_is_compiled_once_and_journaled_from_its_steps() -> None:
    faults = _Counting(lambda data: [Send(data[:3]), Sleep(0.1), Send(data[3:].lower())])
    conversation = make(faults=faults)
    replies = talk(conversation, b"NOOP\r\n")
    assert faults.compiled == 2  # the greeting and NOOP, once each
    assert [p.target for p in faults.points] == ["greeting", "NOOP"]
    assert conversation.record.greeting == replies[0] and replies[0].startswith(b"+OK")
    plain = talk(make(), b"NOOP\r\n")[1]
    noop = conversation.record.commands[0]
    assert noop.response == replies[1] == plain[:3] + plain[3:].lower()
    assert noop.bytes_sent == len(replies[1]) and noop.fault == "counted"


def test_a_corrupted_big_reply_is_journaled_as_sent() -> None:
    faults = FaultSet(7)
    faults.on("RETR").corrupt("garbage", length=40)
    conversation = make(faults=faults)
    replies = talk(conversation, b"USER alice\r\nPASS secret\r\nRETR 1\r\n")
    record = conversation.record.commands[2]
    assert record.response == replies[3] and record.bytes_sent == len(replies[3])


def test_a_hang_or_close_comes_out_as_steps() -> None:
    faults = FaultSet(1)
    faults.on("NOOP").hang()
    faults.on("STAT").disconnect()
    conversation = make(faults=faults)
    conversation.greet()
    conversation.receive_data(b"NOOP\r\n")
    assert any(isinstance(s, Hang) for s in conversation.next_reply() or ())
    other = make(faults=faults)
    other.greet()
    other.receive_data(b"STAT\r\n")
    assert any(isinstance(s, Close) for s in other.next_reply() or ())


def test_a_failure_of_the_core_is_a_core_error(monkeypatch: pytest.MonkeyPatch) -> None:
    conversation = make()
    talk(conversation, b"USER alice\r\nPASS secret\r\n")

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError("the maildrop file is gone")

    assert conversation.session is not None
    monkeypatch.setattr(conversation.session, "handle", broken)
    conversation.receive_data(b"STAT\r\n")
    with pytest.raises(CoreError) as caught:
        conversation.next_reply()
    assert isinstance(caught.value.error, OSError)
    assert conversation.place() == f"session {conversation.record.id}, answering 'STAT'"


def test_the_connect_fault_comes_before_the_greeting() -> None:
    faults = FaultSet(1)
    faults.on("connect").delay(0.2)
    conversation = make(faults=faults)
    assert conversation.connect() == [Sleep(0.2)]
    assert make().connect() == []


SCRIPT = (
    b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\n"
    b"TOP 2 0\r\nDELE 1\r\nBOGUS x\r\nNOOP\nRSET\rQUIT\r\n"
)


def _records(conversation: Conversation) -> list[tuple[object, ...]]:
    return [attrs.astuple(record, recurse=False) for record in conversation.record.commands]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(SCRIPT) - 1), unique=True).map(sorted))
def test_any_split_of_the_stream_gives_the_same_replies_and_records(cuts: list[int]) -> None:
    whole = make()
    expected = talk(whole, SCRIPT)
    bounds = [0, *cuts, len(SCRIPT)]
    chunks = [SCRIPT[a:b] for a, b in itertools.pairwise(bounds)]
    split = make()
    assert talk(split, *chunks) == expected
    assert _records(split) == _records(whole)
    assert split.ending == whole.ending == "quit"
    assert violations(split) == violations(whole)
