"""Fuzzing: a model-checked state machine of the protocol core, and random bytes on sockets.

The state machine drives `pop3mock.protocol._session.Session` with random command streams (right and
wrong logins, a rival session, new mail, every transaction command with good and bad
arguments, QUIT and dropped connections) and checks after every step what RFC 1939 promises:
message numbers never change within a session, sizes and UIDs stay put, STAT is the sum of
LIST, deletion marks hold until RSET, the maildrop changes only on QUIT from TRANSACTION, and
the lock is released when a session ends.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import random
import socket
import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from helpers import connect
from pop3mock import LazyMaildrop, Mailbox, Message, POP3Server, ServerConfig, Session, State

# Fuzzing: long state-machine searches and thousands of random streams on sockets.
pytestmark = pytest.mark.slow

PASSWORD = "fuzz pass"
TIMESTAMP = "<42.1@fuzz.example>"
MESSAGES = [
    b"Subject: plain\r\n\r\nhello\r\n",
    b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nend\r\n",
    b"Subject: no final line end\r\n\r\nlast line",
    b"Subject: empty body\r\n\r\n",
    "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nCaf\u00e9 cr\u00e8me\r\n".encode(),
    b"Subject: long\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(40)),
]
VERBS = frozenset(name[5:] for name in dir(Session) if name.startswith("_cmd_"))
NUMBERS = st.integers(min_value=-2, max_value=9)
MECHANISMS = st.sampled_from(["USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"])


def unstuff(body: bytes) -> bytes:
    """Undo byte-stuffing of a multi-line body (independently of the server's code)."""
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def on_the_wire(message: Message) -> bytes:
    """What RETR must deliver: the message with CRLF line ends and a final CRLF."""
    data = message.data
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def b64(data: str | bytes) -> bytes:
    return base64.b64encode(data.encode() if isinstance(data, str) else data)


class ProtocolCore(RuleBasedStateMachine):
    """One maildrop, a main session that comes and goes, and a rival session."""

    @initialize()
    def setup(self) -> None:
        self.config = ServerConfig(bad_command_limit=None)
        # The last messages are held as a LazyMaildrop (columns), the rest as objects: every
        # rule runs over both forms, and over the slices that deletions leave of the columns.
        lazy = [Message.of(m) for m in MESSAGES[3:]]
        drop = LazyMaildrop(
            [f"lazy-{i}" for i in range(len(lazy))], [m.size for m in lazy], lazy.__getitem__
        )
        self.mailbox = Mailbox("alice", PASSWORD, MESSAGES[:3])
        self.mailbox.add(drop)
        self.users = {"alice": self.mailbox, "bob": Mailbox("bob", "other")}
        self.committed = list(self.mailbox.messages)  # the model of the maildrop
        self.delivered = 0
        self.rival: Session | None = None
        self.rival_count = 0
        self.sessions = 0
        self._new_session()
        self.login("USER")

    def _new_session(self) -> None:
        self.session = Session(self.config, self.users, timestamp=TIMESTAMP)
        self.sessions += 1
        greeting = self.session.greeting()
        assert greeting.ok and greeting.first_line.endswith(TIMESTAMP.encode() + b"\r\n")
        self.view: list[Message] = []  # the maildrop as numbered at login
        self.uids: list[str] = []
        self.marks: set[int] = set()
        self.entries: object = None

    # -- helpers ---------------------------------------------------------------------------

    def send(self, line: bytes, session: Session | None = None):  # type: ignore[no-untyped-def]
        response = (session or self.session).handle(line)
        first = response.first_line
        assert first.endswith(b"\r\n") and len(first) <= 512
        assert b"\r" not in first[:-2] and b"\n" not in first[:-2]
        if response.body is not None:
            body = b"\r\n" + response.body
            assert b"\r\n.\r\n" not in body, "a body line is an unstuffed terminator"
            assert not response.body or response.body.endswith(b"\r\n")
        return response

    @property
    def logged_in(self) -> bool:
        return self.session.state is State.TRANSACTION

    def live(self) -> list[int]:
        return [n for n in range(1, len(self.view) + 1) if n not in self.marks]

    def valid(self, number: int) -> bool:
        return 1 <= number <= len(self.view) and number not in self.marks

    def expect_login(self, response, right: bool) -> None:  # type: ignore[no-untyped-def]
        if right and self.rival is None:
            assert response.ok, response
            assert self.session.state is State.TRANSACTION
            self.view = list(self.committed)
            self.uids = [m.uid for m in self.view]
            self.marks = set()
            assert self.session.view is not None
            self.entries = self.session.view.entries
        else:
            assert response.status == "-ERR", response
            assert self.session.state is State.AUTHORIZATION
            if right:
                assert response.code == "IN-USE"

    # -- logging in ----------------------------------------------------------------------

    def _authenticate(self, via: str, user: str, password: str):  # type: ignore[no-untyped-def]
        if via == "USER":
            assert self.send(f"USER {user}".encode()).ok
            return self.send(f"PASS {password}".encode())
        if via == "APOP":
            digest = hashlib.md5((TIMESTAMP + password).encode()).hexdigest()
            return self.send(f"APOP {user} {digest}".encode())
        if via == "PLAIN":
            return self.send(b"AUTH PLAIN " + b64(f"\0{user}\0{password}"))
        if via == "LOGIN":
            assert self.send(b"AUTH LOGIN").status == "+"
            assert self.send(b64(user)).status == "+"
            return self.send(b64(password))
        challenge = base64.b64decode(self.send(b"AUTH CRAM-MD5").text)
        digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
        return self.send(b64(f"{user} {digest}"))

    @precondition(lambda self: not self.logged_in)
    @rule(via=MECHANISMS)
    def login(self, via: str) -> None:
        self.expect_login(self._authenticate(via, "alice", PASSWORD), right=True)

    @precondition(lambda self: not self.logged_in)
    @rule(
        via=MECHANISMS,
        user=st.sampled_from(["alice", "bob", "nobody"]),
        password=st.sampled_from(["", PASSWORD + "x", PASSWORD.upper(), "other", "\0unknown"]),
    )
    def login_fails(self, via: str, user: str, password: str) -> None:
        if user == "bob" and password == "other":
            password = "another"
        response = self._authenticate(via, user, password)
        assert response.status == "-ERR" and self.session.user is None
        assert self.session.state is State.AUTHORIZATION and not self.session.in_sasl

    @precondition(lambda self: not self.logged_in)
    @rule(via=MECHANISMS)
    def login_to_another_maildrop(self, via: str) -> None:
        assert self._authenticate(via, "bob", "other").ok
        assert not self.mailbox.locked or self.rival is not None
        assert self.send(b"QUIT").close
        assert not self.users["bob"].locked
        self._new_session()

    @precondition(lambda self: not self.logged_in)
    @rule()
    def cancel_auth(self) -> None:
        assert self.send(b"AUTH PLAIN").status == "+"
        assert self.send(b"*").status == "-ERR"
        assert self.session.state is State.AUTHORIZATION and not self.session.in_sasl

    @precondition(lambda self: self.rival is None and not self.logged_in)
    @rule()
    def rival_logs_in(self) -> None:
        rival = Session(self.config, self.users, timestamp=TIMESTAMP)
        self.send(b"USER alice", rival)
        assert self.send(f"PASS {PASSWORD}".encode(), rival).ok
        self.rival = rival
        self.rival_count = len(self.committed)

    @precondition(lambda self: self.rival is not None)
    @rule(delete=st.booleans(), quit_=st.booleans())
    def rival_leaves(self, delete: bool, quit_: bool) -> None:
        assert self.rival is not None
        delete = delete and self.rival_count > 0
        if delete:
            assert self.send(b"DELE 1", self.rival).ok
        if quit_:
            assert self.send(b"QUIT", self.rival).close
            if delete:
                self.committed.pop(0)
        else:
            self.rival.connection_lost()
        self.rival = None

    @rule()
    def new_mail(self) -> None:
        self.delivered += 1
        self.mailbox.add(b"Subject: new %d\r\n\r\nnew mail\r\n" % self.delivered)
        self.committed.append(self.mailbox.messages[-1])

    # -- transaction commands ------------------------------------------------------------

    @rule()
    def stat(self) -> None:
        response = self.send(b"STAT")
        if not self.logged_in:
            assert response.status == "-ERR"
            return
        live = self.live()
        size = sum(self.view[n - 1].size for n in live)
        assert response.text == f"{len(live)} {size}"

    @rule()
    def list_all(self) -> None:
        response = self.send(b"LIST")
        if not self.logged_in:
            assert response.status == "-ERR"
            return
        assert response.body is not None
        listing = [tuple(map(int, line.split())) for line in response.body.splitlines()]
        assert listing == [(n, self.view[n - 1].size) for n in self.live()]
        stat = self.send(b"STAT").text.split()
        assert int(stat[0]) == len(listing) and int(stat[1]) == sum(s for _, s in listing)

    @rule(number=NUMBERS)
    def list_one(self, number: int) -> None:
        response = self.send(b"LIST %d" % number)
        if self.logged_in and self.valid(number):
            assert response.text == f"{number} {self.view[number - 1].size}"
        else:
            assert response.status == "-ERR"

    @rule(number=st.one_of(st.none(), NUMBERS))
    def uidl(self, number: int | None) -> None:
        response = self.send(b"UIDL" if number is None else b"UIDL %d" % number)
        if not self.logged_in or (number is not None and not self.valid(number)):
            assert response.status == "-ERR"
        elif number is None:
            assert response.body is not None
            listing = [line.decode().split() for line in response.body.splitlines()]
            assert listing == [[str(n), self.uids[n - 1]] for n in self.live()]
        else:
            assert response.text == f"{number} {self.uids[number - 1]}"

    @rule(number=NUMBERS)
    def retr(self, number: int) -> None:
        response = self.send(b"RETR %d" % number)
        if self.logged_in and self.valid(number):
            assert response.body is not None
            assert unstuff(response.body) == on_the_wire(self.view[number - 1])
        else:
            assert response.status == "-ERR"

    @rule(number=NUMBERS, lines=st.integers(min_value=0, max_value=50))
    def top(self, number: int, lines: int) -> None:
        response = self.send(b"TOP %d %d" % (number, lines))
        if self.logged_in and self.valid(number):
            assert response.body is not None
            whole = on_the_wire(self.view[number - 1])
            top = unstuff(response.body)
            assert whole.startswith(top)
            head, sep, _ = whole.partition(b"\r\n\r\n")
            if sep:
                assert top.startswith(head + b"\r\n\r\n")
                assert top.count(b"\r\n") <= head.count(b"\r\n") + 2 + lines
        else:
            assert response.status == "-ERR"

    @rule(number=NUMBERS)
    def dele(self, number: int) -> None:
        response = self.send(b"DELE %d" % number)
        if self.logged_in and self.valid(number):
            assert response.ok
            self.marks.add(number)
        else:
            assert response.status == "-ERR"

    @rule()
    def rset(self) -> None:
        response = self.send(b"RSET")
        if self.logged_in:
            assert response.ok
            self.marks.clear()
        else:
            assert response.status == "-ERR"

    @rule(verb=st.sampled_from(["NOOP", "CAPA", "LAST"]))
    def harmless(self, verb: str) -> None:
        response = self.send(verb.encode())
        assert response.ok or (verb != "CAPA" and not self.logged_in)

    @rule(
        verb=st.sampled_from(["RETR", "DELE", "LIST", "UIDL", "TOP"]),
        argument=st.text(min_size=1, max_size=12).filter(lambda a: not a.strip().isdigit()),
    )
    def bad_argument(self, verb: str, argument: str) -> None:
        line = f"{verb} {argument}".encode()
        if verb in ("LIST", "UIDL") and not argument.split():
            line = f"{verb} x{argument}".encode()
        assert self.send(line).status == "-ERR"

    @rule(verb=st.sampled_from(["STAT", "NOOP", "RSET", "QUIT"]), argument=NUMBERS)
    def extra_argument(self, verb: str, argument: int) -> None:
        response = self.send(f"{verb} {argument}".encode())
        assert response.status == "-ERR" and not response.close

    @rule(line=st.binary(max_size=60))
    def garbage(self, line: bytes) -> None:
        verb = line.decode("utf-8", "replace").partition(" ")[0].upper()
        if verb in VERBS:
            line = b"\0" + line
        response = self.send(line)
        assert response.status == "-ERR" and not response.close

    # -- the end of a session ----------------------------------------------------------------

    @rule(how=st.sampled_from(["QUIT", "drop"]))
    def end_session(self, how: str) -> None:
        if how == "drop":
            self.session.connection_lost()
        else:
            was_logged_in = self.logged_in
            response = self.send(b"QUIT")
            assert response.ok and response.close
            if was_logged_in:
                gone = {self.uids[n - 1] for n in self.marks}
                self.committed = [m for m in self.committed if m.uid not in gone]
        self._new_session()

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def maildrop_matches_the_model(self) -> None:
        assert list(self.mailbox.uids) == [m.uid for m in self.committed]
        assert list(self.mailbox.messages) == self.committed

    @invariant()
    def lock_is_held_exactly_by_a_logged_in_session(self) -> None:
        assert self.mailbox.locked == (self.logged_in or self.rival is not None)
        assert not self.users["bob"].locked

    @invariant()
    def numbering_is_fixed_for_the_session(self) -> None:
        if self.logged_in:
            view = self.session.view
            assert view is not None and view.entries is self.entries
            assert [e.uid for e in view.entries] == self.uids
            assert [e.size for e in view.entries] == [m.size for m in self.view]


TestProtocolCore = ProtocolCore.TestCase
TestProtocolCore.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)


# -- random bytes over sockets -------------------------------------------------------------

FUZZ_MESSAGES = (b"Subject: a\r\n\r\none\r\n", b"Subject: b\r\n\r\n.two\r\n")
TOKENS = [
    *sorted(VERBS),
    "user",
    "Pass",
    "alice",
    PASSWORD,
    "1",
    "0",
    "-1",
    "99999999999999999999",
    "*",
    "=",
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "AGFsaWNlAA==",
    "\0",
    "\xff",
    "\u00e9",
    "GET / HTTP/1.1",
    "\x16\x03\x01",
]
SEPARATORS = [" ", " ", " ", "  ", "\t", ""]
ENDINGS = ["\r\n", "\r\n", "\r\n", "\n", "\r", "", "\0"]


def fuzz_stream(rng: random.Random) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:  # plain random bytes
        return rng.randbytes(rng.randrange(1, 300))
    if kind == 1:  # command-shaped lines from POP3 tokens
        out = []
        for _ in range(rng.randrange(1, 12)):
            words = [rng.choice(TOKENS) for _ in range(rng.randrange(0, 4))]
            if rng.random() < 0.05:
                words.append("X" * rng.randrange(200, 3000))
            out.append(rng.choice(SEPARATORS).join(words) + rng.choice(ENDINGS))
        return "".join(out).encode("utf-8", "surrogateescape")
    # a real session, mutated byte by byte
    data = bytearray(
        f"USER alice\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n".encode()
    )
    for _ in range(rng.randrange(1, 6)):
        at = rng.randrange(len(data))
        action = rng.randrange(3)
        if action == 0:
            data[at] = rng.randrange(256)
        elif action == 1:
            del data[at]
        else:
            data.insert(at, rng.choice(b"\r\n\0 .\xff"))
    return bytes(data)


def send_and_drain(port: int, stream: bytes, rng: random.Random) -> bytes | None:
    """Send `stream` in random pieces, half-close, and read until the server closes.

    None when the connection was reset: the server closed it (QUIT, a failed handshake)
    while the rest of the stream was still coming, which makes the kernel send a RST.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        received = bytearray()
        try:
            at = 0
            while at < len(stream):
                size = rng.randrange(1, 64)
                sock.sendall(stream[at : at + size])
                at += size
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            return None
        except OSError as exc:  # shutdown() after the reset arrived
            if exc.errno != errno.ENOTCONN:
                raise
            return None
        return bytes(received)


def normal_session(server: POP3Server, *, tls: bool = False) -> None:
    with connect(server, tls=tls, timeout=30).login("alice", PASSWORD) as client:
        assert client.cmd("STAT").startswith(b"+OK 2 ")
        client.send(b"RETR 2\r\n")
        assert client.multiline().endswith(b"\r\n..two\r\n.\r\n")
        assert client.cmd("QUIT").startswith(b"+OK")


def test_random_bytes_never_break_the_server() -> None:
    rng = random.Random(1939)
    streams = 300
    with POP3Server(users={"alice": PASSWORD}) as server:
        mailbox = server.mailbox("alice")
        mailbox.add(*FUZZ_MESSAGES)
        original = mailbox.uids
        for i in range(streams):
            stream = fuzz_stream(rng)
            reply = send_and_drain(server.port, stream, rng)
            server.journal.wait_for(sessions_ended=2 * i + 1)
            fuzzed = server.journal.sessions[-1]
            if reply is None:
                assert fuzzed.end_reason in ("quit", "closed by server"), (i, stream)
            else:
                assert reply.startswith(b"+OK ") and reply.endswith(b"\r\n"), (i, stream, reply)
            assert not mailbox.locked, (i, stream)
            if fuzzed.end_reason != "quit" or fuzzed.user is None:
                assert mailbox.uids == original, (i, stream, fuzzed.transcript())
            else:
                mailbox.reset()  # a mutated session that still logged in and quit
            normal_session(server)
            server.journal.wait_for(sessions_ended=2 * i + 2)
            assert mailbox.uids == original
    server.check()
    assert len(server.journal.sessions) == 2 * streams
    reasons = {s.end_reason for s in server.journal.sessions}
    assert reasons <= {"quit", "client closed", "client reset", "closed by server"}, reasons


def test_random_bytes_on_the_tls_port() -> None:
    rng = random.Random(8314)
    streams = 25
    with POP3Server(users={"alice": PASSWORD}, implicit_tls=True) as server:
        server.mailbox("alice").add(*FUZZ_MESSAGES)
        assert server.tls_port is not None
        for i in range(streams):
            stream = fuzz_stream(rng)
            if i % 2:
                stream = b"\x16\x03\x01" + stream  # looks like a TLS record at first
            send_and_drain(server.tls_port, stream, rng)
            server.journal.wait_for(sessions_ended=2 * i + 1)
            assert server.journal.sessions[-1].end_reason.startswith("TLS handshake failed")
            normal_session(server, tls=True)
            server.journal.wait_for(sessions_ended=2 * i + 2)
    server.check()


@pytest.mark.parametrize("seed", range(3))
def test_random_streams_on_concurrent_connections(seed: int) -> None:
    rng = random.Random(seed)
    with POP3Server(users={"alice": PASSWORD}) as server:
        server.mailbox("alice").add(*FUZZ_MESSAGES)
        streams = [(fuzz_stream(rng), random.Random(rng.random())) for _ in range(12)]
        failures: list[BaseException] = []

        def fuzz(stream: bytes, own: random.Random) -> None:
            try:
                reply = send_and_drain(server.port, stream, own)
                assert reply is None or reply.startswith(b"+OK")
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=fuzz, args=pair) for pair in streams]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        server.journal.wait_for(sessions_ended=len(streams))
        server.mailbox("alice").reset()
        normal_session(server)
    server.check()
