"""Conformance over real sockets: transport and framing, the greeting, USER/PASS and APOP
(checklist items C-001 to C-046 that no other test shows on the wire)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import pytest

from helpers import MakeServer, connect
from pop3mock import ConfigurationError, POP3Server
from pop3mock.protocol._config import ALL_CAPABILITIES, DEFAULT_TEXTS

PASSWORD = "wonderland"
# Stored with bare LF and bare CR line ends, no final line end: CRLF on the wire (C-004).
LF_ONLY = b"Subject: lf\n\nline one\n.dot\nlast"
CR_ONLY = b"Subject: cr\r\rbody\r"
PLAIN = b"Subject: plain\r\n\r\nhello\r\n"
GREETING = re.compile(rb"\+OK pop3mock ready\. (<[^<>@\s]+@[^<>@\s]+>)\r\n")
AUTH_FAILED = b"-ERR [AUTH] Authentication failed.\r\n"
TOO_LONG = b"-ERR Line too long.\r\n"


pytestmark = pytest.mark.server({"alice": PASSWORD}, maildrops={"alice": [LF_ONLY, CR_ONLY, PLAIN]})


def apop(greeting: bytes, secret: str) -> str:
    match = GREETING.fullmatch(greeting)
    assert match is not None, greeting
    return hashlib.md5(match[1] + secret.encode()).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- A. transport, framing, lexical rules -------------------------------------------------------


def test_c001_c002_greeting_comes_unasked_and_is_one_positive_line(server: POP3Server) -> None:
    """C-001, C-002: the greeting arrives before the client sends anything, is one +OK line,
    and nothing follows it: after QUIT the stream holds exactly the QUIT reply."""
    with connect(server) as client:
        assert GREETING.fullmatch(client.greeting)
        assert client.buf == b""
        client.send(b"QUIT\r\n")
        assert client.read_all() == b"+OK Logging out.\r\n"


def test_c003_c004_c005_c018_every_byte_of_a_session(server: POP3Server) -> None:
    """C-003: status indicators upper case; C-004: CRLF only, also for messages stored with
    bare LF or bare CR; C-005: keywords in any case; C-018: nothing unsolicited (the whole
    stream is exactly the expected replies, each read before the next command is sent)."""
    mailbox = server.mailbox("alice")
    sizes = [m.size for m in mailbox.messages]
    uids = mailbox.uids
    lf_wire = b"Subject: lf\r\n\r\nline one\r\n..dot\r\nlast\r\n.\r\n"
    cr_wire = b"Subject: cr\r\n\r\nbody\r\n.\r\n"
    exchange: list[tuple[bytes, bytes]] = [
        (b"FOO", b"-ERR Unknown command.\r\n"),
        (b"stat", b"-ERR STAT is not allowed before login.\r\n"),
        (b"PASS x", b"-ERR No user name given (send USER first).\r\n"),
        (b"AUTH PLAIN", b"+ \r\n"),
        (b"*", b"-ERR Authentication cancelled.\r\n"),
        (b"user alice", b"+OK Send PASS.\r\n"),
        (b"Pass " + PASSWORD.encode(), b"+OK Logged in.\r\n"),
        (b"sTaT", b"+OK 3 %d\r\n" % sum(sizes)),
        (
            b"list",
            b"+OK 3 messages (%d octets)\r\n1 %d\r\n2 %d\r\n3 %d\r\n.\r\n" % (sum(sizes), *sizes),
        ),
        (
            b"Uidl",
            b"+OK Unique-ids follow.\r\n"
            + b"".join(b"%d %s\r\n" % (n, u.encode()) for n, u in enumerate(uids, 1))
            + b".\r\n",
        ),
        (b"retr 1", b"+OK %d octets\r\n" % sizes[0] + lf_wire),
        (b"RETR 2", b"+OK %d octets\r\n" % sizes[1] + cr_wire),
        (b"top 1 0", b"+OK Top of message follows.\r\nSubject: lf\r\n\r\n.\r\n"),
        (b"dele 2", b"+OK Message 2 deleted.\r\n"),
        (b"RETR 2", b"-ERR Message 2 is deleted.\r\n"),
        (b"rset", b"+OK 3 messages, deletion marks removed.\r\n"),
        (b"noop", b"+OK\r\n"),
        (b"BOGUS 1", b"-ERR Unknown command.\r\n"),
        (b"quit", b"+OK Logging out, 0 messages deleted.\r\n"),
    ]
    received = b""
    with connect(server) as client:
        greeting = client.greeting
        for command, reply in exchange:
            client.send(command + b"\r\n")
            # Exactly as many lines as expected: any extra byte shows in the next reply.
            got = b"".join(client.line() for _ in range(reply.count(b"\r\n")))
            assert got == reply, command
            received += got
        assert client.read_all() == b""  # closed after QUIT, nothing more
    stream = greeting + received
    assert re.search(rb"(?<!\r)\n|\r(?!\n)", stream) is None
    assert mailbox.messages[0].data == LF_ONLY.replace(b"\n", b"\r\n") + b"\r\n"
    for _, reply in [(b"", greeting), *exchange]:
        status_line = reply.split(b"\r\n", 1)[0] + b"\r\n"
        assert re.match(rb"(\+OK|-ERR)( |\r\n)|\+ ", status_line), status_line


def test_c007_extra_spaces_between_tokens_are_tolerated_everywhere(server: POP3Server) -> None:
    """C-007: `LIST  1` answers like `LIST 1`, and so do the other commands with arguments."""
    with connect(server) as client:
        assert client.cmd("USER  alice") == b"+OK Send PASS.\r\n"
        assert client.cmd(f"PASS {PASSWORD}") == b"+OK Logged in.\r\n"
        for single, double in [
            ("LIST 1", "LIST  1"),
            ("UIDL 3", "UIDL   3"),
            ("LIST 9", "LIST  9"),
            ("LIST 1 2", "LIST  1  2"),
        ]:
            assert client.cmd(double) == client.cmd(single), double
        client.send(b"TOP  3  0\r\n")
        assert client.multiline() == b"+OK Top of message follows.\r\nSubject: plain\r\n\r\n.\r\n"
        assert client.cmd("DELE  3") == b"+OK Message 3 deleted.\r\n"
        assert client.cmd("QUIT") == b"+OK Logging out, 1 messages deleted.\r\n"


def test_c009_c011_255_octets_accepted_longer_lines_refused_session_goes_on(
    server: POP3Server,
) -> None:
    """C-009: a 255-octet command line (CRLF included) is a normal command; C-011: longer
    ones, up to 10,000 octets, get one -ERR each and the connection stays usable."""
    with connect(server) as client:
        line = b"USER " + b"a" * 248 + b"\r\n"
        assert len(line) == 255
        client.send(line)
        assert client.line() == b"+OK Send PASS.\r\n"
        client.send(b"USER " + b"a" * 249 + b"\r\n")
        assert client.line() == TOO_LONG
        client.send(b"X" * 10_000 + b"\r\n")
        assert client.line() == TOO_LONG
        client.login()
        assert client.cmd("NOOP") == b"+OK\r\n"
        assert client.buf == b""  # one reply per line, however long


def test_c014_arguments_to_argument_less_commands_strict_by_default(server: POP3Server) -> None:
    """C-014: STAT, NOOP, RSET, QUIT with arguments get -ERR (default) and change nothing."""
    with connect(server) as client:
        assert client.cmd("QUIT now") == b"-ERR QUIT takes no arguments.\r\n"
        client.login()
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        for verb in ("STAT", "NOOP", "RSET", "QUIT"):
            assert client.cmd(f"{verb} extra") == b"-ERR %s takes no arguments.\r\n" % verb.encode()
        assert client.cmd("LIST 1") == b"-ERR Message 1 is deleted.\r\n"  # RSET x did nothing
        assert client.cmd("QUIT") == b"+OK Logging out, 1 messages deleted.\r\n"
    assert len(server.mailbox("alice")) == 2


@pytest.mark.server({"alice": PASSWORD}, maildrops={"alice": [PLAIN]}, strict_arguments=False)
def test_c014_lenient_arguments_answer_like_dovecot(server: POP3Server) -> None:
    """C-014, lenient mode (strict_arguments=False): the arguments are ignored."""
    with connect(server) as client:
        client.login()
        assert client.cmd("STAT extra") == b"+OK 1 %d\r\n" % len(PLAIN)
        assert client.cmd("NOOP x") == b"+OK\r\n"
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        assert client.cmd("RSET x") == b"+OK 1 messages, deletion marks removed.\r\n"
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        assert client.cmd("QUIT x") == b"+OK Logging out, 1 messages deleted.\r\n"
        assert client.read_all() == b""
    assert len(server.mailbox("alice")) == 0


def test_c015_no_bad_command_limit_by_default(server: POP3Server) -> None:
    """C-015: after any number of -ERR replies the connection stays usable (limit off)."""
    with connect(server) as client:
        for n in range(10):
            assert client.cmd(f"FOO{n}") == b"-ERR Unknown command.\r\n"
            assert client.cmd("STAT") == b"-ERR STAT is not allowed before login.\r\n"
        client.send(b"CAPA\r\n")
        assert client.multiline().startswith(b"+OK Capability list follows.\r\n")
        client.login()
        assert client.cmd("QUIT").startswith(b"+OK")


@pytest.mark.server({"alice": PASSWORD}, bad_command_limit=3)
def test_c015_bad_command_limit_closes_when_configured(server: POP3Server) -> None:
    """C-015: with bad_command_limit=3 the third bad command is refused and the server
    closes; good commands in between do not count."""
    with connect(server) as client:
        assert client.cmd("FOO") == b"-ERR Unknown command.\r\n"
        assert client.cmd("USER alice") == b"+OK Send PASS.\r\n"
        assert client.cmd("STAT") == b"-ERR STAT is not allowed before login.\r\n"
        assert client.cmd("BAR") == b"-ERR Too many invalid commands.\r\n"
        assert client.read_all() == b""
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "closed by server"


@pytest.mark.server(
    {"alice": PASSWORD},
    apop=False,
    texts={"greeting": "Test server", "user_ok": "Who?", "auth_failed": "No."},
)
def test_c016_reply_texts_are_configurable_and_defaults_avoid_fetchmail_words(
    server: POP3Server,
) -> None:
    """C-016: free text after the status is the test's to choose; the default texts avoid
    the words fetchmail reads as 'mailbox busy' (C-135) except where that is the case."""
    for key, text in DEFAULT_TEXTS.items():
        if key == "in_use":
            continue
        assert not re.search(r"lock|wait|service.*unavailable", text, re.IGNORECASE), key
    with connect(server) as client:
        assert client.greeting == b"+OK Test server\r\n"
        assert client.cmd("USER alice") == b"+OK Who?\r\n"
        assert client.cmd("PASS nope") == b"-ERR [AUTH] No.\r\n"


# -- B. greeting and AUTHORIZATION --------------------------------------------------------------

ONLY_USER: dict[str, Any] = {"capabilities": ALL_CAPABILITIES - {"SASL"}, "apop": False}
ONLY_APOP: dict[str, Any] = {"capabilities": ALL_CAPABILITIES - {"SASL", "USER"}, "apop": True}
ONLY_SASL: dict[str, Any] = {"capabilities": ALL_CAPABILITIES - {"USER"}, "apop": False}


@pytest.mark.parametrize(
    ("options", "works"),
    [(ONLY_USER, "USER"), (ONLY_APOP, "APOP"), (ONLY_SASL, "AUTH")],
    ids=["user-pass", "apop", "sasl"],
)
def test_c020_each_login_mechanism_alone(
    options: dict[str, Any], works: str, make_server: MakeServer
) -> None:
    """C-020: any one mechanism can be the only one; the others then answer -ERR."""
    with connect(make_server({"alice": PASSWORD}, **options)) as client:
        greeting = client.greeting
        assert (b"<" in greeting) == (works == "APOP")  # C-021, C-023
        # USER last: PASS counts only right after it (C-034).
        replies = {
            "APOP": client.cmd(
                f"APOP alice {apop(greeting, PASSWORD) if works == 'APOP' else '0' * 32}"
            ),
            "AUTH": client.cmd("AUTH PLAIN " + b64(b"\0alice\0" + PASSWORD.encode())),
            "USER": client.cmd("USER alice"),
        }
        assert replies.pop(works) in (b"+OK Logged in.\r\n", b"+OK Send PASS.\r\n")
        if works == "USER":
            assert client.cmd(f"PASS {PASSWORD}") == b"+OK Logged in.\r\n"
        refused = {
            "USER": b"-ERR USER is not supported.\r\n",
            "APOP": b"-ERR APOP is not offered.\r\n",
            "AUTH": b"-ERR AUTH is not supported.\r\n",
        }
        del refused[works]
        assert replies == refused
        assert client.cmd("STAT") == b"+OK 0 0\r\n"


def test_c020_no_login_mechanism_is_a_configuration_error() -> None:
    """C-020: a server nobody could log in to is refused when it is made."""
    with pytest.raises(ConfigurationError, match="no way to log in"):
        POP3Server(capabilities=ALL_CAPABILITIES - {"USER", "SASL"}, apop=False)
    with pytest.raises(ConfigurationError, match="no way to log in"):
        POP3Server(capabilities=ALL_CAPABILITIES - {"USER"}, apop=False, mechanisms=())


def test_c022_three_greetings_three_timestamps(server: POP3Server) -> None:
    """C-021, C-022, C-024: each greeting ends with its own msg-id timestamp."""
    stamps = []
    for _ in range(3):
        with connect(server) as client:
            match = GREETING.fullmatch(client.greeting)
            assert match is not None
            stamps.append(match[1])
    assert len(set(stamps)) == 3


# -- C. USER / PASS ----------------------------------------------------------------------------


def test_c038_a_second_user_restarts_the_login(server: POP3Server) -> None:
    """C-038: USER after a successful USER replaces the name; PASS checks the latest one."""
    with connect(server) as client:
        assert client.cmd("USER alice") == b"+OK Send PASS.\r\n"
        assert client.cmd("USER nobody") == b"+OK Send PASS.\r\n"
        assert client.cmd(f"PASS {PASSWORD}") == AUTH_FAILED
        assert client.cmd("USER nobody") == b"+OK Send PASS.\r\n"
        assert client.cmd("USER alice") == b"+OK Send PASS.\r\n"
        assert client.cmd("USER alice") == b"+OK Send PASS.\r\n"
        assert client.cmd(f"PASS {PASSWORD}") == b"+OK Logged in.\r\n"
        assert client.cmd("STAT").startswith(b"+OK 3 ")
        assert client.cmd("QUIT").startswith(b"+OK")


# -- D. APOP -----------------------------------------------------------------------------------


def test_c042_digest_of_an_earlier_greeting_is_refused(server: POP3Server) -> None:
    """C-041, C-042: a digest that logged in once is refused in the next session (new
    timestamp); that session still logs in with its own digest."""
    with connect(server) as first:
        old = apop(first.greeting, PASSWORD)
        assert first.cmd(f"APOP alice {old}") == b"+OK Logged in.\r\n"
        assert first.cmd("QUIT").startswith(b"+OK")
    with connect(server) as second:
        assert second.cmd(f"APOP alice {old}") == AUTH_FAILED
        assert second.cmd("STAT") == b"-ERR STAT is not allowed before login.\r\n"
        fresh = apop(second.greeting, PASSWORD)
        assert second.cmd(f"APOP alice {fresh}") == b"+OK Logged in.\r\n"
        assert second.cmd("QUIT").startswith(b"+OK")


def test_c043_apop_needs_exactly_two_arguments(server: POP3Server) -> None:
    """C-043: missing or extra arguments get -ERR, even when the digest is right."""
    syntax = b"-ERR APOP needs a user name and a digest.\r\n"
    with connect(server) as client:
        digest = apop(client.greeting, PASSWORD)
        for line in ("APOP", "APOP alice", f"APOP {digest}", f"APOP alice {digest} extra"):
            assert client.cmd(line) == syntax, line
        assert client.cmd(f"APOP alice {digest}") == b"+OK Logged in.\r\n"


@pytest.mark.server({"alice": PASSWORD}, **ONLY_APOP)
def test_c045_apop_only_server_refuses_user_and_pass(server: POP3Server) -> None:
    """C-045 (server-wide): without the USER capability, USER/PASS fail and APOP works."""
    with connect(server) as client:
        assert client.cmd("USER alice") == b"-ERR USER is not supported.\r\n"
        assert client.cmd(f"PASS {PASSWORD}") == b"-ERR PASS is not supported.\r\n"
        digest = apop(client.greeting, PASSWORD)
        assert client.cmd(f"APOP alice {digest}") == b"+OK Logged in.\r\n"
