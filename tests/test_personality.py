"""Personalities walked by poplib and curl, and their UIDL forms."""

from __future__ import annotations

import poplib
import re
import zlib

import pytest

from helpers import RawClient, curl
from pop3mock import PERSONALITIES, ConfigurationError, Mailbox, POP3Server, ServerConfig, Session
from pop3mock.server import tls

MESSAGES = [
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: two\r\n\r\n.dot line\r\n",
    b"Subject: three\r\n\r\nthird\r\n",
]


def make(personality: str, **options: object) -> POP3Server:
    server = POP3Server(personality=personality, **options)  # type: ignore[arg-type]
    server.add_user("alice", "wonderland", MESSAGES)
    return server


def joined(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def walk(client: poplib.POP3, server: POP3Server) -> list[str]:
    """What a poplib user does: log in, STAT, LIST, RETR every message, DELE 1, QUIT."""
    client.user("alice")
    client.pass_("wonderland")
    count, size = client.stat()
    assert (count, size) == (3, sum(len(m) for m in MESSAGES))
    _, listing, _ = client.list()
    assert [int(line.split()[1]) for line in listing] == [len(m) for m in MESSAGES]
    for number, message in enumerate(MESSAGES, 1):
        assert joined(client.retr(number)[1]) == message
    uids: list[str] = []
    if "UIDL" in server.config.capabilities:
        uids = [line.split()[1].decode() for line in client.uidl()[1]]
    client.dele(1)
    client.quit()
    return uids


def test_every_personality_is_known() -> None:
    assert set(PERSONALITIES) == {"default", "rfc1939", "dovecot", "gmail"}
    with pytest.raises(ConfigurationError, match="unknown personality"):
        POP3Server(personality="exchange")


# -- default --------------------------------------------------------------------------------


def test_default_poplib() -> None:
    with make("default") as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert "SASL" in client.capa()
        uids = walk(client, server)
        assert uids == list(Mailbox("x", "y", MESSAGES).uids)  # the messages' own uids
    server.check()


def test_default_curl() -> None:
    with make("default") as server:
        result = curl(f"{server.url}/2", "-u", "alice:wonderland")
        assert result.returncode == 0, result.stderr
        assert result.stdout == MESSAGES[1]
        server.journal.assert_command("AUTH", "CRAM-MD5")


# -- rfc1939 --------------------------------------------------------------------------------


def test_rfc1939_poplib() -> None:
    with make("rfc1939") as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert client.getwelcome() == b"+OK POP3 server ready"  # no APOP timestamp
        with pytest.raises(poplib.error_proto, match="CAPA not supported"):
            client.capa()
        walk(client, server)
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("wonderland")
        for command in (client.uidl, lambda: client.top(1, 0)):
            with pytest.raises(poplib.error_proto):
                command()
        with pytest.raises(poplib.error_proto):
            client._shortcmd("LAST")  # removed by RFC 1725
        client.quit()
    assert len(server.mailbox("alice")) == 2


def test_rfc1939_curl_falls_back_to_user_pass() -> None:
    with make("rfc1939") as server:
        result = curl(f"{server.url}/", "-u", "alice:wonderland")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"".join(
            b"%d %d\r\n" % (i, len(m)) for i, m in enumerate(MESSAGES, 1)
        )
        server.journal.assert_commands(["CAPA", "USER alice", "PASS", "LIST", "QUIT"])


# -- dovecot --------------------------------------------------------------------------------

DOVECOT_CAPA = {
    "CAPA": [],
    "TOP": [],
    "UIDL": [],
    "RESP-CODES": [],
    "PIPELINING": [],
    "AUTH-RESP-CODE": [],
    "STLS": [],
    "USER": [],
    "SASL": ["PLAIN", "LOGIN", "CRAM-MD5"],
}


def test_dovecot_poplib() -> None:
    with make("dovecot", stls=True) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert re.fullmatch(
            rb"\+OK Dovecot \(Debian\) ready\. <[^<>]+@[^<>]+>", client.getwelcome()
        )
        caps = client.capa()
        assert list(caps.items()) == list(DOVECOT_CAPA.items())  # as observed, in its order
        client.stls(tls.client_context())
        client.user("alice")
        client.pass_("wonderland")
        # Dovecot's mail process lists fewer capabilities than its login process did.
        after_login = ["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
        assert list(client.capa()) == after_login
        client.quit()
        client = poplib.POP3(server.host, server.port, timeout=10)
        uids = walk(client, server)
        validity = f"{zlib.crc32(b'alice'):08x}"
        assert uids == [f"{n:08x}{validity}" for n in (1, 2, 3)]
    server.check()


def test_dovecot_texts_and_limits() -> None:
    with make("dovecot") as server:
        with RawClient(server.host, server.port) as client:
            client.line()
            assert client.cmd("STAT") == b"-ERR Unknown command.\r\n"
            assert client.cmd("USER") == b"+OK\r\n"
            assert client.cmd("PASS wonderland") == b"-ERR [AUTH] Authentication failed.\r\n"
            assert client.cmd("USER alice") == b"+OK\r\n"
            assert client.cmd("PASS wrong") == b"-ERR [AUTH] Authentication failed.\r\n"
            client.cmd("USER alice")
            assert client.cmd("PASS wonderland") == b"+OK Logged in.\r\n"
            assert client.cmd("LAST") == b"-ERR Unknown command: LAST\r\n"
            assert client.cmd("RETR 9") == b"-ERR There's no message 9.\r\n"
            assert client.cmd("DELE 1") == b"+OK Marked to be deleted.\r\n"
            assert client.cmd("QUIT") == b"+OK Logging out.\r\n"
        with RawClient(server.host, server.port) as client:
            client.line()
            for command in ("STAT", "LIST", "NOOP"):
                assert client.cmd(command) == b"-ERR Unknown command.\r\n"
            assert client.cmd("RSET") == b"-ERR Too many invalid bad commands.\r\n"
            assert client.read_all() == b""


def test_dovecot_errors_after_login_keep_the_session_up_to_its_limit() -> None:
    with make("dovecot") as server, RawClient(server.host, server.port) as client:
        client.line()
        assert client.cmd("FOO") == b"-ERR Unknown command.\r\n"  # one before login
        client.cmd("USER alice")
        assert client.cmd("PASS wonderland") == b"+OK Logged in.\r\n"
        # Counted afresh from the login: 20 errors are answered, the 21st closes.
        for n in range(20):
            assert client.cmd(f"RETR {90 + n}") == b"-ERR There's no message %d.\r\n" % (90 + n)
        assert client.cmd("STAT").startswith(b"+OK")
        assert client.cmd("BAR") == b"-ERR Too many bad commands.\r\n"
        assert client.read_all() == b""


def test_bad_command_limits_before_and_after_login_are_separate() -> None:
    with pytest.raises(ConfigurationError, match="bad_command_limit_after_login"):
        POP3Server(bad_command_limit_after_login=0)
    options = {"bad_command_limit": 2, "bad_command_limit_after_login": None}
    with POP3Server(users={"alice": "pw"}, **options) as server:  # type: ignore[arg-type]
        with RawClient(server.host, server.port) as client:
            client.line()
            client.cmd("FOO")
            client.cmd("USER alice")
            assert client.cmd("PASS pw").startswith(b"+OK")
            for _ in range(30):  # no limit once logged in
                assert client.cmd("RETR 9").startswith(b"-ERR There is no message")
        with RawClient(server.host, server.port) as client:
            client.line()
            client.cmd("FOO")
            assert client.cmd("BAR") == b"-ERR Too many invalid commands.\r\n"
            assert client.read_all() == b""


def test_dovecot_curl() -> None:
    with make("dovecot") as server:
        result = curl(f"{server.url}/2", "-u", "alice:wonderland")
        assert result.returncode == 0, result.stderr
        assert result.stdout == MESSAGES[1]
        server.journal.assert_command("AUTH", "CRAM-MD5")  # curl's pick, as against Dovecot
        uidl = curl(f"{server.url}/", "-u", "alice:wonderland", "-X", "UIDL")
        assert uidl.returncode == 0, uidl.stderr
        validity = f"{zlib.crc32(b'alice'):08x}"
        assert uidl.stdout.splitlines()[0] == f"1 00000001{validity}".encode()


# -- gmail ----------------------------------------------------------------------------------

GMAIL_CAPA = {
    "USER": [],
    "RESP-CODES": [],
    "EXPIRE": ["0"],
    "LOGIN-DELAY": ["300"],
    "TOP": [],
    "UIDL": [],
    "SASL": ["PLAIN", "XOAUTH2", "OAUTHBEARER"],
}


@pytest.mark.slow
def test_gmail_poplib_over_implicit_tls() -> None:
    with make("gmail") as server:
        assert server.tls_port is not None  # implicit TLS by default
        client = poplib.POP3_SSL(server.host, server.tls_port, context=tls.client_context())
        assert client.getwelcome() == b"+OK Gpop ready for requests from 127.0.0.1"
        assert list(client.capa().items()) == list(GMAIL_CAPA.items())
        uids = walk(client, server)
        assert all(re.fullmatch(r"GmailId[0-9a-f]{16}", uid) for uid in uids)
        assert len(set(uids)) == 3
    # EXPIRE 0: every retrieved message is gone after QUIT, not only the deleted one.
    assert len(server.mailbox("alice")) == 0
    server.check()


def test_gmail_curl() -> None:
    with make("gmail") as server:
        server.mailbox("alice").token = "gmail-token"
        assert server.tls_url is not None
        result = curl(f"{server.tls_url}/1", "--cacert", tls.ca_file(), "-u", "alice:wonderland")
        assert result.returncode == 0, result.stderr
        assert result.stdout == MESSAGES[0]
        server.journal.assert_command("AUTH", "PLAIN")  # the best curl can use without a token
        bearer = curl(
            f"{server.tls_url}/",
            "--cacert",
            tls.ca_file(),
            "-u",
            "alice:",
            "--oauth2-bearer",
            "gmail-token",
            "-X",
            "UIDL",
        )
        assert bearer.returncode == 0, bearer.stderr
        assert re.fullmatch(rb"(\d GmailId[0-9a-f]{16}\r\n){2}", bearer.stdout)
        assert server.journal.sessions[-1].tls


def test_gmail_without_implicit_tls_and_without_stls() -> None:
    with make("gmail", implicit_tls=False) as server:
        assert server.tls_port is None
    with pytest.raises(ConfigurationError, match="STLS"):
        POP3Server(personality="gmail", stls=True)


# -- UIDL forms -----------------------------------------------------------------------------


def uidl(server: POP3Server) -> list[str]:
    with RawClient(server.host, server.port) as client:
        client.line()
        client.cmd("USER alice")
        client.cmd("PASS wonderland")
        client.send(b"UIDL\r\n")
        lines = client.multiline().decode().split("\r\n")[1:-2]
        single = client.cmd("UIDL 1").decode().split()
        client.cmd("QUIT")
    uids = [line.split()[1] for line in lines]
    if uids:
        assert single[2] == uids[0]
    return uids


@pytest.mark.parametrize("form", ["dovecot", "gmail"])
def test_uid_forms_are_stable_and_never_reused(form: str) -> None:
    with POP3Server(users={"alice": "wonderland"}, uid_format=form, implicit_tls=False) as server:
        box = server.mailbox("alice")
        box.add(*MESSAGES)
        first = uidl(server)
        assert first == uidl(server)  # stable across sessions
        assert list(server.config.visible_uids(box)) == first
        with RawClient(server.host, server.port) as client:
            client.line()
            client.cmd("USER alice")
            client.cmd("PASS wonderland")
            client.cmd("DELE 1")
            client.cmd("QUIT")
        box.add(MESSAGES[0])  # the same content again is a new message
        second = uidl(server)
        assert second[:2] == first[1:]
        assert second[2] not in first  # never reused
        assert len(set(second)) == 3
        if form == "dovecot":
            assert second[2].startswith("00000004")


def test_uid_form_in_a_personality_can_be_overridden() -> None:
    with make("dovecot", uid_format="message") as server:
        assert uidl(server) == list(server.mailbox("alice").uids)


def test_uid_forms_scale() -> None:
    box = Mailbox("bulk", "pw", [b"Subject: %d\r\n\r\nx\r\n" % i for i in range(5000)])
    uids = ServerConfig(uid_format="gmail").visible_uids(box)
    assert len(set(uids)) == 5000
    assert ServerConfig(uid_format="gmail").visible_uids(box) == uids


def test_uid_form_listing_follows_deletion_marks() -> None:
    box = Mailbox("alice", "wonderland", MESSAGES)
    session = Session(ServerConfig(uid_format="dovecot"), {"alice": box})
    session.handle(b"USER alice")
    session.handle(b"PASS wonderland")
    full = session.handle(b"UIDL").body
    assert full is not None and full.count(b"\r\n") == 3
    session.handle(b"DELE 2")
    lines = (session.handle(b"UIDL").body or b"").splitlines()
    assert [line.split()[0] for line in lines] == [b"1", b"3"]
    assert session.handle(b"UIDL 2").status == "-ERR"
    session.handle(b"RSET")
    assert session.handle(b"UIDL").body == full
