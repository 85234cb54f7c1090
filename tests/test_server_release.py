"""A server nobody holds any more is freed at once, by reference counting: a test suite
that starts a server per test does not leave them to the garbage collector, whose full
passes over a large suite's objects cost far more than the servers themselves."""

from __future__ import annotations

import gc
import poplib
import weakref

from pop3mock import POP3Server


def test_a_stopped_server_is_freed_without_the_garbage_collector() -> None:
    gc.collect()
    gc.disable()
    try:
        server = POP3Server(users={"user": "pw"})
        server.mailbox("user").add(b"Subject: hi\r\n\r\nhello\r\n")
        with server:
            client = poplib.POP3(server.host, server.port, timeout=10)
            client.user("user")
            client.pass_("pw")
            client.retr(1)
            client.quit()
            server.journal.wait_for(sessions_ended=1)
        server.check()
        alive = weakref.ref(server)
        del server
        assert alive() is None
    finally:
        gc.enable()


def test_a_journal_listener_error_still_reaches_its_server() -> None:
    def broken(*_: object) -> None:
        raise OSError("disk full")

    with POP3Server(users={"user": "pw"}) as server:
        server.journal.subscribe(broken)
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.quit()
        server.journal.wait_for(sessions_ended=1)
    assert [str(error) for error in server.errors][:1] == ["disk full"]
