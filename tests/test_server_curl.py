"""End to end with curl, a real POP3 client written in C."""

from __future__ import annotations

import pytest

from helpers import curl
from pop3mock import POP3Server

DOTS = b"Subject: dots\r\n\r\n.leading\r\n.\r\n..two\r\n . space\r\n"
PLAIN = b"Subject: plain\r\n\r\nhello\r\n"


pytestmark = pytest.mark.server(
    {"alice": "wonderland"},
    maildrops={"alice": [PLAIN, DOTS, b"Subject: nofinal\r\n\r\nno newline"]},
)


def test_retr_byte_for_byte(server: POP3Server) -> None:
    for number, message in enumerate(server.mailbox("alice").messages, 1):
        result = curl(f"{server.url}/{number}", "-u", "alice:wonderland")
        assert result.returncode == 0, result.stderr
        assert result.stdout == message.data
    server.journal.assert_command("RETR", 2)
    server.journal.assert_command("QUIT", count=3)


def test_list(server: POP3Server) -> None:
    result = curl(f"{server.url}/", "-u", "alice:wonderland")
    assert result.returncode == 0, result.stderr
    sizes = [m.size for m in server.mailbox("alice").messages]
    assert result.stdout == b"".join(b"%d %d\r\n" % (i, s) for i, s in enumerate(sizes, 1))


def test_uidl(server: POP3Server) -> None:
    result = curl(f"{server.url}/", "-u", "alice:wonderland", "-X", "UIDL")
    assert result.returncode == 0, result.stderr
    uids = server.mailbox("alice").uids
    assert result.stdout == b"".join(b"%d %s\r\n" % (i, u.encode()) for i, u in enumerate(uids, 1))


def test_wrong_password_is_login_denied(server: POP3Server) -> None:
    result = curl(f"{server.url}/1", "-u", "alice:nope")
    assert result.returncode == 67  # CURLE_LOGIN_DENIED


def test_curl_uses_sasl_from_capa(server: POP3Server) -> None:
    assert curl(f"{server.url}/1", "-u", "alice:wonderland").returncode == 0
    # curl prefers CRAM-MD5 among the mechanisms pop3mock lists.
    server.journal.assert_command("AUTH", "CRAM-MD5")
