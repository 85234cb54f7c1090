"""Authentication that neither leaks which users exist nor invites brute force: the same
work for every user, an optional delay and a limit on failed logins, ASCII-only verbs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import poplib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import RawClient, connect
from pop3mock import ClientViolationError, ConfigurationError, Mailbox, POP3Server, ServerConfig
from pop3mock.protocol import _auth as auth_module
from pop3mock.protocol._session import Response, Session, State
from test_cli import TIMEOUT, Served

TIMESTAMP = "<1.2@pop3mock.test>"


def session(config: ServerConfig | None = None, *, logged_in: bool = False) -> Session:
    users = {"alice": Mailbox("alice", "pw", token="tok")}
    sess = Session(config or ServerConfig(), users, timestamp=TIMESTAMP)
    if logged_in:
        sess.handle(b"USER alice")
        assert sess.handle(b"PASS pw").ok
    return sess


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the digest and comparison calls of the auth module."""
    counts = {"apop_digest": 0, "compare_digest": 0}

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            counts[name] += 1
            return function(*args)

        return wrapper

    monkeypatch.setattr(
        auth_module, "apop_digest", counting("apop_digest", auth_module.apop_digest)
    )
    monkeypatch.setattr(
        auth_module.hmac, "compare_digest", counting("compare_digest", hmac.compare_digest)
    )
    return counts


# -- the same work for every user -----------------------------------------------------------


def test_apop_computes_and_compares_a_digest_for_unknown_users(calls: dict[str, int]) -> None:
    wrong = "0" * 32
    assert not session().handle(f"APOP alice {wrong}".encode()).ok
    known = dict(calls)
    assert not session().handle(f"APOP nobody {wrong}".encode()).ok
    unknown = {name: calls[name] - known[name] for name in calls}
    assert known == unknown == {"apop_digest": 1, "compare_digest": 1}


@pytest.mark.parametrize(
    ("mechanism", "message"),
    [
        ("PLAIN", b"\0{user}\0guess"),
        ("XOAUTH2", b"user={user}\x01auth=Bearer guess\x01\x01"),
        ("OAUTHBEARER", b"n,a={user},\x01auth=Bearer guess\x01\x01"),
    ],
)
def test_sasl_compares_for_unknown_users_as_for_known_ones(
    calls: dict[str, int], mechanism: str, message: bytes
) -> None:
    counts = []
    for user in ("alice", "nobody"):
        before = calls["compare_digest"]
        line = message.replace(b"{user}", user.encode())
        sess = session()
        reply = sess.handle(f"AUTH {mechanism} ".encode() + base64.b64encode(line))
        if reply.status == "+":  # the bearer mechanisms' JSON error challenge
            reply = sess.handle(b"")
        assert not reply.ok
        counts.append(calls["compare_digest"] - before)
    assert counts[0] == counts[1] >= 1


def test_pass_compares_for_unknown_users_as_for_known_ones(calls: dict[str, int]) -> None:
    counts = []
    for user in ("alice", "nobody"):
        before = calls["compare_digest"]
        sess = session()
        sess.handle(f"USER {user}".encode())
        assert not sess.handle(b"PASS guess").ok
        counts.append(calls["compare_digest"] - before)
    assert counts == [1, 1]


# -- failure delay and limit, sans-IO ---------------------------------------------------------


def _failures(sess: Session) -> Iterator[Response]:
    """Failed logins of every kind, over and over."""
    digest = hashlib.md5(f"{TIMESTAMP}wrong".encode()).hexdigest()
    while True:
        sess.handle(b"USER alice")
        yield sess.handle(b"PASS wrong")
        yield sess.handle(f"APOP alice {digest}".encode())
        yield sess.handle(b"AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong"))


def test_each_failed_login_asks_for_a_doubling_pause_up_to_the_maximum() -> None:
    config = ServerConfig(auth_failure_delay=0.25, auth_failure_delay_max=1.5)
    replies = _failures(session(config))
    pauses = [next(replies).pause for _ in range(6)]
    assert pauses == [0.25, 0.5, 1.0, 1.5, 1.5, 1.5]


def test_no_pause_by_default_nor_for_other_errors_or_a_login() -> None:
    replies = _failures(session())
    assert [next(replies).pause for _ in range(5)] == [0.0] * 5
    sess = session(ServerConfig(auth_failure_delay=1.0))
    assert sess.handle(b"PASS pw").pause == 0.0  # no USER first: a bad command, not a login
    assert sess.handle(b"XYZZY").pause == 0.0
    sess.handle(b"USER alice")
    assert sess.handle(b"PASS pw").pause == 0.0


def test_the_limit_closes_at_the_nth_failure_of_any_kind() -> None:
    config = ServerConfig(max_auth_failures=3, auth_failure_delay=0.5)
    replies = _failures(session(config))
    first, second, third = next(replies), next(replies), next(replies)
    assert not first.close and not second.close
    assert third.close and third.status == "-ERR" and third.code == "AUTH"
    assert third.text == "Authentication failed, too many times: closing."
    assert third.pause == 2.0  # the last failure waits too


def test_the_limit_counts_per_connection_and_a_login_still_works_before_it() -> None:
    config = ServerConfig(max_auth_failures=2)
    sess = session(config)
    sess.handle(b"USER alice")
    assert not sess.handle(b"PASS wrong").close
    sess.handle(b"USER alice")
    assert sess.handle(b"PASS pw").ok
    assert sess.state is State.TRANSACTION
    assert not session(config).handle(b"AUTH PLAIN " + base64.b64encode(b"\0x\0y")).close


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auth_failure_delay": -1}, "auth_failure_delay must be a number of seconds"),
        ({"auth_failure_delay": True}, "auth_failure_delay must be a number of seconds"),
        ({"auth_failure_delay": 1e10}, "from 0 to 3600"),
        ({"auth_failure_delay": 20}, "longer than auth_failure_delay_max (15 s)"),
        ({"auth_failure_delay_max": None}, "auth_failure_delay_max must be a number"),
        ({"max_auth_failures": 0}, "max_auth_failures must be a whole number >= 1"),
    ],
)
def test_bad_limits_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        POP3Server(**options)
    assert message in str(info.value)


# -- the server carries out the pause --------------------------------------------------------


@pytest.mark.slow
def test_the_server_holds_the_failure_reply_for_the_pause_and_stop_ends_it() -> None:
    # A pause of an hour: the -ERR cannot arrive before stop(), which wakes the wait at once.
    # In a loop, as every shutdown path is: stop() may come at any point of the pause.
    options = {"auth_failure_delay": 3600, "auth_failure_delay_max": 3600}
    for _ in range(100):
        server = POP3Server(users={"alice": "pw"}, **options)
        with server, connect(server, timeout=TIMEOUT) as client:
            client.send(b"USER alice\r\nPASS wrong\r\n")
            assert client.line().startswith(b"+OK")
            server.journal.wait_for("PASS")
            server.stop()
            assert client.read_all() == b""  # closed, and the -ERR never sent
        assert server.journal.sessions[0].end_reason == "server stopped"
        server.check()


def test_poplib_sees_the_failures_then_the_close() -> None:
    options = {"auth_failure_delay": 0.001, "max_auth_failures": 2}
    with POP3Server(users={"alice": "pw"}, **options) as server:
        client = poplib.POP3(*server.address, timeout=TIMEOUT)
        client.user("alice")
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Authentication failed\."):
            client.pass_("wrong")
        client.user("alice")
        with pytest.raises(poplib.error_proto, match="too many times: closing"):
            client.pass_("wrong again")
        assert client.sock.recv(10) == b""
        client.close()
        server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "closed by server"
    server.check()


@pytest.mark.slow
def test_marker_options_reach_the_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import poplib
        import pytest

        @pytest.mark.pop3(max_auth_failures=1, auth_failure_delay=0.001)
        def test_one_failure_closes(pop3_server):
            client = poplib.POP3(*pop3_server.address)
            client.user("user")
            with pytest.raises(poplib.error_proto, match="closing"):
                client.pass_("wrong")
            client.close()
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


# -- pop3mock serve: on by default, flags and TOML ------------------------------------------


def _failed_logins(port: int, count: int) -> list[bytes]:
    with RawClient("127.0.0.1", port, timeout=TIMEOUT).greet() as client:
        out = []
        for _ in range(count):
            client.send(b"USER user\r\nPASS wrong\r\n")
            client.line()
            out.append(client.line())
        out.append(client.read_all())
    return out


@pytest.mark.slow
def test_serve_closes_after_the_failures_the_flag_allows() -> None:
    with Served("--max-auth-failures", "2", "--auth-failure-delay", "0") as served:
        replies = _failed_logins(served.port(), 2)
        served.stop()
    assert replies[0] == b"-ERR [AUTH] Authentication failed.\r\n"
    assert replies[1].startswith(b"-ERR [AUTH] Authentication failed, too many times")
    assert replies[2] == b""


def test_serve_limits_failed_logins_by_default_and_toml_can_change_it(tmp_path: Path) -> None:
    from pop3mock.cli._arguments import AUTH_FAILURE_DELAY, MAX_AUTH_FAILURES, build_parser
    from pop3mock.cli._build import new_server as _server
    from pop3mock.cli._settings import read_settings as _settings

    defaults, _ = _server(_settings(build_parser().parse_args(["serve"])), None)
    assert defaults.config.auth_failure_delay == AUTH_FAILURE_DELAY > 0
    assert defaults.config.max_auth_failures == MAX_AUTH_FAILURES
    config = tmp_path / "pop3mock.toml"
    config.write_text(
        "auth_failure_delay = 2\nauth_failure_delay_max = 30\nmax_auth_failures = 0\n"
    )
    args = build_parser().parse_args(["serve", "--config", str(config)])
    server, _ = _server(_settings(args), None)
    assert server.config.auth_failure_delay == 2
    assert server.config.auth_failure_delay_max == 30
    assert server.config.max_auth_failures is None  # 0: no limit
    off = build_parser().parse_args(["serve", "--auth-failure-delay", "0"])
    assert _server(_settings(off), None)[0].config.auth_failure_delay is None


# -- verbs are ASCII ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["u\u017fer alice", "PA\u017fS pw", "l\u0131st", "\uff35SER alice"]
)
def test_a_verb_that_upper_cases_to_a_command_is_unknown(line: str) -> None:
    sess = session()
    if line.startswith("PA"):
        sess.handle(b"USER alice")
    reply = sess.handle(line.encode())
    assert reply.status == "-ERR" and reply.text == "Unknown command."
    assert reply.violation is not None and reply.violation.startswith("unknown command")
    assert sess.state is State.AUTHORIZATION and sess.pending_user is None


#: Commands the core knows, and non-ASCII letters whose str.upper() is ASCII (long s,
#: dotless i), or is not (Kelvin sign, fullwidth letters, any other character).
_COMMANDS = ["USER", "PASS", "APOP", "AUTH", "STLS", "UTF8", "CAPA", "QUIT", "NOOP", "STAT",
             "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL", "LAST", "LANG"]  # fmt: skip
_LOOKALIKES = st.sampled_from(["\u017f", "\u0131", "\u212a", "\uff33", "\u0130"]) | st.characters(
    min_codepoint=0x80, blacklist_categories=("Cs",)
)


@st.composite
def _non_ascii_verbs(draw: st.DrawFn) -> str:
    """A command with one letter swapped for a non-ASCII character, or any non-ASCII verb."""
    if draw(st.booleans()):
        verb = draw(st.sampled_from(_COMMANDS))
        verb = draw(st.sampled_from([verb, verb.lower()]))
        at = draw(st.integers(0, len(verb) - 1))
        return verb[:at] + draw(_LOOKALIKES) + verb[at + 1 :]
    text = st.text(st.characters(blacklist_characters=" \r\n", blacklist_categories=("Cs",)))
    return draw(text.filter(lambda verb: not verb.isascii()))


@pytest.mark.slow
@settings(max_examples=300)
@given(verb=_non_ascii_verbs(), rest=st.text(max_size=30), logged_in=st.booleans())
def test_a_line_whose_verb_is_not_ascii_is_never_dispatched(
    verb: str, rest: str, logged_in: bool
) -> None:
    sess = session(logged_in=logged_in)
    if verb.upper().startswith("PA"):
        sess.handle(b"USER alice")  # a PASS look-alike must not log in either
    before = (sess.state, sess.user, sess.view and sess.view.stat())
    line = f"{verb} {rest or 'pw'}".encode()
    reply = sess.handle(line.replace(b"\r", b"").replace(b"\n", b""))
    assert reply.status == "-ERR"
    assert reply.violation is not None
    assert reply.violation.startswith(("unknown command", "command line longer"))
    assert (sess.state, sess.user, sess.view and sess.view.stat()) == before
    assert not sess.closed


def test_strict_mode_reports_a_non_ascii_verb() -> None:
    with POP3Server(users={"alice": "pw"}, strict=True) as server:
        with connect(server, timeout=TIMEOUT) as client:
            client.send("u\u017fer alice\r\nQUIT\r\n".encode())
            assert client.line() == b"-ERR Unknown command.\r\n"
            assert client.line().startswith(b"+OK")
        server.journal.wait_for(sessions_ended=1)
    with pytest.raises(ClientViolationError, match="unknown command"):
        server.check()
