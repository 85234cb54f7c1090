"""Conformance of CAPA, response codes and STLS (checklist sections I, J and K: C-107..C-147).

Pure protocol items run on the sans-IO `Session` (a fake clock where LOGIN-DELAY needs one);
items about bytes on the wire and TLS run against a real server over loopback.
"""

from __future__ import annotations

import base64
import poplib
import re
import ssl
from collections.abc import Callable

import pytest

from helpers import connect
from pop3mock import (
    PERSONALITIES,
    LazyMessage,
    Mailbox,
    Message,
    POP3Server,
    ServerConfig,
    ServerError,
    Session,
)
from pop3mock.protocol._auth import apop_digest, cram_md5_digest
from pop3mock.protocol._config import ALL_CAPABILITIES
from pop3mock.protocol._personality import personality_config
from pop3mock.server import tls

TS = "<1896.697170952@dbc.mtview.ca.us>"
MESSAGE = b"Subject: one\r\n\r\nfirst\r\n"
UTF8_MESSAGE = "Subject: Grüße\r\n\r\näöü\r\n".encode()
# RFC 2449 section 8: "[" code *("/" sub) "]" right after the status, then a space.
CODE = re.compile(r"^-ERR \[[!-.0-\\^-~]+(/[!-.0-\\^-~]+)*\] ")
# fetchmail's pop3_ok() reads these substrings as "mailbox locked" or "try later" (C-135).
MISLEADING = re.compile(r"lock|Lock|LOCK|wait|service.*unavailable")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Clock:
    """A settable clock for LOGIN-DELAY (the core takes any callable)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def session(
    config: ServerConfig | None = None,
    users: dict[str, Mailbox] | None = None,
    clock: Callable[[], float] | None = None,
) -> Session:
    if users is None:
        users = {"alice": Mailbox("alice", "wonderland", [MESSAGE], token="tok")}
    return Session(config or ServerConfig(), users, timestamp=TS, clock=clock)


def send(s: Session, line: str) -> str:
    return s.handle(line.encode()).encode().decode("utf-8", "replace")


def capa_lines(s: Session) -> list[str]:
    reply = send(s, "CAPA")
    assert reply.startswith("+OK") and reply.endswith("\r\n.\r\n"), reply
    return reply.split("\r\n")[1:-2]


def tags(lines: list[str]) -> set[str]:
    return {line.split()[0] for line in lines}


def log_in(s: Session, user: str = "alice", password: str = "wonderland") -> None:
    assert send(s, f"USER {user}").startswith("+OK")
    assert send(s, f"PASS {password}").startswith("+OK")
    assert s.user == user


# -- I. CAPA ----------------------------------------------------------------------------------


def test_c108_c126_longest_capa_reply_keeps_line_and_line_count_limits() -> None:
    """C-108, C-126: with every capability, per-user values and a 400-character
    IMPLEMENTATION, each CAPA line fits in 512 octets, none starts with "." and the reply
    stays within mpop's 50 lines."""
    config = ServerConfig(
        stls_available=True,
        login_delay=60,
        user_login_delay={"bob": 900},
        expire=30,
        user_expire={"bob": 0},
        implementation="x" * 400,
    )
    reply = session(config).handle(b"CAPA").encode()
    assert reply.startswith(b"+OK Capability list follows.\r\n") and reply.endswith(b"\r\n.\r\n")
    lines = reply.split(b"\r\n")[1:-2]
    assert lines[-1] == b"IMPLEMENTATION " + b"x" * 400
    assert all(len(line) + 2 <= 512 and not line.startswith(b".") for line in lines)
    assert len(lines) + 2 <= 50
    assert b"LOGIN-DELAY 900 USER" in lines and b"EXPIRE 0 USER" in lines


def test_c109_tags_configured_in_lower_case_are_sent_in_upper_case() -> None:
    """C-109: tags go out in upper case whatever case the configuration used, so poplib's
    case-sensitive `stls()` lookup finds STLS."""
    with POP3Server(
        users={"alice": "wonderland"},
        stls=True,
        capabilities="capa top uidl user sasl stls resp-codes",
        mechanisms=["plain", "cram-md5"],
    ) as server:
        server.mailbox("alice").add(MESSAGE)
        with connect(server) as client:
            assert client.capa() == [
                "TOP",
                "UIDL",
                "RESP-CODES",
                "STLS",
                "USER",
                "SASL PLAIN CRAM-MD5",
            ]
        pop = poplib.POP3(server.host, server.port, timeout=10)
        assert pop.stls(tls.client_context()) == b"+OK Begin TLS negotiation now."
        pop.user("alice")
        pop.pass_("wonderland")
        assert pop.stat() == (1, len(MESSAGE))
        pop.quit()
    server.check()


PERSONALITY_OPTIONS: dict[str, dict[str, object]] = {
    "default": {
        "stls_available": True,
        "login_delay": 60,
        "user_login_delay": {"alice": 600},
        "expire": 30,
        "user_expire": {"alice": 0},
    },
    "dovecot": {"stls_available": True},
    "gmail": {},
    "rfc1939": {},
}


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_c110_c125_tags_offered_before_login_stay_listed_after_login(name: str) -> None:
    """C-110, C-125: every tag listed in AUTHORIZATION (STLS aside) is listed again in
    TRANSACTION, in every personality but dovecot, which copies Dovecot's deviation; no
    tag is an unregistered X- name."""
    config = personality_config(name, **PERSONALITY_OPTIONS.get(name, {}))
    s = session(config)
    if not config.has("CAPA"):
        assert send(s, "CAPA") == "-ERR CAPA is not supported.\r\n"  # C-127
        return
    before = capa_lines(s)
    log_in(s)
    after = capa_lines(s)
    if name == "dovecot":
        # Dovecot's known deviation (C-110): its mail process drops USER and SASL.
        assert tags(before) - {"STLS", "USER", "SASL"} == tags(after)
    else:
        assert tags(before) - {"STLS"} <= tags(after)
    assert "STLS" not in tags(after)
    assert not any(tag.startswith("X") for tag in tags(before) | tags(after))


def test_c115_every_listed_mechanism_starts_an_exchange_and_no_other_does() -> None:
    """C-115: each mechanism in "SASL ..." starts an AUTH exchange; one left out answers
    -ERR; before TLS with require_tls none is listed and none starts."""
    s = session(ServerConfig(mechanisms=["LOGIN", "CRAM-MD5", "XOAUTH2"]))
    (sasl,) = [line for line in capa_lines(s) if line.startswith("SASL ")]
    listed = sasl.split()[1:]
    assert listed == ["LOGIN", "CRAM-MD5", "XOAUTH2"]
    for mechanism in listed:
        fresh = session(ServerConfig(mechanisms=listed))
        assert re.fullmatch(r"\+ [A-Za-z0-9+/]*={0,2}\r\n", send(fresh, f"AUTH {mechanism}"))
        assert send(fresh, "*") == "-ERR Authentication cancelled.\r\n"
    for mechanism in ("PLAIN", "OAUTHBEARER", "DIGEST-MD5"):
        assert send(s, f"AUTH {mechanism}") == (
            "-ERR [AUTH] Unsupported authentication mechanism.\r\n"
        )
    locked = session(ServerConfig(stls_available=True, require_tls=True))
    assert not any(line.startswith("SASL") for line in capa_lines(locked))
    for mechanism in ServerConfig().mechanisms:
        assert send(locked, f"AUTH {mechanism}") == (
            "-ERR [AUTH] Plaintext authentication is disabled: use STLS first.\r\n"
        )


# Commands that reach every reply of the core that carries free text.
SWEEP_BEFORE = [
    "NOOP",
    "FROB",
    "STAT",
    "PASS x",
    "USER",
    "USER nobody",
    "PASS wrong",
    "APOP alice",
    "APOP alice 0123456789abcdef0123456789abcdef",
    "AUTH",
    "AUTH PLAIN !!!",
    "AUTH FOOBAR",
    "AUTH PLAIN",
    "*",
    "AUTH CRAM-MD5 Zm9v",
    "LANG",
    "LANG en",
    "LANG xx-bogus",
    "CAPA x",
    "CAPA",
]
SWEEP_AFTER = [
    "STAT",
    "LIST",
    "LIST 1",
    "LIST 9",
    "LIST x",
    "UIDL",
    "UIDL 1",
    "TOP 1 0",
    "RETR 1",
    "RETR",
    "DELE 1",
    "DELE 1",
    "RETR 1",
    "RSET",
    "NOOP",
    "LAST",
    "USER alice",
    "STLS",
    "UTF8",
    "AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=",
    "FROB",
    "CAPA",
    "QUIT",
]


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_c116_c128_a_reply_text_starts_with_a_bracket_only_for_a_response_code(
    name: str,
) -> None:
    """C-116, C-128: free text never starts with "[" (clients would read it as a code);
    every code has RFC 2449 syntax and appears only while RESP-CODES (or AUTH-RESP-CODE for
    [AUTH]) is listed."""
    config = personality_config(name, bad_command_limit=None)
    users = {"alice": Mailbox("alice", "wonderland", [MESSAGE, UTF8_MESSAGE])}
    s = session(config, users)
    replies = [s.greeting()]
    for line in SWEEP_BEFORE:
        replies.append(s.handle(line.encode()))
    for line in ("USER alice", "PASS wonderland", *SWEEP_AFTER):
        replies.append(s.handle(line.encode()))
    assert s.closed
    codes_allowed = {"AUTH"} if config.has("AUTH-RESP-CODE") else set()
    if config.has("RESP-CODES"):
        codes_allowed |= {"AUTH", "IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "UTF8"}
    for response in replies:
        first = response.first_line.decode("utf-8")
        status, _, text = first[:-2].partition(" ")
        assert status in ("+OK", "-ERR", "+"), first
        if response.code is None:
            assert not text.startswith("["), first
        else:
            assert CODE.match(first), first
            assert response.code in codes_allowed, first


# -- J. response codes ------------------------------------------------------------------------


def test_c117_c130_per_user_login_delay_is_enforced_with_each_users_own_value() -> None:
    """C-117, C-130: the enforced delay is the one that applies to the user (the maximum is
    only what CAPA shows before login); PASS, APOP and AUTH get [LOGIN-DELAY], USER never."""
    clock = Clock()
    config = ServerConfig(login_delay=60, user_login_delay={"bob": 600}, enforce_login_delay=True)
    users = {"alice": Mailbox("alice", "wonderland"), "bob": Mailbox("bob", "builder")}
    too_soon = "-ERR [LOGIN-DELAY] Logged in too soon: try later.\r\n"

    def attempt(user: str, password: str, way: str) -> str:
        s = session(config, users, clock)
        if way == "APOP":
            reply = send(s, f"APOP {user} {apop_digest(TS, password)}")
        elif way == "AUTH":
            reply = send(s, "AUTH PLAIN " + b64(f"\0{user}\0{password}".encode()))
        else:
            assert send(s, f"USER {user}") == "+OK Send PASS.\r\n"
            reply = send(s, f"PASS {password}")
        if reply.startswith("+OK"):
            assert send(s, "QUIT").startswith("+OK")
        return reply

    assert attempt("alice", "wonderland", "PASS") == "+OK Logged in.\r\n"
    assert attempt("bob", "builder", "PASS") == "+OK Logged in.\r\n"
    clock.now += 61
    for way in ("PASS", "APOP", "AUTH"):
        assert attempt("bob", "builder", way) == too_soon
    assert attempt("alice", "wonderland", "APOP") == "+OK Logged in.\r\n"
    clock.now += 30
    assert CODE.match(attempt("alice", "wonderland", "AUTH"))
    clock.now += 600
    assert attempt("bob", "builder", "AUTH") == "+OK Logged in.\r\n"


def test_c123_c128_with_auth_resp_code_every_credential_failure_carries_auth() -> None:
    """C-123, C-128, C-133: AUTH-RESP-CODE listed (RESP-CODES off): a wrong password, an
    unknown user, a wrong APOP digest and every failed SASL mechanism answer -ERR [AUTH]."""
    config = ServerConfig(capabilities=ALL_CAPABILITIES - {"RESP-CODES"})
    assert "AUTH-RESP-CODE" in capa_lines(session(config))
    failed = "-ERR [AUTH] Authentication failed.\r\n"

    s = session(config)
    assert send(s, "USER alice") == "+OK Send PASS.\r\n"
    assert send(s, "PASS wrong") == failed
    assert send(s, "USER nobody") == "+OK Send PASS.\r\n"  # never [AUTH] on USER
    assert send(s, "PASS wonderland") == failed
    assert send(s, "APOP alice " + apop_digest(TS, "wrong")) == failed
    assert send(s, "APOP nobody " + apop_digest(TS, "wonderland")) == failed
    assert send(s, "AUTH PLAIN " + b64(b"\0alice\0wrong")) == failed
    assert send(s, "AUTH LOGIN") == "+ VXNlcm5hbWU6\r\n"
    assert send(s, b64(b"alice")) == "+ UGFzc3dvcmQ6\r\n"
    assert send(s, b64(b"wrong")) == failed
    challenge = send(s, "AUTH CRAM-MD5")[2:-2]
    digest = cram_md5_digest(base64.b64decode(challenge), "wrong")
    assert send(s, b64(f"alice {digest}".encode())) == failed
    assert send(s, "AUTH XOAUTH2 " + b64(b"user=alice\x01auth=Bearer bad\x01\x01")).startswith("+ ")
    assert send(s, "") == failed
    assert CODE.match(failed)
    assert s.user is None
    log_in(s)


def test_c129_no_response_codes_at_all_without_resp_codes_and_auth_resp_code() -> None:
    """C-129: with neither RESP-CODES nor AUTH-RESP-CODE listed, the replies that carry
    [LOGIN-DELAY], [AUTH] and [UTF8] come without any code."""
    quiet = ALL_CAPABILITIES - {"RESP-CODES", "AUTH-RESP-CODE"}
    clock = Clock()
    config = ServerConfig(
        capabilities=quiet, login_delay=60, enforce_login_delay=True, utf8_required=True
    )
    users = {"alice": Mailbox("alice", "wonderland", [UTF8_MESSAGE])}
    first = session(config, users, clock)
    assert not {"RESP-CODES", "AUTH-RESP-CODE"} & tags(capa_lines(first))
    assert send(first, "AUTH FOOBAR") == "-ERR Unsupported authentication mechanism.\r\n"
    log_in(first)
    assert send(first, "RETR 1") == "-ERR This message needs UTF8 mode.\r\n"
    send(first, "QUIT")
    second = session(config, users, clock)
    send(second, "USER alice")
    assert send(second, "PASS wonderland") == "-ERR Logged in too soon: try later.\r\n"
    locked = session(ServerConfig(capabilities=quiet, stls_available=True, require_tls=True))
    assert send(locked, "USER alice") == (
        "-ERR Plaintext authentication is disabled: use STLS first.\r\n"
    )


def test_c132_a_storage_failure_answers_sys_temp_on_the_wire() -> None:
    """C-132: a maildrop that fails to load a message gives -ERR [SYS/TEMP] (RFC 3206
    section 4); the server reports the failure through check()."""

    def broken() -> Message:
        raise OSError("storage offline")

    with POP3Server(users={"alice": "wonderland"}) as server:
        server.mailbox("alice").add(LazyMessage("u1", 10, broken))
        with connect(server) as client:
            client.cmd("USER alice")
            assert client.cmd("PASS wonderland") == b"+OK Logged in.\r\n"
            client.send(b"RETR 1\r\n")
            assert client.read_all() == b"-ERR [SYS/TEMP] Internal error.\r\n"
    with pytest.raises(ServerError, match="storage offline"):
        server.check()


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_c135_authentication_errors_never_read_as_lock_or_wait(name: str) -> None:
    """C-135: no -ERR to USER/PASS/APOP/AUTH mentions lock, wait or an unavailable service
    (fetchmail reads those as LOCKBUSY); only the real lock conflict says "locked"."""
    config = personality_config(name, bad_command_limit=None)
    users = {"alice": Mailbox("alice", "wonderland", token="tok")}
    s = session(config, users)
    replies = [
        send(s, line)
        for line in (
            "PASS wonderland",
            "USER",
            "USER alice",
            "PASS wrong",
            "USER nobody",
            "PASS wonderland",
            "APOP alice",
            "APOP alice 0123456789abcdef0123456789abcdef",
            "AUTH FOOBAR",
            "AUTH PLAIN !!!",
            "AUTH PLAIN " + b64(b"\0alice\0wrong"),
            "AUTH CRAM-MD5 Zm9v",
        )
    ]
    if config.has("SASL"):
        replies += [send(s, "AUTH PLAIN"), send(s, "*")]
    if config.has("STLS"):
        locked = personality_config(name, stls_available=True, require_tls=True)
        replies.append(send(session(locked, users), "USER alice"))
    errors = [reply for reply in replies if reply.startswith("-ERR")]
    assert len(errors) >= 6
    assert not [reply for reply in errors if MISLEADING.search(reply)]
    holder = session(config, users)
    log_in(holder)
    second = session(config, users)
    send(second, "USER alice")
    assert "lock" in send(second, "PASS wonderland")


# -- K. STLS and implicit TLS -----------------------------------------------------------------


def test_c137_the_first_byte_after_the_stls_reply_is_a_tls_handshake_record() -> None:
    """C-137, C-139: after "+OK ...\\r\\n" the next byte the server sends starts its TLS
    handshake record (0x16, answering the ClientHello), never more plaintext; inside TLS the
    session is still in AUTHORIZATION."""
    with (
        POP3Server(users={"alice": "wonderland"}, stls=True) as server,
        connect(server) as client,
    ):
        assert client.cmd("STLS") == b"+OK Begin TLS negotiation now.\r\n"
        assert client.buf == b""
        sock = client.sock
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls_object = tls.client_context().wrap_bio(incoming, outgoing, server_hostname=server.host)

        def pump() -> bytes:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            incoming.write(data)
            return data

        with pytest.raises(ssl.SSLWantReadError):
            tls_object.do_handshake()
        first = pump()
        assert first[:2] == b"\x16\x03", first[:40]  # a TLS handshake record
        while True:
            try:
                tls_object.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
        tls_object.write(b"STAT\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            try:
                reply += tls_object.read()
            except ssl.SSLWantReadError:
                pump()
        assert reply == b"-ERR STAT is not allowed before login.\r\n"
    server.check()


def test_c146_close_notify_when_the_server_closes_after_too_many_bad_commands() -> None:
    """C-146: a close the server decides (bad-command limit) ends TLS with close_notify, as
    QUIT does."""
    with POP3Server(users={"alice": "wonderland"}, stls=True, bad_command_limit=2) as server:
        with connect(server) as client:
            assert client.cmd("STLS").startswith(b"+OK")
            client.start_tls()
            client.send(b"FROB\r\nFROB\r\n")
            # Without close_notify this read raises SSLEOFError.
            assert (
                client.read_all() == b"-ERR Unknown command.\r\n-ERR Too many invalid commands.\r\n"
            )
        server.journal.wait_for(sessions_ended=1)
        assert server.journal.sessions[0].end_reason == "closed by server"
    server.check()
