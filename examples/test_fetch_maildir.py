"""Tests of fetch_maildir.py against a real POP3 server (the pop3_server fixture)."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from fetch_maildir import FetchError, fetch_to_maildir, main

MESSAGES = [
    b"From: a@example.org\r\nSubject: first\r\n\r\nHello\r\n",
    b"From: b@example.org\r\nSubject: second\r\n\r\n.a line starting with a dot\r\n",
    b"From: c@example.org\r\nSubject: third\r\n\r\nBye\r\n",
]

# A well-behaved client: the server fails the test if it breaks the protocol.
pytestmark = pytest.mark.pop3(users={"alice": "s3cret"}, messages=MESSAGES, strict=True)


def fetch(server, maildir: Path) -> int:
    return fetch_to_maildir(
        server.host, server.port, "alice", "s3cret", str(maildir), retry_delay=0
    )


def saved(maildir: Path) -> list[bytes]:
    box = mailbox.Maildir(str(maildir), create=False)
    return sorted(box.get_bytes(key) for key in box.iterkeys())


def test_moves_every_message(pop3_server, tmp_path):
    assert fetch(pop3_server, tmp_path / "mail") == 3

    assert saved(tmp_path / "mail") == sorted(m.replace(b"\r\n", b"\n") for m in MESSAGES)
    assert pop3_server.mailbox("alice").messages == ()
    pop3_server.journal.assert_commands(["RETR 1", "DELE 1", "RETR 2", "DELE 2"])
    pop3_server.journal.assert_command("QUIT", count=1)


def test_retries_a_temporary_failure(pop3_server, tmp_path):
    pop3_server.faults.on("RETR", 2).once().error("[SYS/TEMP] try later")

    assert fetch(pop3_server, tmp_path / "mail") == 3

    pop3_server.journal.assert_command("RETR", 2, count=2)
    pop3_server.journal.assert_command("DELE", 2, count=1)
    assert len(saved(tmp_path / "mail")) == 3


def test_gives_up_but_keeps_what_it_saved(pop3_server, tmp_path):
    pop3_server.faults.on("RETR", 2).error("[SYS/TEMP] storage offline")

    with pytest.raises(FetchError, match="stopped after 1 messages") as info:
        fetch(pop3_server, tmp_path / "mail")

    assert info.value.moved == 1
    pop3_server.journal.assert_command("RETR", 2, count=4)  # the first try and 3 retries
    assert [m.data for m in pop3_server.mailbox("alice").messages] == MESSAGES[1:]
    assert len(saved(tmp_path / "mail")) == 1


def test_a_permanent_error_is_not_retried(pop3_server, tmp_path):
    pop3_server.faults.on("RETR", 1).error("[IN-USE] go away")

    with pytest.raises(FetchError):
        fetch(pop3_server, tmp_path / "mail")

    pop3_server.journal.assert_command("RETR", 1, count=1)


def test_a_dropped_connection_deletes_nothing(pop3_server, tmp_path):
    pop3_server.faults.on("RETR", 2).disconnect(after_bytes=20)

    with pytest.raises(FetchError, match="connection lost after 1 messages"):
        fetch(pop3_server, tmp_path / "mail")

    # DELE 1 was sent but never committed: no QUIT, so the server still has everything.
    pop3_server.journal.assert_command("DELE", 1)
    pop3_server.journal.assert_command("QUIT", count=0)
    assert len(pop3_server.mailbox("alice").messages) == 3


def test_command_line(pop3_server, tmp_path, capsys):
    args = [pop3_server.host, str(pop3_server.port), "alice", "s3cret", str(tmp_path / "m")]
    assert main(args) == 0
    assert capsys.readouterr().out == f"3 messages moved to {tmp_path / 'm'}\n"
