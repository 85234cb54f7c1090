"""Tests of uidl_poller.py: exactly-once delivery across runs, renumbering and restarts."""

from __future__ import annotations

import poplib

import pytest
from uidl_poller import PollError, poll

pytestmark = pytest.mark.pop3(users={"bob": "pw"}, strict=True)


def message(n: int) -> bytes:
    return b"Subject: note %d\r\n\r\nbody %d\r\n" % (n, n)


class Inbox:
    """Collects what the poller delivers."""

    def __init__(self) -> None:
        self.got: dict[str, bytes] = {}

    def __call__(self, uid: str, data: bytes) -> None:
        assert uid not in self.got, f"{uid} delivered twice"
        self.got[uid] = data


def run(server, state, inbox):
    return poll(server.host, server.port, "bob", "pw", state, inbox)


def test_each_message_is_delivered_once(pop3_server, tmp_path):
    mail = pop3_server.mailbox("bob")
    mail.add(message(1), message(2), message(3))
    inbox = Inbox()
    state = tmp_path / "state.json"

    assert run(pop3_server, state, inbox) == list(mail.uids)
    assert run(pop3_server, state, inbox) == []
    mail.add(message(4))
    assert run(pop3_server, state, inbox) == [mail.uids[3]]

    assert sorted(inbox.got.values()) == sorted(
        m.replace(b"\r\n", b"\n") for m in map(message, (1, 2, 3, 4))
    )
    journal = pop3_server.journal
    assert journal.count("RETR", session=1) == 3
    journal.assert_command("RETR", session=2, count=0)  # nothing new: no RETR at all
    journal.assert_command_once("RETR", 4, session=3)
    assert len(mail.messages) == 4  # mail stays on the server


def test_renumbering_after_deletes_by_another_client(pop3_server, tmp_path):
    mail = pop3_server.mailbox("bob")
    mail.add(message(1), message(2), message(3))
    inbox = Inbox()
    state = tmp_path / "state.json"
    run(pop3_server, state, inbox)

    other = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)  # e.g. a phone
    other.user("bob")
    other.pass_("pw")
    other.dele(1)
    other.quit()
    mail.add(message(4))

    assert run(pop3_server, state, inbox) == [mail.uids[-1]]
    pop3_server.journal.assert_command_once("RETR", 3, session=3)  # message 4 is now number 3
    assert len(inbox.got) == 4


def test_a_crash_mid_run_redelivers_nothing_already_saved(pop3_server, tmp_path):
    pop3_server.mailbox("bob").add(message(1), message(2), message(3))
    state = tmp_path / "state.json"
    inbox = Inbox()
    crashed = Inbox()

    def crash_on_second(uid: str, data: bytes) -> None:
        if crashed.got:
            raise KeyboardInterrupt
        crashed(uid, data)

    with pytest.raises(KeyboardInterrupt):
        run(pop3_server, state, crash_on_second)
    assert run(pop3_server, state, inbox) == list(pop3_server.mailbox("bob").uids[1:])
    assert not set(inbox.got) & set(crashed.got)


@pytest.mark.pop3(personality="rfc1939", strict=False)  # UIDL is optional in RFC 1939
def test_a_server_without_uidl_is_reported(pop3_server, tmp_path):
    with pytest.raises(PollError, match="does not support UIDL"):
        run(pop3_server, tmp_path / "state.json", Inbox())
