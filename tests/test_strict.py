"""Strict-client mode: the server reports what the client under test did wrong."""

from __future__ import annotations

import poplib
from collections.abc import Callable

import pytest

from helpers import RawClient
from pop3mock import ClientViolationError, POP3Server

NO_PIPELINING = {"CAPA", "USER", "UIDL", "TOP", "RESP-CODES"}


def login(raw: RawClient) -> None:
    assert raw.line().startswith(b"+OK")
    assert raw.cmd("USER alice").startswith(b"+OK")
    assert raw.cmd("PASS pw").startswith(b"+OK")


def wrong_state(raw: RawClient) -> None:
    raw.line()
    raw.cmd("RETR 1")


def unknown_command(raw: RawClient) -> None:
    raw.line()
    raw.cmd("XYZZY")


def bad_syntax(raw: RawClient) -> None:
    login(raw)
    raw.cmd("RETR one")


def over_long_line(raw: RawClient) -> None:
    raw.line()
    raw.cmd("NOOP " + "x" * 300)


def bare_lf(raw: RawClient) -> None:
    raw.line()
    raw.send(b"CAPA\n")
    raw.multiline()


def pipelined(raw: RawClient) -> None:
    raw.line()
    raw.send(b"USER alice\r\nPASS pw\r\n")
    raw.line()
    raw.line()


def no_quit(raw: RawClient) -> None:
    login(raw)


@pytest.mark.parametrize(
    ("client", "found", "options"),
    [
        (wrong_state, "command 1 'RETR 1': RETR sent before login", {}),
        (unknown_command, "command 1 'XYZZY': unknown command 'XYZZY'", {}),
        (bad_syntax, "command 3 'RETR one': RETR with a non-numeric argument", {}),
        (over_long_line, "command 1 'NOOP x", {}),
        (bare_lf, "command 1 'CAPA': command line ended with a bare LF or CR, not CRLF", {}),
        (
            pipelined,
            "before any command: commands pipelined although PIPELINING is not advertised",
            {"capabilities": NO_PIPELINING},
        ),
        (no_quit, "after command 2: connection closed without QUIT", {}),
    ],
)
def test_each_violation_fails_check_in_strict_mode(
    client: Callable[[RawClient], None], found: str, options: dict[str, object]
) -> None:
    with POP3Server(users={"alice": "pw"}, strict=True, **options) as server:
        with RawClient(server.host, server.port) as raw:
            client(raw)
        server.journal.wait_for(sessions_ended=1)
    with pytest.raises(ClientViolationError) as info:
        server.check()
    assert f"session 1, {found}" in str(info.value)


def test_plaintext_login_before_stls_is_a_violation() -> None:
    with POP3Server(users={"alice": "pw"}, strict=True, stls=True, require_tls=True) as server:
        with RawClient(server.host, server.port) as raw:
            raw.line()
            assert raw.cmd("USER alice").startswith(b"-ERR")
            raw.cmd("QUIT")
        server.journal.wait_for(sessions_ended=1)
    with pytest.raises(ClientViolationError, match="USER before STLS where TLS is required"):
        server.check()


def test_the_report_reads_well() -> None:
    with POP3Server(users={"alice": "pw"}, strict=True) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        with pytest.raises(poplib.error_proto):
            client.retr(1)
        client.user("alice")
        client.pass_("pw")
        client.close()
        server.journal.wait_for(sessions_ended=1)
    with pytest.raises(ClientViolationError) as info:
        server.check()
    assert str(info.value) == (
        "the client broke the POP3 protocol (strict mode), 2 violations:\n"
        "  session 1, command 1 'RETR 1': RETR sent before login\n"
        "      C: RETR 1\n"
        "      S: -ERR RETR is not allowed before login.\n"
        "  session 1, after command 3: connection closed without QUIT"
    )


def test_violations_are_recorded_but_not_raised_without_strict() -> None:
    with POP3Server(users={"alice": "pw"}) as server:
        with RawClient(server.host, server.port) as raw:
            wrong_state(raw)
        server.journal.wait_for(sessions_ended=1)
    server.check()
    assert [str(v) for v in server.journal.violations] == [
        "session 1, command 1 'RETR 1': RETR sent before login",
        "session 1, after command 1: connection closed without QUIT",
    ]


def test_a_well_behaved_client_passes_strict_mode() -> None:
    with POP3Server(users={"alice": "pw"}, strict=True) as server:
        server.mailbox("alice").add(b"Subject: a\r\n\r\nhello\r\n")
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.capa()
        client.user("alice")
        client.pass_("pw")
        client.uidl()
        client.retr(1)
        client.dele(1)
        client.quit()
        server.journal.wait_for(sessions_ended=1)
    server.check()
    assert server.journal.violations == []


def test_a_server_stopped_under_an_open_connection_is_no_violation() -> None:
    with POP3Server(users={"alice": "pw"}, strict=True) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("pw")
        server.journal.wait_for("PASS")
    client.close()
    server.check()
    assert server.journal.sessions[0].end_reason == "server stopped"


@pytest.mark.slow
def test_strict_for_the_whole_run_fails_the_offending_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import poplib

        def test_forgets_quit(pop3_server):
            client = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)
            client.user("user")
            client.pass_("password")
            client.close()
            pop3_server.journal.wait_for(sessions_ended=1)

        def test_says_goodbye(pop3_server):
            poplib.POP3(pop3_server.host, pop3_server.port, timeout=10).quit()
        """
    )
    quiet = ("-p", "no:faker", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    pytester.runpytest(*quiet).assert_outcomes(passed=2)
    result = pytester.runpytest(*quiet, "--pop3-strict")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgets_quit*",
            "E   pop3mock.errors.ClientViolationError: the client broke the POP3 protocol"
            " (strict mode), 1 violation:",
            "      session 1, after command 2: connection closed without QUIT",
        ]
    )
