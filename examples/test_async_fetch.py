"""Tests of async_fetch.py: an asyncio client against the threaded pop3mock server."""

from __future__ import annotations

import asyncio

import pytest
from async_fetch import POP3Error, fetch_all, fetch_many

ALICE = [b"Subject: a%d\r\n\r\n..dot-stuffed %d\r\n" % (n, n) for n in range(3)]
BOB = [b"Subject: b\r\n\r\nhi bob\r\n"]

pytestmark = pytest.mark.pop3(
    users={"alice": "pw-a", "bob": "pw-b"}, messages={"alice": ALICE, "bob": BOB}, strict=True
)


def test_fetches_several_accounts_concurrently(pop3_server):
    accounts = [("alice", "pw-a"), ("bob", "pw-b")]

    got = asyncio.run(fetch_many(pop3_server.host, pop3_server.port, accounts))

    assert got == {"alice": ALICE, "bob": BOB}
    assert len(pop3_server.journal.sessions) == 2
    pop3_server.journal.assert_command("RETR", user="alice", count=3)
    pop3_server.journal.assert_command("DELE", count=0)


def test_a_wrong_password_is_an_error(pop3_server):
    with pytest.raises(POP3Error, match=r"-ERR \[AUTH\]"):
        asyncio.run(fetch_all(pop3_server.host, pop3_server.port, "bob", "nope"))
    pop3_server.journal.assert_commands(["USER bob", "PASS", "QUIT"])  # it still says goodbye


@pytest.mark.pop3(tls="implicit")
def test_over_implicit_tls(pop3_server, pop3_client_ssl_context):
    got = asyncio.run(
        fetch_all(
            pop3_server.host,
            pop3_server.tls_port,
            "bob",
            "pw-b",
            ssl_context=pop3_client_ssl_context,
        )
    )
    assert got == BOB
    assert pop3_server.journal.sessions[0].tls
