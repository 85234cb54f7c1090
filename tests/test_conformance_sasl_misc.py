"""Conformance checks C-148 to C-188 (SASL, UTF8/LANG, obsolete commands, POP URLs,
client interoperability) and the needs of the clients in the checklist's quirks section,
each shown with exact bytes over a socket or through the sans-IO session."""

from __future__ import annotations

import base64
import poplib
import re

import pytest

from helpers import MakeServer, connect
from pop3mock import Mailbox, POP3Server, ServerConfig, Session, fake_messages
from pop3mock.protocol._config import ALL_CAPABILITIES, DEFAULT_TEXTS
from pop3mock.server import tls

MESSAGES = [
    b"Subject: one\r\n\r\nfirst\r\n",
    b"Subject: two\r\n\r\n.dot line\r\nsecond\r\n",
    b"Subject: three\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(30)),
]
PLAIN_IR = "AUTH PLAIN " + base64.b64encode(b"\0alice\0wonderland").decode()


pytestmark = pytest.mark.server({"alice": "wonderland"}, maildrops={"alice": MESSAGES})


# -- L. AUTH / SASL ---------------------------------------------------------------------------


def test_c149_every_auth_form_is_refused_after_a_successful_auth(server: POP3Server) -> None:
    """C-148, C-149: after AUTH succeeded, AUTH in any form gets -ERR and the session stays."""
    refused = b"-ERR AUTH is not allowed after login.\r\n"
    with connect(server) as client:
        assert client.cmd(PLAIN_IR) == b"+OK Logged in.\r\n"
        for line in (PLAIN_IR, "AUTH PLAIN", "AUTH CRAM-MD5", "AUTH FOOBAR", "AUTH"):
            assert client.cmd(line) == refused
        assert client.cmd("STAT") == b"+OK 3 %d\r\n" % sum(len(m) for m in MESSAGES)


@pytest.mark.server({"alice": "wonderland"}, capabilities=ALL_CAPABILITIES - {"SASL"})
def test_c165_bare_auth_without_sasl_is_err(server: POP3Server) -> None:
    """C-165: bare AUTH lists mechanisms, or answers -ERR when SASL is not offered."""
    with connect(server) as client:
        assert client.cmd("AUTH") == b"-ERR AUTH is not supported.\r\n"
        assert not any(line.startswith("SASL") for line in client.capa())
        client.login()  # the refusal changed nothing


# -- M. UTF8 and LANG -------------------------------------------------------------------------


@pytest.mark.server({"alice": "wonderland"}, stls=True)
def test_c170_stls_after_utf8_is_refused_where_stls_is_offered(server: POP3Server) -> None:
    """C-170: with STLS on offer, STLS after UTF8 is refused and the session stays plain."""
    with connect(server) as client:
        assert "STLS" in client.capa()
        assert client.cmd("UTF8") == b"+OK UTF8 enabled.\r\n"
        assert client.cmd("STLS") == b"-ERR STLS is not allowed after UTF8.\r\n"
        client.login()  # still plaintext: the session went on without a handshake
    pop = poplib.POP3(server.host, server.port, timeout=10)
    pop.stls(tls.client_context())  # without UTF8 first, STLS works
    pop.user("alice")
    pop.pass_("wonderland")
    pop.quit()


def test_c171_malformed_utf8_in_user_pass_and_apop_is_refused(
    server: POP3Server, make_server: MakeServer
) -> None:
    """C-171: invalid UTF-8 in USER, PASS or APOP gets -ERR; valid UTF-8 names log in."""
    with connect(server) as client:
        assert client.cmd("USER alice").startswith(b"+OK")
        client.send(b"PASS wonder\xffland\r\n")
        assert client.line() == b"-ERR [AUTH] Authentication failed.\r\n"
        client.send(b"APOP al\xc3ice 0123456789abcdef0123456789abcdef\r\n")
        assert client.line() == b"-ERR [AUTH] Authentication failed.\r\n"
        client.send(b"USER \xc3\x28\r\n")
        assert client.line() == b"-ERR Invalid UTF-8 in the user name.\r\n"
    with connect(make_server({"j\u00fcrgen": "p\u00e4ss"})) as client:
        client.send("USER j\u00fcrgen\r\nPASS p\u00e4ss\r\n".encode())
        assert [client.line(), client.line()] == [b"+OK Send PASS.\r\n", b"+OK Logged in.\r\n"]


def test_c172_failed_lang_keeps_the_language_in_both_states() -> None:
    """C-172: LANG answers `+OK <tag> <text>`; -ERR leaves the language as it was; LANG
    works in AUTHORIZATION and TRANSACTION."""
    config = ServerConfig(languages=[("en", "English"), ("de", "Deutsch")])
    session = Session(config, {"alice": Mailbox("alice", "wonderland", MESSAGES)})
    assert session.handle(b"LANG de").encode() == b"+OK de Language changed.\r\n"
    assert session.handle(b"LANG xx-bogus").encode() == b"-ERR Unsupported language.\r\n"
    assert session.language == "de"
    assert session.handle(b"LANG de fr").status == "-ERR"
    assert session.language == "de"
    assert session.handle(b"USER alice").ok and session.handle(b"PASS wonderland").ok
    assert session.handle(b"LANG EN").encode() == b"+OK en Language changed.\r\n"
    assert session.handle(b"LANG nope").status == "-ERR"
    assert session.language == "en"
    assert session.handle(b"LANG *").encode() == b"+OK en Language changed.\r\n"


@pytest.mark.server({"alice": "wonderland"}, capabilities=ALL_CAPABILITIES - {"UTF8", "LANG"})
def test_c174_utf8_and_lang_switched_off_answer_err(server: POP3Server) -> None:
    """C-174: a server without RFC 6856 answers UTF8 and LANG (any form) with -ERR."""
    with connect(server) as client:
        listed = client.capa()
        assert not any(line.split()[0] in ("UTF8", "LANG") for line in listed)
        assert client.cmd("UTF8") == b"-ERR UTF8 is not supported.\r\n"
        assert client.cmd("LANG") == b"-ERR LANG is not supported.\r\n"
        assert client.cmd("LANG en") == b"-ERR LANG is not supported.\r\n"
        client.login()
        assert client.cmd("LANG *") == b"-ERR LANG is not supported.\r\n"
        assert client.cmd("NOOP") == b"+OK\r\n"


# -- O. POP URLs ------------------------------------------------------------------------------


def test_c181_mechanism_and_user_are_percent_encoded(server: POP3Server) -> None:
    """C-179, C-181: RFC 2384 achars stay as they are, the rest of user and mechanism is
    percent-encoded, and no URL has a password."""
    port = server.port
    assert server.pop_url("a~b+c!$&'()*,=") == f"pop://a~b+c!$&'()*,=@127.0.0.1:{port}"
    assert server.pop_url("alice", auth="X;Y Z") == f"pop://alice;AUTH=X%3BY%20Z@127.0.0.1:{port}"
    assert server.pop_url("j\u00fcrgen") == f"pop://j%C3%BCrgen@127.0.0.1:{port}"
    for url in (server.url, server.pop_url("alice"), server.pop_url("alice", auth="PLAIN")):
        assert "wonderland" not in url
    userinfo = server.pop_url("alice", auth="PLAIN").removeprefix("pop://").split("@")[0]
    assert userinfo == "alice;AUTH=PLAIN"  # no ':password'


# -- P. Client-interoperability rules ---------------------------------------------------------

MULTILINE = ["CAPA", "AUTH", "LANG", "LIST", "UIDL", "TOP 3 5", "RETR 2"]


def test_c183_nothing_follows_a_terminator_until_the_next_command(server: POP3Server) -> None:
    """C-183 (C-018): after each multi-line reply the next bytes are the next reply."""
    with connect(server) as client:
        for n, command in enumerate(MULTILINE):
            if n == 3:
                client.login()
            reply = client.multi(command)
            assert reply.startswith(b"+OK") and reply.endswith(b"\r\n.\r\n")
            assert client.buf == b""
            # A one-line command valid in both states: its reply must be the next bytes.
            assert client.cmd("LANG en") == b"+OK en Language changed.\r\n"
            assert client.buf == b""


def test_c184_noop_sent_while_a_long_reply_streams_is_answered_after_it(
    make_server: MakeServer,
) -> None:
    """C-184: a keep-alive NOOP sent before the client read the whole RETR is answered
    after the terminator, and the message arrives intact."""
    big = b"Subject: big\r\n\r\n" + b"".join(b"%077d\r\n" % i for i in range(100_000))
    server = make_server({"alice": "wonderland"}, maildrops={"alice": [big]})
    with connect(server) as client:
        client.login()
        client.send(b"RETR 1\r\n")
        client.buf = client.sock.recv(65536)
        assert client.buf.startswith(b"+OK") and b"\r\n.\r\n" not in client.buf
        client.send(b"NOOP\r\n")  # the client has not read the reply yet
        assert client.multiline() == b"+OK %d octets\r\n" % len(big) + big + b".\r\n"
        assert client.line() == b"+OK\r\n"
        assert client.cmd("QUIT").startswith(b"+OK")
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].violations == []


def test_c185_quit_is_answered_then_the_connection_closes(server: POP3Server) -> None:
    """C-185: QUIT gets its +OK at once, before the close, in both states."""
    with connect(server) as client:
        assert client.cmd("QUIT") == b"+OK Logging out.\r\n"
        assert client.read_all() == b""
    with connect(server) as client:
        client.login()
        assert client.cmd("QUIT") == b"+OK Logging out, 0 messages deleted.\r\n"
        assert client.read_all() == b""


UID_CHARS = re.compile(r"[A-Za-z0-9.]+")


@pytest.mark.slow
def test_c187_default_uids_have_no_slash() -> None:
    """C-187: uids from content, renamed duplicates, generated maildrops and every wire
    format use [A-Za-z0-9.] only (getmail turns '/' into '-')."""
    box = Mailbox("alice", "pw", [*MESSAGES, MESSAGES[0], MESSAGES[0]])
    box.add(*fake_messages(20, seed=5))
    uids = list(box.uids)
    assert len(set(uids)) == len(uids) == 25
    for uid_format in ("message", "dovecot", "gmail"):
        wire = ServerConfig(uid_format=uid_format).visible_uids(box)
        assert len(set(wire)) == 25
        assert all(UID_CHARS.fullmatch(uid) for uid in wire), wire


def test_c188_clients_leaving_without_quit_after_errors(server: POP3Server) -> None:
    """C-188 (C-088): a client that drops the connection after an error (mid-SASL, after a
    refused login, after a failed command with a deletion pending) leaves nothing deleted,
    the maildrop unlocked and the server without an error."""
    before = server.mailbox("alice").messages
    with connect(server) as client:
        assert client.cmd("AUTH PLAIN") == b"+ \r\n"
        client.close()
    with connect(server) as client:
        assert client.cmd("USER alice").startswith(b"+OK")
        assert client.cmd("PASS wrong") == b"-ERR [AUTH] Authentication failed.\r\n"
        client.reset()
    with connect(server) as client:
        client.login()
        assert client.cmd("DELE 1") == b"+OK Message 1 deleted.\r\n"
        assert client.cmd("UIDL 9") == b"-ERR There is no message 9.\r\n"
        client.reset()
    server.journal.wait_for(sessions_ended=3)
    reasons = [s.end_reason for s in server.journal.sessions]
    assert reasons[0] == "client closed"
    assert set(reasons[1:]) <= {"client reset", "client closed"}
    assert server.mailbox("alice").messages == before
    assert not server.mailbox("alice").locked
    assert server.errors == []
    with connect(server) as client:
        client.login()  # not [IN-USE]
        assert client.cmd("STAT").startswith(b"+OK 3 ")


# -- Client quirks: what each client needs back -----------------------------------------------

# Thunderbird's APOP timestamp pattern (Pop3Client.sys.mjs), as bytes.
THUNDERBIRD_TIMESTAMP = re.compile(rb"<[^<>@\x00-\x20\x7f-\xff]+@[^<>@\x00-\x20\x7f-\xff]+>")


def test_quirks_greeting_timestamp_as_every_client_parses_it(server: POP3Server) -> None:
    """poplib (first '<' to last '>'), curl 7.88 ('>' last, '@' inside), fetchmail and mpop
    (an RFC 822 msg-id with '@') and Thunderbird find the same APOP timestamp."""
    with connect(server) as client:
        greeting = client.greeting
    line = greeting.removesuffix(b"\r\n")
    poplib_ts = re.match(rb"\+OK.[^<]*(<.*>)", line)
    thunderbird_ts = THUNDERBIRD_TIMESTAMP.search(line)
    assert poplib_ts and thunderbird_ts
    assert line.endswith(b">") and b"@" in poplib_ts[1]  # curl 7.88.1
    assert poplib_ts[1] == thunderbird_ts[0] == line[line.index(b"<") : line.index(b">") + 1]
    assert re.fullmatch(rb"<[\w.-]+@[\w.-]+>", poplib_ts[1])  # mpop: no specials


def test_quirks_listings_match_stat_with_single_spaces(server: POP3Server) -> None:
    """mpop, getmail, Thunderbird: STAT is `+OK n size`; LIST and UIDL have exactly n lines
    of `number SP value`, also after DELE; `UIDL n` echoes n (fetchmail)."""
    with connect(server) as client:
        client.login()
        assert client.cmd("DELE 2").startswith(b"+OK")
        stat = re.fullmatch(rb"\+OK (\d+) (\d+)\r\n", client.cmd("STAT"))
        assert stat is not None
        for command in ("LIST", "UIDL"):
            lines = client.multi(command).split(b"\r\n")[1:-2]
            assert len(lines) == int(stat[1])
            assert [line.split(b" ")[0] for line in lines] == [b"1", b"3"]
            assert all(re.fullmatch(rb"\d+ [\x21-\x7e]+", line) for line in lines)
        assert re.fullmatch(rb"\+OK 3 [0-9a-f]+\r\n", client.cmd("UIDL 3"))


def test_quirks_fetchmail_top_99999999_is_the_whole_message(server: POP3Server) -> None:
    """fetchmail fetches with `TOP n 99999999`: the reply is the whole stuffed message."""
    with connect(server) as client:
        client.login()
        reply = client.multi("TOP 2 99999999")
        assert (
            reply
            == b"+OK Top of message follows.\r\n"
            + MESSAGES[1].replace(b"\r\n.", b"\r\n..")
            + b".\r\n"
        )


AUTHORIZATION_TEXTS = [
    "unknown", "too_long", "bad_state_auth", "no_args", "user_ok", "need_user", "no_user",
    "login_ok", "auth_failed", "plaintext", "quit", "capa", "off", "stls", "stls_active",
    "stls_after_utf8", "auth_list", "auth_unsupported", "auth_cancelled", "auth_base64",
    "auth_ir", "apop_syntax", "apop_off", "utf8", "utf8_user", "lang", "lang_list",
    "lang_bad", "too_many_bad",
]  # fmt: skip


def test_quirks_fetchmail_reads_no_lock_busy_into_login_replies() -> None:
    """fetchmail takes an -ERR during login containing lock/wait/[IN-USE]/[LOGIN-DELAY]
    for 'mailbox busy' and Service...unavailable for 'server busy': only the IN-USE and
    LOGIN-DELAY texts may say so."""
    busy = re.compile(r"lock|Lock|LOCK|wait|\[IN-USE\]|\[LOGIN-DELAY\]")
    for key in AUTHORIZATION_TEXTS:
        text = DEFAULT_TEXTS[key]
        assert not busy.search(text), key
        assert not ("ervice" in text and "unavailable" in text), key
    assert "lock" in DEFAULT_TEXTS["in_use"]


def test_quirks_capa_as_curl_mpop_and_thunderbird_read_it(server: POP3Server) -> None:
    """curl ends CAPA at a line starting with '.', mpop reads at most 50 upper-case tags,
    Thunderbird needs `USER` alone on its line and SASL names split by single spaces."""
    with connect(server) as client:
        lines = client.capa()
    assert 0 < len(lines) <= 50
    assert "USER" in lines
    sasl = next(line for line in lines if line.startswith("SASL "))
    assert sasl.split(" ")[1:] == ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"]
    for line in lines:
        assert not line.startswith(".") and line.isascii() and line == line.strip()
        assert line.split(" ")[0] == line.split(" ")[0].upper()
