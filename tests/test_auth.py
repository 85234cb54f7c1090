"""Authentication over sockets: APOP, SASL (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER),
tokens, and what curl and poplib do with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import poplib
import re
from collections.abc import Iterator

import pytest

from helpers import RawClient, connect, curl
from pop3mock import Mailbox, POP3Server

MESSAGE = b"Subject: auth\r\n\r\nhello\r\n"
CURLE_LOGIN_DENIED = 67
TOKEN = "ya29.token-for-alice"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


pytestmark = pytest.mark.server(
    {"alice": "wonderland"}, maildrops={"alice": [MESSAGE]}, tokens={"alice": TOKEN}
)


@pytest.fixture
def client(server: POP3Server) -> Iterator[RawClient]:
    with connect(server) as raw:
        yield raw


def logged_in(client: RawClient) -> bool:
    return client.cmd("STAT").startswith(b"+OK")


# -- APOP (RFC 1939 section 7) ----------------------------------------------------------------

TIMESTAMP = re.compile(rb"\+OK .*(<\d+(?:\.\d+)+@[^<>@\s]+>)\r\n")


def test_greeting_ends_with_a_fresh_timestamp(server: POP3Server) -> None:
    greetings = []
    for _ in range(2):
        with connect(server) as raw:
            greetings.append(raw.greeting)
    matches = [TIMESTAMP.fullmatch(g) for g in greetings]
    assert all(matches), greetings  # curl 7.88 only finds it as the last thing on the line
    assert matches[0] and matches[1] and matches[0][1] != matches[1][1]


def test_poplib_apop(server: POP3Server) -> None:
    client = poplib.POP3(server.host, server.port, timeout=10)
    assert client.apop("alice", "wonderland").startswith(b"+OK")
    assert client.stat()[0] == 1
    client.quit()
    bad = poplib.POP3(server.host, server.port, timeout=10)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Authentication failed"):
        bad.apop("alice", "not the secret")
    bad.quit()
    server.journal.assert_command("APOP", "alice", count=2)


def test_apop_digest_is_checked_against_the_password(server: POP3Server) -> None:
    with connect(server) as raw:
        timestamp = TIMESTAMP.fullmatch(raw.greeting)
        assert timestamp is not None
        digest = hashlib.md5(timestamp[1] + b"wonderland").hexdigest()
        assert raw.cmd(f"APOP alice {'0' * 32}") == b"-ERR [AUTH] Authentication failed.\r\n"
        assert raw.cmd(f"APOP nobody {digest}").startswith(b"-ERR [AUTH]")
        assert raw.cmd(f"APOP alice {digest.upper()}").startswith(b"+OK")


@pytest.mark.server({"alice": "wonderland"}, apop=False)
def test_apop_off_means_no_timestamp(server: POP3Server) -> None:
    with connect(server) as raw:
        assert b"<" not in raw.greeting
        assert raw.cmd("APOP alice 0123").startswith(b"-ERR")


def test_curl_apop(server: POP3Server) -> None:
    result = curl(f"{server.url}/1", "-u", "alice:wonderland", "--login-options", "AUTH=+APOP")
    assert result.returncode == 0, result.stderr
    assert result.stdout == MESSAGE
    server.journal.assert_command("APOP", "alice", count=1)
    wrong = curl(f"{server.url}/1", "-u", "alice:nope", "--login-options", "AUTH=+APOP")
    assert wrong.returncode == CURLE_LOGIN_DENIED


# -- SASL over raw sockets (RFC 5034) ---------------------------------------------------------


def test_plain_without_initial_response_gets_an_empty_challenge(client: RawClient) -> None:
    client.send(b"AUTH PLAIN\r\n")
    assert client.line() == b"+ \r\n"  # C-152: plus, space, nothing else
    assert client.cmd(b64(b"\0alice\0wonderland")) == b"+OK Logged in.\r\n"  # C-160
    assert logged_in(client)


def test_plain_with_initial_response(client: RawClient) -> None:
    assert client.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=") == b"+OK Logged in.\r\n"  # C-153


def test_plain_with_another_authzid_is_refused(client: RawClient) -> None:
    assert client.cmd("AUTH PLAIN " + b64(b"bob\0alice\0wonderland")).startswith(b"-ERR [AUTH]")
    assert client.cmd("AUTH PLAIN " + b64(b"alice\0alice\0wonderland")).startswith(b"+OK")


def test_empty_initial_response(client: RawClient) -> None:
    assert client.cmd("AUTH PLAIN =") == b"-ERR [AUTH] Authentication failed.\r\n"


def test_login_prompts(client: RawClient) -> None:
    assert client.cmd("AUTH LOGIN") == b"+ VXNlcm5hbWU6\r\n"  # C-163
    assert client.cmd(b64(b"alice")) == b"+ UGFzc3dvcmQ6\r\n"
    assert client.cmd(b64(b"wonderland")).startswith(b"+OK")


def test_cram_md5(client: RawClient) -> None:
    line = client.cmd("AUTH CRAM-MD5")
    assert re.fullmatch(rb"\+ [A-Za-z0-9+/]*={0,2}\r\n", line)  # C-151
    challenge = base64.b64decode(line[2:])
    assert re.fullmatch(rb"<[^<>@\s]+@[^<>@\s]+>", challenge)  # C-164: a msg-id
    digest = hmac.new(b"wonderland", challenge, hashlib.md5).hexdigest()
    assert client.cmd(b64(f"alice {digest}".encode())).startswith(b"+OK")


def test_cram_md5_refuses_an_initial_response(client: RawClient) -> None:
    assert client.cmd("AUTH CRAM-MD5 Zm9v").startswith(b"-ERR")  # C-158
    assert not logged_in(client)


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_bearer_token(client: RawClient, mechanism: str) -> None:
    if mechanism == "XOAUTH2":
        message = f"user=alice\x01auth=Bearer {TOKEN}\x01\x01"
    else:
        message = f"n,a=alice,\x01host=127.0.0.1\x01port=110\x01auth=Bearer {TOKEN}\x01\x01"
    assert client.cmd(f"AUTH {mechanism} {b64(message.encode())}").startswith(b"+OK")


@pytest.mark.parametrize(
    ("mechanism", "message", "answer"),
    [
        ("XOAUTH2", "user=alice\x01auth=Bearer wrong\x01\x01", ""),
        ("OAUTHBEARER", "n,a=alice,\x01auth=Bearer wrong\x01\x01", b64(b"\x01")),
    ],
)
def test_bearer_token_refused_with_a_json_challenge(
    client: RawClient, mechanism: str, message: str, answer: str
) -> None:
    line = client.cmd(f"AUTH {mechanism} {b64(message.encode())}")
    assert line.startswith(b"+ ")
    error = json.loads(base64.b64decode(line[2:]))
    assert error["status"] == "invalid_token"
    assert client.cmd(answer) == b"-ERR [AUTH] Authentication failed.\r\n"
    assert not logged_in(client)


def test_token_set_through_users_and_add_user() -> None:
    users = {"bob": Mailbox("bob", "builder", token="bob-token")}
    with POP3Server(users=users) as server:
        server.add_user("carol", "pw", token="carol-token")
        assert server.mailbox("bob").token == "bob-token"
        for user in ("bob", "carol"):
            with connect(server) as raw:
                message = f"user={user}\x01auth=Bearer {user}-token\x01\x01".encode()
                assert raw.cmd(f"AUTH XOAUTH2 {b64(message)}").startswith(b"+OK")


@pytest.mark.server({"dave": "pw"})
def test_user_without_token_cannot_use_bearer_mechanisms(server: POP3Server) -> None:
    with connect(server) as raw:
        message = b"user=dave\x01auth=Bearer \x01\x01"
        assert raw.cmd(f"AUTH XOAUTH2 {b64(message)}").startswith(b"+ ")
        assert raw.cmd("").startswith(b"-ERR [AUTH]")


@pytest.mark.parametrize(
    ("start", "answers"),
    [
        ("AUTH PLAIN " + b64(b"\0alice\0wrong"), []),
        ("AUTH PLAIN", [b64(b"\0alice\0wrong")]),
        ("AUTH LOGIN", [b64(b"alice"), b64(b"wrong")]),
        ("AUTH PLAIN " + b64(b"\0nobody\0wonderland"), []),
    ],
)
def test_wrong_credentials(client: RawClient, start: str, answers: list[str]) -> None:
    line = client.cmd(start)
    for answer in answers:
        assert line.startswith(b"+ ")
        line = client.cmd(answer)
    assert line == b"-ERR [AUTH] Authentication failed.\r\n"
    # C-159: as if AUTH had not been sent; USER/PASS still works.
    assert client.cmd("USER alice").startswith(b"+OK")
    assert client.cmd("PASS wonderland").startswith(b"+OK")


def test_wrong_cram_md5_digest(client: RawClient) -> None:
    challenge = base64.b64decode(client.cmd("AUTH CRAM-MD5")[2:])
    digest = hmac.new(b"wrong", challenge, hashlib.md5).hexdigest()
    assert client.cmd(b64(f"alice {digest}".encode())).startswith(b"-ERR [AUTH]")


def test_cancelled_exchange(client: RawClient) -> None:
    assert client.cmd("AUTH PLAIN") == b"+ \r\n"
    assert client.cmd("*") == b"-ERR Authentication cancelled.\r\n"  # C-156
    assert client.cmd("AUTH LOGIN").startswith(b"+ ")
    assert client.cmd(b64(b"alice")).startswith(b"+ ")
    assert client.cmd("*").startswith(b"-ERR")
    assert not logged_in(client)
    assert client.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").startswith(b"+OK")


@pytest.mark.parametrize("bad", ["!!!notbase64!!!", "=AAA", "AAA=BBB", "QUJD="])
def test_undecodable_base64(client: RawClient, bad: str) -> None:
    assert client.cmd("AUTH PLAIN") == b"+ \r\n"
    assert client.cmd(bad).startswith(b"-ERR [AUTH] Invalid base64")  # C-157
    assert client.cmd(f"AUTH PLAIN {bad}").startswith(b"-ERR [AUTH] Invalid base64")


def test_unsupported_mechanism(client: RawClient) -> None:
    reply = client.cmd("AUTH FOOBAR")
    assert reply == b"-ERR [AUTH] Unsupported authentication mechanism.\r\n"  # C-150
    assert client.cmd("USER alice").startswith(b"+OK")


def test_no_auth_after_login_and_sasl_still_listed(client: RawClient) -> None:
    assert client.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").startswith(b"+OK")
    assert client.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").startswith(b"-ERR")  # C-148/149
    client.send(b"CAPA\r\n")
    assert b"\r\nSASL PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER\r\n" in client.multiline()  # C-111


def test_bare_auth_lists_mechanisms(client: RawClient) -> None:
    client.send(b"AUTH\r\n")
    assert client.multiline() == (
        b"+OK Mechanisms follow.\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n"
    )  # C-165


def test_long_initial_response_and_continuation(client: RawClient) -> None:
    token = "t" * 8192
    message = b64(f"user=alice\x01auth=Bearer {token}\x01\x01".encode())
    assert len(message) > 8192
    assert client.cmd(f"AUTH XOAUTH2 {message}").startswith(b"+ ")  # C-154: accepted, wrong token
    assert client.cmd("").startswith(b"-ERR [AUTH]")
    assert client.cmd("AUTH PLAIN") == b"+ \r\n"
    long_plain = b64(b"\0alice\0" + b"x" * 3000)
    assert len(long_plain) >= 4000
    assert client.cmd(long_plain) == b"-ERR [AUTH] Authentication failed.\r\n"  # C-155


@pytest.mark.server({"alice": "wonderland"}, mechanisms=["plain"])
def test_mechanisms_option(server: POP3Server) -> None:
    with connect(server) as raw:
        assert b"\r\nSASL PLAIN\r\n" in raw.multi("CAPA")  # C-115
        assert raw.cmd("AUTH LOGIN").startswith(b"-ERR")
        assert raw.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").startswith(b"+OK")


@pytest.mark.server({"alice": "wonderland"}, capabilities={"CAPA", "USER", "TOP", "UIDL"})
def test_sasl_switched_off(server: POP3Server) -> None:
    with connect(server) as raw:
        assert b"SASL" not in raw.multi("CAPA")
        assert raw.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=") == b"-ERR AUTH is not supported.\r\n"


# -- curl's SASL ---------------------------------------------------------------------------------

CURL_LOGINS = {
    "PLAIN": ["--login-options", "AUTH=PLAIN"],
    "PLAIN-IR": ["--login-options", "AUTH=PLAIN", "--sasl-ir"],
    "LOGIN": ["--login-options", "AUTH=LOGIN"],
    "LOGIN-IR": ["--login-options", "AUTH=LOGIN", "--sasl-ir"],
    "CRAM-MD5": [],  # curl's own choice among the listed mechanisms
    "APOP": ["--login-options", "AUTH=+APOP"],
}


@pytest.mark.parametrize("way", sorted(CURL_LOGINS))
def test_curl_logs_in(server: POP3Server, way: str) -> None:
    result = curl(f"{server.url}/1", "-u", "alice:wonderland", *CURL_LOGINS[way])
    assert result.returncode == 0, result.stderr
    assert result.stdout == MESSAGE
    first = server.journal.commands[1]  # after CAPA
    mechanism = way.removesuffix("-IR")
    if mechanism == "APOP":
        assert first.verb == "APOP"
    else:
        assert (first.verb, first.args[0]) == ("AUTH", mechanism)
        assert (len(first.args) == 2) == way.endswith("-IR")  # initial response on the line


@pytest.mark.parametrize("way", sorted(CURL_LOGINS))
def test_curl_wrong_password_is_login_denied(server: POP3Server, way: str) -> None:
    result = curl(f"{server.url}/1", "-u", "alice:not-it", *CURL_LOGINS[way])
    assert result.returncode == CURLE_LOGIN_DENIED, result.stderr
    failed = [c for c in server.journal.commands if c.status == "-ERR"]
    assert failed and failed[-1].reply.startswith("[AUTH] ")


def test_curl_user_pass_when_nothing_else_is_offered() -> None:
    with POP3Server(
        users={"alice": "wonderland"}, apop=False, capabilities={"CAPA", "USER", "UIDL"}
    ) as server:
        server.mailbox("alice").add(MESSAGE)
        assert curl(f"{server.url}/1", "-u", "alice:wonderland").returncode == 0
        assert curl(f"{server.url}/1", "-u", "alice:x").returncode == CURLE_LOGIN_DENIED
        server.journal.assert_command("USER", "alice", count=2)


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_curl_bearer_token(mechanism: str) -> None:
    # Offered alone: curl 7.88 takes OAUTHBEARER whenever it is listed, even with AUTH=XOAUTH2.
    with POP3Server(mechanisms=[mechanism], apop=False) as server:
        server.add_user("alice", "wonderland", [MESSAGE], token=TOKEN)
        good = curl(f"{server.url}/1", "-u", "alice:", "--oauth2-bearer", TOKEN)
        assert good.returncode == 0, good.stderr
        assert good.stdout == MESSAGE
        bad = curl(f"{server.url}/1", "-u", "alice:", "--oauth2-bearer", "expired")
        assert bad.returncode == CURLE_LOGIN_DENIED, bad.stderr
        server.journal.assert_command("AUTH", mechanism, count=2)


def test_unknown_user_never_logs_in_even_with_the_stand_in_secret(client: RawClient) -> None:
    # Unknown users are checked against a stand-in secret (constant-time, no user probing);
    # typing that secret must not log anyone in.
    client.send(b"USER nobody\r\nPASS \x00unknown\r\n")
    client.line()
    assert client.line().startswith(b"-ERR [AUTH]")
    challenge = base64.b64decode(client.cmd("AUTH CRAM-MD5")[2:])
    digest = hmac.new(b"\x00unknown", challenge, hashlib.md5).hexdigest()
    assert client.cmd(b64(f"nobody {digest}".encode())).startswith(b"-ERR [AUTH]")
    assert client.cmd("AUTH PLAIN " + b64(b"\0nobody\0\0unknown")).startswith(b"-ERR")
