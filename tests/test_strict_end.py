"""Strict mode judges how a session ended by what the client did, never by thread timing.

A client that closed before `stop()` came closed without QUIT, however quickly `stop()`
follows; a connection that never sent a command (a wait-for-port probe, a TLS client that
rejects the certificate) is not held to QUIT at all.
"""

from __future__ import annotations

import poplib
import socket
import ssl

import pytest

from helpers import RawClient, connect
from pop3mock import ClientViolationError, POP3Server

ROUNDS = 200


def after_user(server: POP3Server) -> RawClient:
    """A raw client that has read the greeting and USER's reply."""
    client = connect(server, timeout=5)
    assert client.cmd("USER u").startswith(b"+OK")
    return client


@pytest.mark.slow
def test_a_client_that_closed_before_stop_is_caught_every_time() -> None:
    caught = 0
    for _ in range(ROUNDS):
        server = POP3Server(users={"u": "p"}, strict=True)
        server.start()
        try:
            client = poplib.POP3(server.host, server.port, timeout=5)
            client.user("u")
            client.pass_("p")
            client.close()  # no QUIT
        finally:
            server.stop()
        with pytest.raises(ClientViolationError, match="connection closed without QUIT"):
            server.check()
        caught += 1
        assert server.journal.sessions[0].end_reason == "client closed"
    assert caught == ROUNDS


@pytest.mark.slow
def test_a_client_that_reset_before_stop_is_caught_every_time() -> None:
    for _ in range(ROUNDS):
        server = POP3Server(users={"u": "p"}, strict=True)
        server.start()
        try:
            client = after_user(server)
            client.reset()  # an RST, no QUIT (poplib's close() would send a FIN first)
        finally:
            server.stop()
        with pytest.raises(ClientViolationError, match="connection closed without QUIT"):
            server.check()
        assert server.journal.sessions[0].end_reason == "client reset"


@pytest.mark.slow
def test_a_session_still_open_at_stop_is_not_a_violation() -> None:
    for _ in range(ROUNDS):
        server = POP3Server(users={"u": "p"}, strict=True)
        server.start()
        client = poplib.POP3(server.host, server.port, timeout=5)
        try:
            client.user("u")
            client.pass_("p")
        finally:
            server.stop()
            client.close()
        server.check()
        assert server.journal.sessions[0].end_reason == "server stopped"


def test_a_probe_that_sends_nothing_is_not_held_to_quit() -> None:
    with POP3Server(users={"u": "p"}, strict=True) as server:
        for _ in range(ROUNDS // 4):
            socket.create_connection(server.address).close()
        with socket.create_connection(server.address) as sock:
            sock.recv(100)  # the greeting, then a close
        server.journal.wait_for(sessions_ended=ROUNDS // 4 + 1)
    server.check()
    assert {s.end_reason for s in server.journal.sessions} <= {"client closed", "client reset"}
    assert server.journal.violations == []


@pytest.mark.slow
def test_a_probe_closing_right_before_stop_is_not_held_to_quit() -> None:
    for _ in range(ROUNDS):
        server = POP3Server(users={"u": "p"}, strict=True)
        server.start()
        try:
            socket.create_connection(server.address).close()
        finally:
            server.stop()
        server.check()


def test_a_session_that_sent_a_command_is_held_to_quit() -> None:
    with POP3Server(users={"u": "p"}, strict=True) as server:
        with socket.create_connection(server.address) as sock:
            sock.recv(100)
            sock.sendall(b"CAPA\r\n")
            sock.recv(1000)
        server.journal.wait_for(sessions_ended=1)
    with pytest.raises(ClientViolationError, match="after command 1: connection closed"):
        server.check()


def test_a_tls_client_that_rejects_the_certificate_is_not_held_to_quit() -> None:
    # RFC 2595 section 2.4: a client that does not trust the certificate may just close.
    with POP3Server(users={"u": "p"}, strict=True, implicit_tls=True) as server:
        assert server.tls_port is not None
        untrusting = ssl.create_default_context()  # does not know pop3mock's CA
        for _ in range(5):
            with (
                socket.create_connection((server.host, server.tls_port)) as raw,
                pytest.raises(ssl.SSLCertVerificationError),
            ):
                untrusting.wrap_socket(raw, server_hostname="localhost")
        server.journal.wait_for(sessions_ended=5)
    server.check()


@pytest.mark.slow
def test_a_client_that_sent_quit_and_left_at_once_is_not_a_violation() -> None:
    # The QUIT reached the server; the client did not wait for its +OK (allowed).
    for _ in range(ROUNDS):
        server = POP3Server(users={"u": "p"}, strict=True)
        server.start()
        try:
            client = after_user(server)
            client.send(b"QUIT\r\n")
            client.close()
        finally:
            server.stop()
        server.check()
        assert server.journal.sessions[0].end_reason in ("quit", "server stopped")
