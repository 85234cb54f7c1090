"""Every setting is checked, the same way in Python, the marker, the TOML file and the
command line, before anything is bound or written; errors name the fix."""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import poplib
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pop3mock import POP3Server
from pop3mock.checks import (
    MAX_DURATION,
    MAX_LAZY_MESSAGES,
    MIN_DURATION,
    duration,
    finite_number,
    probability,
    suggestion,
)
from pop3mock.cli._config_file import load_config, parse_config
from pop3mock.cli._main import build_parser
from pop3mock.errors import ConfigurationError
from pop3mock.fake._factory import lazy_fake_messages
from pop3mock.server.tls import client_context
from test_cli import Served, run
from test_cli_errors import serve_error

BAD_NUMBERS = [math.inf, -math.inf, math.nan, True, "1", None]


# -- one check per kind of value -------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_finite_number_refuses_what_is_not_one(value: object) -> None:
    assert not finite_number(value)


def test_the_kinds_of_values() -> None:
    assert finite_number(0) and finite_number(-2.5) and finite_number(10**30)
    assert probability(0) and probability(1) and probability(0.3)
    assert not probability(1.01) and not probability(-0.1) and not probability(math.nan)
    assert duration(MIN_DURATION) and duration(MAX_DURATION) and duration(30)
    assert not duration(0) and duration(0, zero=True)
    assert not duration(MIN_DURATION / 2) and not duration(1e-7)
    assert not duration(MAX_DURATION + 1) and not duration(1e10) and not duration(9.2e18)
    assert not any(duration(v) or duration(v, zero=True) for v in BAD_NUMBERS)


@pytest.mark.parametrize(
    ("typo", "name"),
    [
        ("max_line_lenght", "max_line_length"),
        ("idle_timout", "idle_timeout"),
        ("strcit", "strict"),
        ("fault_sed", "fault_seed"),
        ("user", "users"),
    ],
)
def test_pop3server_options_suggest_the_documented_name(typo: str, name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        POP3Server(**{typo: 1})
    assert str(info.value) == f"unknown POP3Server option {typo} (did you mean {name!r}?)"


def test_suggestions_come_from_the_given_names_only() -> None:
    assert suggestion("fakes", ["fake", "faults"]) == " (did you mean 'fake'?)"
    assert suggestion("zzz", ["fake"]) == ""
    # The line limit has one name: the former internal one is refused with a pointer to it.
    assert POP3Server(max_line_length=300).config.max_line_length == 300
    with pytest.raises(ConfigurationError, match="did you mean 'max_line_length'"):
        POP3Server(max_command_length=300)


# -- durations: a documented range, None is never ------------------------------------------


@pytest.mark.parametrize("value", [math.inf, math.nan, -1, 0, 1e-7, 1e10, 9.2e18, True])
def test_idle_timeout_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(ConfigurationError, match="idle_timeout must be a number of seconds from"):
        POP3Server(idle_timeout=value)


@pytest.mark.parametrize("value", [MIN_DURATION, MAX_DURATION, None])
def test_idle_timeout_edges_serve_plain_and_tls(value: float | None) -> None:
    # 1e10 s made every TLS connection fail with OverflowError: the largest accepted value
    # must serve both kinds of connection.
    with POP3Server(users={"u": "p"}, implicit_tls=True, idle_timeout=value) as server:
        if value != MIN_DURATION:  # a millisecond of silence is shorter than a login
            for client in (
                poplib.POP3(server.host, server.port, timeout=10),
                poplib.POP3_SSL(server.host, server.tls_port, context=client_context(), timeout=10),
            ):
                client.user("u")
                client.pass_("p")
                client.quit()
    server.check()


def test_fault_durations_and_probability_are_finite() -> None:
    server = POP3Server()
    for build in (
        lambda: server.faults.on("RETR").delay(math.inf),
        lambda: server.faults.on("RETR").delay(math.nan),
        lambda: server.faults.on("RETR").delay(1e10),
        lambda: server.faults.on("RETR").delay(1, math.inf),
        lambda: server.faults.on("RETR").dribble(interval=math.nan),
        lambda: server.faults.on("RETR").probability(math.nan),
        lambda: server.faults.on("RETR").probability(math.inf),
        lambda: server.faults.add_spec("RETR: delay inf"),
        lambda: server.faults.add_spec("RETR: delay nan"),
    ):
        with pytest.raises(ConfigurationError):
            build()
    assert server.faults.rules == []
    server.faults.on("RETR").delay(0)  # no delay at all is fine


# -- the bind error names the address --------------------------------------------------------


def test_a_busy_port_names_the_address_and_stays_an_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="cannot listen on") as info:
            POP3Server(port=port).start()
    assert info.value.errno == errno.EADDRINUSE
    assert f"cannot listen on 127.0.0.1:{port}: " in str(info.value)


# -- large generated maildrops -----------------------------------------------------------------


@pytest.mark.slow
def test_a_fake_count_over_the_limit_is_refused_with_the_limit() -> None:
    with pytest.raises(ConfigurationError, match=f"at most {MAX_LAZY_MESSAGES}"):
        lazy_fake_messages(10**8)
    with pytest.raises(ConfigurationError, match=f"from 0 to {MAX_LAZY_MESSAGES}"):
        parse_config({"fake": 10**8}, "c.toml")
    with pytest.raises(ConfigurationError, match=f"from 0 to {MAX_LAZY_MESSAGES}"):
        parse_config({"users": [{"name": "a", "password": "b", "fake": 10**8}]}, "c.toml")
    result = run("serve", "--fake", str(10**8))
    assert result.returncode == 2
    assert f"expected an integer from 0 to {MAX_LAZY_MESSAGES}, got" in result.stderr


# -- TOML ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e10", "1e-7", "-1"])
def test_toml_idle_timeout_out_of_range(text: str, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"idle_timeout = {text}\n")
    with pytest.raises(ConfigurationError, match=r"idle_timeout: expected 0 \(never\) or"):
        load_config(path)
    result = run("serve", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_toml_idle_timeout_edges(tmp_path: Path) -> None:
    for value in (0, MIN_DURATION, MAX_DURATION):
        assert parse_config({"idle_timeout": value}, "c.toml").values["idle_timeout"] == value


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape", ["a = " + "[" * 1200 + "]" * 1200, "a = " + "{b = " * 1200 + "}" * 1200]
)
def test_deeply_nested_toml_is_one_line_and_exit_2(shape: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(shape + "\n")
    with pytest.raises(ConfigurationError, match="nested too deeply"):
        load_config(path)
    result = run("serve", "--config", str(path))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"pop3mock: error: {path}: invalid TOML: arrays or tables nested too deeply for the parser\n"
    )


def test_toml_keys_suggest_the_documented_name() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown key 'user' \(did you mean 'users'\?\)"):
        parse_config({"user": []}, "c.toml")
    with pytest.raises(
        ConfigurationError, match=r"unknown key 'idle_timout' \(did you mean 'idle_timeout'\?\)"
    ):
        parse_config({"idle_timout": 3}, "c.toml")


# -- the command line --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("text", ["inf", "nan", "1e10", "1e-7", "-1"])
def test_idle_timeout_flag_out_of_range(text: str) -> None:
    result = run("serve", "--idle-timeout", text)
    assert result.returncode == 2
    assert "argument --idle-timeout: expected 0 (never) or a number of seconds from 0.001 to" in (
        result.stderr
    )


@pytest.mark.slow
def test_a_missing_maildrop_path_is_named_as_a_path() -> None:
    result = run("serve", "--messages", "./mial")
    assert result.returncode == 2
    assert result.stderr == "pop3mock: error: --messages: ./mial: no such file or folder\n"


def test_a_default_maildrop_no_user_takes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('fake = 5\n[[users]]\nname = "a"\npassword = "b"\nfake = 2\n')
    assert serve_error(capsys, "--config", str(path)) == (
        f"pop3mock: error: {path}: fake is the maildrop of users without one of their own; "
        "every user here has one, so it would change nothing\n"
    )
    err = serve_error(capsys, "--config", str(path), "--fake", "3")
    assert "error: --fake is the maildrop of users without one of their own" in err


# -- nothing on disk changes before the ports are bound ---------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("failure", ["busy port", "busy tls port", "bad fault", "bad ready file"])
def test_a_failed_serve_changes_nothing_on_disk(
    failure: str, busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "old.jsonl"
    journal.write_bytes(b'{"event": "from an earlier run"}\n')
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "notes.txt").write_bytes(b"mine")
    new_certs = tmp_path / "new-certs"
    before = _tree(tmp_path)
    args = ["--journal", str(journal), "--stls", "--tls-dir", str(certs)]
    extra = {
        "busy port": ["--port", str(busy_port)],  # (after serve_error's --port 0)
        "busy tls port": ["--tls-port", str(busy_port)],
        "bad fault": ["--fault", "PASS user=bobb: error x"],
        "bad ready file": ["--ready-file", str(tmp_path / "no" / "such" / "ready")],
    }[failure]
    for tls_dir in (certs, new_certs):
        args[-1] = str(tls_dir)
        serve_error(capsys, *args, *extra)
        assert _tree(tmp_path) == before
        assert not new_certs.exists()


@pytest.mark.slow
def test_the_journal_is_written_once_bound_with_what_happened_since(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(b"old\n")
    with Served("--journal", str(journal), "--quiet") as served:
        port = served.port()
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.user("user")
        client.pass_("password")
        client.quit()
        status, _, err = served.stop(signal.SIGINT)
    assert (status, err) == (0, "")
    text = journal.read_text()
    assert not text.startswith("old") and text.count('"session-end"') == 1


# -- files written safely ---------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.slow
def test_tls_dir_is_private_and_never_written_through_a_link(tmp_path: Path) -> None:
    made = tmp_path / "made" / "certs"
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o755)
    target = tmp_path / "target.txt"
    target.write_bytes(b"precious")
    (planted / "server-key.pem").symlink_to(target)
    (planted / "ca.pem").symlink_to(target)
    for folder in (made, planted):
        with Served("--stls", "--tls-dir", str(folder), "--quiet") as served:
            served.port()
            status, _, err = served.stop(signal.SIGINT)
        assert (status, err) == (0, "")
        for name in ("ca.pem", "server-cert.pem", "server-key.pem"):
            assert stat.S_ISREG(os.lstat(folder / name).st_mode), name
        assert _mode(folder / "server-key.pem") == 0o600
        assert b"PRIVATE KEY" in (folder / "server-key.pem").read_bytes()
        assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []
    assert _mode(made) == 0o700
    assert target.read_bytes() == b"precious"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_journal_that_stops_being_writable_fails_the_check(tmp_path: Path) -> None:
    with Served("--journal", "/dev/full", "--check", "--quiet") as served:
        port = served.port()
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.quit()
        status, _, err = served.stop(signal.SIGINT)
    assert status == 3, err
    assert "pop3mock: error: the journal file stopped: No space left on device\n" in err
    assert "check failed: the journal file stopped (No space left on device)" in err
    with Served("--journal", "/dev/full", "--quiet") as served:
        served.port()
        status, _, err = served.stop(signal.SIGINT)
    assert status == 0  # without --check it is reported, the run is not failed


# -- the marker: errors name the option, with no frames of pop3mock --------------------------


@pytest.mark.slow
def test_marker_errors_name_the_fix_without_internal_frames(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import math
        import pytest

        @pytest.mark.pop3(fakes=3)
        def test_fakes(pop3_server):
            pass

        @pytest.mark.pop3(user={"bob": "pw"})
        def test_user(pop3_server):
            pass

        @pytest.mark.pop3(users={"bob": "pw"}, faults=["PASS user=bobb: error [IN-USE] x"])
        def test_fault_user(pop3_server):
            pass

        @pytest.mark.pop3(users={"bob": "pw"})
        def test_fault_user_in_python(pop3_server_factory):
            pop3_server_factory(
                users={"bob": "pw"}, faults=lambda f: f.on("PASS", user="bobb").error()
            )

        @pytest.mark.pop3(idle_timeout=math.inf)
        def test_inf(pop3_server):
            pass

        @pytest.mark.pop3(fake=10**8)
        def test_huge(pop3_server):
            pass

        def test_factory(pop3_server_factory):
            pop3_server_factory(strcit=True)
        """
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:faker", "-p", "no:hypothesispytest"
    )
    result.assert_outcomes(errors=5, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "E   *ConfigurationError: unknown @pytest.mark.pop3 option fakes "
            "(did you mean 'fake'?)*",
            "E   *ConfigurationError: unknown @pytest.mark.pop3 option user "
            "(did you mean 'users'?)*",
            "E   *ConfigurationError: faults: fault spec 'PASS user=bobb: error [[]IN-USE[]] x': "
            "user=bobb is not a user of this server (users: bob); did you mean user=bob?",
            "E   *ConfigurationError: faults: fault spec *user=bobb*: user=bobb is not a user "
            "of this server (users: bob); did you mean user=bob?",
            "E   *ConfigurationError: idle_timeout must be a number of seconds from 0.001 *inf",
            f"E   *ConfigurationError: fake: expected an integer from 0 to {MAX_LAZY_MESSAGES}, *",
            "E   *ConfigurationError: unknown pop3_server_factory option strcit "
            "(did you mean 'strict'?)*",
        ]
    )
    assert "pop3mock/" not in result.stdout.str().replace("pop3mock/errors", "")


@pytest.mark.slow
def test_a_misspelt_flag_suggests_the_flag() -> None:
    for typo, flag in (("--idle-timout", "--idle-timeout"), ("--users=a:b", "--user")):
        result = run("serve", typo)
        assert result.returncode == 2
        assert f"unrecognized arguments: {typo} (did you mean '{flag}'?)" in result.stderr
    assert "did you mean" not in run("serve", "--bogus").stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", ["idle_timeout", "login_timeout"])
@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, MIN_DURATION, MAX_DURATION, MIN_DURATION * 0.999, 1e-7, 1e10]),
        st.integers(min_value=-10, max_value=10**8),
    )
)
@settings(max_examples=200, deadline=None)
def test_python_toml_and_the_command_line_accept_the_same_timeouts(name: str, value: float) -> None:
    def python() -> bool:
        try:
            POP3Server(**{name: value or None})  # 0 is "never" in TOML and on the command line
        except ConfigurationError:
            return False
        return True

    def toml() -> bool:
        try:
            parse_config({name: value}, "c.toml")
        except ConfigurationError:
            return False
        return True

    def command_line() -> bool:
        flag = "--" + name.replace("_", "-")
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                build_parser().parse_args(["serve", flag, repr(value)])
        except SystemExit:
            return False
        return True

    expected = value == 0 or duration(value)
    assert (python(), toml(), command_line()) == (expected, expected, expected)


def test_check_refuses_a_fault_rule_for_a_user_the_server_never_had() -> None:
    with POP3Server(users={"bob": "pw"}) as server:
        server.faults.on("PASS", user="bobb").error()
    with pytest.raises(ConfigurationError) as info:
        server.check()
    assert str(info.value) == (
        "fault spec 'PASS user=bobb: error [SYS/TEMP] Fault injected.': user=bobb is not a "
        "user of this server (users: bob); did you mean user=bob?"
    )
    with POP3Server(users={"bob": "pw"}) as server:
        server.faults.on("PASS", user="carol").error()
        server.add_user("carol", "pw")  # a user added after the rule is fine
    server.check()
