"""`pop3mock serve` end to end: the command runs as a subprocess, real clients connect."""

from __future__ import annotations

import argparse
import json
import os
import poplib
import re
import selectors
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import curl
from pop3mock import __version__
from pop3mock.cli._main import build_parser
from pop3mock.fake._factory import fake_messages
from pop3mock.faults._faultset import parse_spec
from pop3mock.server import tls

LISTENING = re.compile(r"^listening on (pop3s?)://127\.0\.0\.1:(\d+)$")
TIMEOUT = 20.0


class Served:
    """A `pop3mock serve` process: read its output line by line (with a deadline, never a
    sleep), send it signals, and always end it."""

    def __init__(self, *args: str, cwd: Path | None = None, hangup: str | None = None) -> None:
        command = [sys.executable, "-m", "pop3mock", "serve", "--port", "0", *args]
        if hangup is not None:
            # Start with a known SIGHUP disposition (SIG_DFL or SIG_IGN, as under nohup),
            # whatever this process has: exec keeps both.
            code = (
                "import os, signal, sys; "
                f"signal.signal(signal.SIGHUP, signal.{hangup}); "
                "os.execv(sys.executable, sys.argv[1:])"
            )
            command = [sys.executable, "-c", code, *command]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
        )
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self.lines: list[str] = []

    def line(self, timeout: float = TIMEOUT) -> str:
        """The next line of stdout; fails if none comes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise AssertionError(f"no output line within {timeout} s; got {self.lines}")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise AssertionError(
                    f"the server exited ({self.proc.wait()}): {self.lines} {self.stderr()!r}"
                )
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        text = raw.decode()
        self.lines.append(text)
        return text

    def until(self, prefix: str) -> list[str]:
        """Lines up to and including the first that starts with `prefix`."""
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(prefix):
                return out

    def port(self, scheme: str = "pop3") -> int:
        """Read the listening lines (as far as needed) and return the port of `scheme`."""
        for text in self.lines:
            match = LISTENING.match(text)
            if match and match.group(1) == scheme:
                return int(match.group(2))
        while True:
            match = LISTENING.match(self.line())
            assert match, f"not a listening line: {self.lines[-1]!r}"
            if match.group(1) == scheme:
                return int(match.group(2))

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Send `signum`, wait for the exit; return (status, rest of stdout, stderr)."""
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=TIMEOUT)
        self._selector.close()
        return self.proc.returncode, (self._buffer + out).decode(), err.decode()

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode() if self.proc.poll() is not None else ""

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=TIMEOUT)
        self._selector.close()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `pop3mock ARGS` to completion (for commands that exit on their own)."""
    return subprocess.run(
        [sys.executable, "-m", "pop3mock", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=cwd,
    )


def read_journal(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "2.eml").write_bytes(b"Subject: second\r\n\r\nTwo\r\n")
    (folder / "1.eml").write_bytes(b"Subject: first\r\n\r\nOne\r\n")
    return folder


# -- start-up output and the default maildrop -------------------------------------------------


@pytest.mark.slow
def test_default_user_and_printed_curl_command_work() -> None:
    with Served() as served:
        port = served.port()
        assert served.lines == [f"listening on pop3://127.0.0.1:{port}"]
        lines = served.until("stop with")
        assert "user user / password password: 10 messages (generated, seed 0)" in lines
        command = lines[lines.index("try:") + 1].strip()
        assert command == f"curl pop3://127.0.0.1:{port}/1 -u user:password"
        result = curl(*shlex.split(command)[1:])
        assert result.returncode == 0, result.stderr
        assert result.stdout == next(iter(fake_messages(10, seed=0))).data
        status, rest, err = served.stop()
    assert status == 0, err
    assert re.fullmatch(r"stopped after 1 session, \d+ commands\n", rest)
    assert err == ""


@pytest.mark.slow
def test_messages_and_users_on_the_command_line(maildir: Path) -> None:
    with Served("--user", "alice:wonder land", "--user", "bob:x", "--messages", str(maildir)) as s:
        port = s.port()
        lines = s.until("stop with")
        assert f"user alice / password wonder land: 2 messages (from {maildir})" in lines
        assert f"curl pop3://127.0.0.1:{port}/1 -u 'alice:wonder land'" in [
            x.strip() for x in lines
        ]
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("bob")
            client.pass_("x")
            # Sorted by file name: 1.eml first.
            assert b"Subject: first" in client.retr(1)[1]
            assert client.stat()[0] == 2
        finally:
            client.quit()
        assert s.stop()[0] == 0


@pytest.mark.slow
def test_unusual_messages_are_served_and_noted_at_start_up(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "1.eml").write_bytes(b"")
    (folder / "2.eml").write_bytes(b"Subject: fine\r\n\r\nok\r\n")
    (folder / "3.eml").write_bytes(b"%PDF-1.7\n")
    with Served("--messages", str(folder)) as served:
        port = served.port()
        lines = served.until("stop with")
        assert "user user / password password: 3 messages (from " + str(folder) + ")" in lines
        assert [line for line in lines if line.startswith("note: ")] == [
            f"note: {folder / '1.eml'}: empty (served as it is)",
            f"note: {folder / '3.eml'}: no header fields (served as it is)",
        ]
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("user")
            client.pass_("password")
            assert client.list()[1] == [b"1 0", b"2 21", b"3 10"]
            assert client.retr(1)[1] == []
        finally:
            client.quit()
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_many_unusual_messages_are_counted_after_the_first_ones(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    for n in range(25):
        (folder / f"{n:02d}.eml").write_bytes(b"")
    with Served("--messages", str(folder)) as served:
        notes = [line for line in served.until("stop with") if line.startswith("note: ")]
        assert len(notes) == 21
        assert notes[-1] == "note: 5 more unusual messages"
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_max_message_size_flag_and_config_key(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "1.eml").write_bytes(b"Subject: x\r\n\r\n" + b"y" * 100)
    result = run("serve", "--port", "0", "--messages", str(folder), "--max-message-size", "50")
    assert result.returncode == 2
    assert result.stderr == (
        f"pop3mock: error: --messages: {folder / '1.eml'}: 114 octets, more than the limit of 50 octets "
        "per message (max_message_size; pop3mock serve --max-message-size)\n"
    )
    config = tmp_path / "c.toml"
    config.write_text(f"messages = {str(folder)!r}\nmax_message_size = 50\n")
    result = run("serve", "--port", "0", "--config", str(config))
    assert (result.returncode, "more than the limit of 50 octets" in result.stderr) == (2, True)
    bad = run("serve", "--port", "0", "--max-message-size", "0")
    assert (bad.returncode, "expected an integer >= 1" in bad.stderr) == (2, True)
    with Served("--config", str(config), "--max-message-size", "200") as served:
        assert "1 message (from" in " ".join(served.until("stop with"))
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_a_fifo_in_the_maildrop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    os.mkfifo(folder / "1.eml")
    result = run("serve", "--port", "0", "--messages", str(folder))
    assert result.returncode == 2
    assert result.stderr == (
        f"pop3mock: error: --messages: {folder / '1.eml'}: cannot read: a FIFO (named pipe), not a "
        "regular file (only regular files are read)\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["--fault", "config file"])
def test_a_fault_rule_on_several_commands(tmp_path: Path, where: str) -> None:
    spec = "RETR | TOP 1: error [SYS/TEMP] busy"
    config = tmp_path / "pop3mock.toml"
    config.write_text(f"faults = [{spec!r}]\n")
    args = ["--fault", spec] if where == "--fault" else ["--config", str(config)]
    with Served(*args) as served:
        port = served.port()
        assert "fault: RETR|TOP 1: error [SYS/TEMP] busy" in served.until("stop with")
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("user")
            client.pass_("password")
            for fetch in (lambda: client.retr(1), lambda: client.top(1, 0)):
                with pytest.raises(poplib.error_proto, match="busy"):
                    fetch()
            assert client.retr(2)[0].startswith(b"+OK")
        finally:
            client.quit()
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_fake_and_seed() -> None:
    with Served("--fake", "3", "--seed", "42", "--user", "carol:pw") as served:
        port = served.port()
        assert "user carol / password pw: 3 messages (generated, seed 42)" in served.until("stop")
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("carol")
            client.pass_("pw")
            lines = client.retr(3)[1]
        finally:
            client.quit()
        expected = list(fake_messages(3, seed=42))[2].data
        assert b"\r\n".join(lines) + b"\r\n" == expected
        assert served.stop()[0] == 0


# -- TLS ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_pop3s_and_stls_with_the_printed_ca(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    with Served("--tls-port", "0", "--stls", "--journal", str(journal)) as served:
        port = served.port()
        assert served.line() == f"listening on pop3s://127.0.0.1:{served.port('pop3s')}"
        tls_port = served.port("pop3s")
        lines = served.until("stop with")
        ca = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("CA certificate:"))
        cert = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("server certif"))
        key = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("server key:"))
        for path in (ca, cert, key):
            assert Path(path).read_text().startswith("-----BEGIN")
        commands = [shlex.split(x) for x in lines if x.startswith("  curl")]
        assert [c[1] for c in commands] == [
            f"pop3://127.0.0.1:{port}/1",
            f"pop3s://127.0.0.1:{tls_port}/1",
            f"pop3://127.0.0.1:{port}/1",
        ]
        assert commands[1][-2:] == ["--cacert", ca]
        assert commands[2][-3:] == ["--ssl-reqd", "--cacert", ca]
        expected = next(iter(fake_messages(10, seed=0))).data
        for command in commands:
            result = curl(*command[1:])
            assert result.returncode == 0, (command, result.stderr)
            assert result.stdout == expected
        status, _, err = served.stop()
    assert status == 0, err
    # The generated certificate lived in a temporary folder, removed on exit.
    assert not os.path.exists(ca)
    ends = {e["session"]: e["tls"] for e in read_journal(journal) if e["event"] == "session-end"}
    assert [ends[n] for n in sorted(ends)] == [False, True, True]
    assert [e["verb"] for e in read_journal(journal) if e.get("verb") == "STLS"] == ["STLS"]


@pytest.mark.slow
def test_gmail_personality_listens_on_pop3s_by_itself() -> None:
    with Served("--personality", "gmail") as served:
        served.port()
        tls_port = served.port("pop3s")
        lines = served.until("stop with")
        ca = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("CA certificate:"))
        result = curl(f"pop3s://127.0.0.1:{tls_port}/1", "-u", "user:password", "--cacert", ca)
        assert result.returncode == 0, result.stderr
        assert result.stdout == next(iter(fake_messages(10, seed=0))).data
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_own_certificate(tmp_path: Path) -> None:
    certs = tls.write_files(str(tmp_path / "certs"))
    args = ["--cert", certs["cert"], "--key", certs["key"], "--ca", certs["ca"]]
    with Served("--tls-port", "0", *args) as served:
        tls_port = served.port("pop3s")
        lines = served.until("stop with")
        assert f"listening on pop3s://127.0.0.1:{tls_port}" in served.lines
        assert f"CA certificate:     {certs['ca']}" in lines
        assert f"server certificate: {certs['cert']}" in lines
        command = shlex.split(next(x for x in lines if "pop3s://" in x and "curl" in x))
        assert command[-2:] == ["--cacert", certs["ca"]]
        result = curl(*command[1:])
        assert result.returncode == 0, result.stderr
        assert served.stop()[0] == 0
    assert sorted(os.listdir(tmp_path / "certs")) == ["ca.pem", "server-cert.pem", "server-key.pem"]


# -- faults, journal, signals ------------------------------------------------------------------


@pytest.mark.slow
def test_fault_seen_by_poplib_and_journal_followed_while_running(tmp_path: Path) -> None:
    journal = tmp_path / "pop3.jsonl"
    fault = "RETR 2: error [SYS/TEMP] storage offline"
    with Served("--user", "alice:s3cret", "--journal", str(journal), "--fault", fault) as served:
        port = served.port()
        assert f"fault: {fault}" in served.until("stop with")
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("alice")
            client.pass_("s3cret")
            assert client.retr(1)[0].startswith(b"+OK")
            with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/TEMP\] storage offline"):
                client.retr(2)
            # A command's line is in the file before its reply is sent.
            events = read_journal(journal)
            assert [e["event"] for e in events] == ["session-start", *["command"] * 4]
            assert [e["command"] for e in events[1:]] == [
                "USER alice",
                "PASS ***",
                "RETR 1",
                "RETR 2",
            ]
            assert events[2]["args"] == ["***"]
            assert "s3cret" not in journal.read_text()
            assert (events[3]["status"], events[3]["fault"]) == ("+OK", None)
            assert events[4]["status"] == "-ERR"
            assert events[4]["reply"] == "[SYS/TEMP] storage offline"
            assert events[4]["fault"] == parse_spec(fault).describe()
            assert events[4]["user"] == "alice"
        finally:
            client.quit()
        assert served.stop()[0] == 0
    events = read_journal(journal)
    assert events[-1]["event"] == "session-end"
    assert events[-1]["reason"] == "quit"
    assert events[-1]["commands"] == 5
    assert events[-1]["faults"] == [parse_spec(fault).describe()]


def _retr_outcomes(port: int, count: int) -> list[bool]:
    """Whether each of `count` RETR 1 in one session succeeded."""
    client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
    outcomes = []
    try:
        client.user("user")
        client.pass_("password")
        for _ in range(count):
            try:
                client.retr(1)
                outcomes.append(True)
            except poplib.error_proto:
                outcomes.append(False)
    finally:
        client.quit()
    return outcomes


@pytest.mark.slow
def test_fault_seed_is_printed_and_replays_a_run(tmp_path: Path) -> None:
    flaky = "RETR p=0.5: error [SYS/TEMP] flaky"
    with Served("--fault", flaky) as served:
        port = served.port()
        lines = served.until("stop with")
        seeds = [x for x in lines if x.startswith("fault seed: ")]
        assert len(seeds) == 1
        assert lines.index(seeds[0]) == lines.index(f"fault: {flaky}") + 1
        seed = seeds[0].removeprefix("fault seed: ")
        first = _retr_outcomes(port, 24)
        assert served.stop()[0] == 0
    # The printed seed given back makes the same faults fire on the same commands.
    config = tmp_path / "pop3mock.toml"
    config.write_text("fault_seed = 12345\n", encoding="utf-8")
    with Served("--config", str(config), "--fault", flaky, "--fault-seed", seed) as served:
        port = served.port()
        assert f"fault seed: {seed}" in served.until("stop with")
        assert _retr_outcomes(port, 24) == first
        assert served.stop()[0] == 0
    assert True in first and False in first  # 24 draws at p=0.5: both happen for any seed


@pytest.mark.slow
def test_counted_faults_that_did_not_fire_are_listed_on_stop() -> None:
    never = "RETR 5 once: delay 0.1"
    short = "STAT times=3: delay 0"
    rules = [never, short, "NOOP: delay 0", "PASS user=bob once: error [IN-USE] locked"]
    with Served("--user", "bob:pw", *[x for r in rules for x in ("--fault", r)]) as served:
        port = served.port()
        served.until("stop with")
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("bob")
            # The rule naming bob, a user of the server, fires.
            with pytest.raises(poplib.error_proto, match=r"\[IN-USE\] locked"):
                client.pass_("pw")
            client.user("bob")
            client.pass_("pw")
            client.stat()
            client.stat()
        finally:
            client.quit()
        status, rest, err = served.stop()
    assert status == 0, err
    assert err == ""
    assert rest.splitlines() == [
        f"fault never fired: {parse_spec(never).describe()}",
        f"fault fired 2 of 3 times: {parse_spec(short).describe()} (matched 2 times)",
        "stopped after 1 session, 7 commands",
    ]


@pytest.mark.slow
def test_journal_file_and_strict_stderr_never_show_a_garbled_password(tmp_path: Path) -> None:
    journal = tmp_path / "pop3.jsonl"
    secret = "Wh1sper-pw"
    with Served("--strict", "--journal", str(journal), "--user", f"alice:{secret}") as served:
        port = served.port()
        served.until("stop with")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            replies = sock.makefile("rb")
            assert replies.readline().startswith(b"+OK")
            for line in (b"USER alice", b"PASS\t" + secret.encode(), b"PASS\0" + secret.encode()):
                sock.sendall(line + b"\r\n")
                assert replies.readline().startswith((b"+OK", b"-ERR"))
            sock.sendall(b"QUIT\r\n")
            assert replies.readline().startswith(b"+OK")
        status, _, err = served.stop()
    assert status == 0
    text = journal.read_text(encoding="utf-8")
    assert [e["event"] for e in read_journal(journal)][-1] == "session-end"
    assert len([e for e in read_journal(journal) if e["event"] == "command"]) == 4
    assert "strict: session 1: " in err  # the garbled lines are violations, reported
    for where in (text, err):
        assert secret not in where
        assert secret.upper() not in where


@pytest.mark.slow
def test_warning_about_a_host_not_named_loopback_once_listening() -> None:
    # ::1 written out: the same address, but not one of the names the server knows as loopback.
    with Served("--host", "0:0:0:0:0:0:0:1", "--quiet") as served:
        first = served.line()
        assert re.fullmatch(r"listening on pop3://\[0:0:0:0:0:0:0:1\]:\d+", first)
        status, rest, err = served.stop()
    assert (status, rest) == (0, "")
    assert err == (
        "pop3mock: warning: pop3mock is listening on '0:0:0:0:0:0:0:1', not loopback: "
        "other machines can reach it\n"
    )


@pytest.mark.slow
def test_seed_of_the_config_file_used_by_a_user_with_generated_messages(
    tmp_path: Path, maildir: Path
) -> None:
    config = tmp_path / "pop3mock.toml"
    config.write_text(
        'messages = "mail"\nseed = 5\nfault_seed = 3\n\n'
        '[[users]]\nname = "alice"\npassword = "a"\nfake = 1\n\n'
        '[[users]]\nname = "bob"\npassword = "b"\n',
        encoding="utf-8",
    )
    with Served("--config", str(config)) as served:
        served.port()
        lines = served.until("stop with")
        assert "user alice / password a: 1 message (generated, seed 5)" in lines
        assert f"user bob / password b: 2 messages (from {maildir})" in lines
        # No fault rule: no fault lines, not even the seed.
        assert not [x for x in lines if x.startswith("fault")]
        assert served.stop()[0] == 0
    # --messages on the command line replaces the file's fake, and its seed with it.
    config.write_text('fake = 4\nseed = 1\n[[users]]\nname = "a"\npassword = "b"\nseed = 2\n')
    with Served("--config", str(config), "--messages", str(maildir)) as served:
        served.port()
        assert f"user a / password b: 2 messages (from {maildir})" in served.until("stop with")
        assert served.stop()[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_an_active_session_stops_cleanly(tmp_path: Path, signum: int) -> None:
    journal = tmp_path / "pop3.jsonl"
    with Served("--journal", str(journal)) as served:
        port = served.port()
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("user")
            client.pass_("password")
            assert client.stat()[0] == 10
            status, rest, err = served.stop(signum)
            with pytest.raises((poplib.error_proto, OSError, EOFError)):
                client.noop()
        finally:
            client.close()
    assert status == 0, err
    assert err == ""
    assert rest.endswith("stopped after 1 session, 3 commands\n")
    events = read_journal(journal)
    assert [e["event"] for e in events] == ["session-start", *["command"] * 3, "session-end"]
    assert events[-1]["reason"] == "server stopped"
    assert events[-1]["user"] == "user"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_stops_unless_ignored_as_under_nohup() -> None:
    with Served("--quiet", hangup="SIG_DFL") as served:
        served.port()
        status, _, err = served.stop(signal.SIGHUP)
    assert (status, err) == (0, "")
    with Served("--quiet", hangup="SIG_IGN") as served:
        port = served.port()
        served.proc.send_signal(signal.SIGHUP)
        # A greeting needs the process to run after the signal was sent: had SIGHUP not been
        # ignored, its default action would have ended the process before that.
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            assert sock.recv(1024).startswith(b"+OK")
        status, _, err = served.stop(signal.SIGTERM)
    assert (status, err) == (0, "")


@pytest.mark.slow
def test_journal_keep_forgets_old_sessions_but_counts_them_all(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    with Served("--journal-keep", "1", "--journal", str(journal)) as served:
        port = served.port()
        served.until("stop with")
        for _ in range(4):
            client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
            client.user("user")
            client.pass_("password")
            client.quit()
        status, rest, _ = served.stop()
    assert status == 0
    assert rest.endswith("stopped after 4 sessions, 12 commands\n")
    ends = [line for line in journal.read_text().splitlines() if '"session-end"' in line]
    assert len(ends) == 4  # the file gets every session whatever is kept in memory


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "misbehave", "status", "said"),
    [
        (["--strict", "--check"], True, 3, "check failed: 1 protocol violation by clients"),
        (["--strict", "--check"], False, 0, ""),
        (["--strict"], True, 0, ""),  # without --check, violations are information only
        (
            ["--check", "--fault", "RETR 1 once: error [SYS/TEMP] busy"],
            False,
            3,
            "check failed: 1 counted fault rule not fired as configured",
        ),
    ],
)
def test_check_fails_the_run_like_a_pytest_test(
    args: list[str], misbehave: bool, status: int, said: str
) -> None:
    with Served(*args) as served:
        port = served.port()
        served.until("stop with")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            reader = sock.makefile("rb")
            reader.readline()
            # A bare LF line end: a protocol violation strict mode reports.
            sock.sendall(b"USER user\n" if misbehave else b"USER user\r\n")
            reader.readline()
            sock.sendall(b"PASS password\r\nQUIT\r\n")
            reader.readline()
            reader.readline()
        code, _, stderr = served.stop()
    assert code == status, stderr
    assert ("check failed" in stderr) == bool(said)
    if said:
        assert said in stderr


@pytest.mark.slow
def test_quiet_and_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "pop3.ready"
    ready.write_text("stale from an earlier run\n")
    certs = tmp_path / "certs"
    args = ["--quiet", "--tls-port", "0", "--strict", "--ready-file", str(ready)]
    args += ["--tls-dir", str(certs)]
    with Served(*args) as served:
        port, tls_port = served.port(), served.port("pop3s")
        assert ready.read_text() == f"pop3://127.0.0.1:{port}\npop3s://127.0.0.1:{tls_port}\n"
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.recv(1024)
            sock.sendall(b"STAT\r\n")  # before login: a violation, not printed when quiet
            sock.recv(1024)
        status, rest, err = served.stop()
    assert status == 0
    assert served.lines + rest.splitlines() == [
        f"listening on pop3://127.0.0.1:{port}",
        f"listening on pop3s://127.0.0.1:{tls_port}",
    ]
    assert err == ""
    assert not ready.exists()
    # --tls-dir: the generated certificate is kept.
    assert sorted(os.listdir(certs)) == ["ca.pem", "server-cert.pem", "server-key.pem"]


@pytest.mark.slow
def test_strict_reports_violations_on_stderr() -> None:
    with Served("--strict") as served:
        port = served.port()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.recv(1024)
            sock.sendall(b"STAT\r\n")
            assert sock.recv(1024).startswith(b"-ERR")
            sock.sendall(b"QUIT\r\n")
            sock.recv(1024)
        status, _, err = served.stop()
    assert status == 0
    assert err.startswith("pop3mock: strict: session 1: ")
    assert "STAT" in err


@pytest.mark.slow
def test_stdout_closed_early_does_not_stop_the_server() -> None:
    with Served() as served:
        port = served.port()
        assert served.proc.stdout is not None
        served.proc.stdout.close()  # like `pop3mock serve | head -1`
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            client.user("user")
            client.pass_("password")
            assert client.stat()[0] == 10
        finally:
            client.quit()
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=TIMEOUT) == 0
        assert served.proc.stderr is not None
        assert served.proc.stderr.read() == b""


# -- config file -------------------------------------------------------------------------------


@pytest.mark.slow
def test_config_file_with_two_users(tmp_path: Path, maildir: Path) -> None:
    config = tmp_path / "pop3mock.toml"
    config.write_text(
        """
personality = "dovecot"
fake = 4
seed = 1
greeting = "Test server ready."

[[users]]
name = "alice"
password = "secret"
messages = "mail"

[[users]]
name = "bob"
password = "hunter2"
faults = ["RETR 1: error [SYS/TEMP] bob's storage offline"]
""",
        encoding="utf-8",
    )
    with Served("--config", str(config)) as served:
        port = served.port()
        lines = served.until("stop with")
        assert f"user alice / password secret: 2 messages (from {maildir})" in lines
        assert "user bob / password hunter2: 4 messages (generated, seed 1)" in lines
        alice = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        bob = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        try:
            assert alice.getwelcome().startswith(b"+OK Test server ready.")
            alice.user("alice")
            alice.pass_("secret")
            bob.user("bob")
            bob.pass_("hunter2")
            assert alice.stat()[0] == 2
            assert bob.stat()[0] == 4
            # The fault of bob's table is bob's only.
            assert b"Subject: first" in b"\r\n".join(alice.retr(1)[1])
            with pytest.raises(poplib.error_proto, match="bob's storage offline"):
                bob.retr(1)
        finally:
            alice.quit()
            bob.quit()
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_config_file_user_with_apop_only(tmp_path: Path) -> None:
    config = tmp_path / "pop3mock.toml"
    config.write_text(
        '[[users]]\nname = "alice"\npassword = "secret"\napop_only = true\n\n'
        '[[users]]\nname = "bob"\npassword = "hunter2"\n',
        encoding="utf-8",
    )
    with Served("--config", str(config)) as served:
        port = served.port()
        served.until("stop with")
        alice = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        alice.user("alice")
        with pytest.raises(poplib.error_proto, match="APOP only"):
            alice.pass_("secret")
        assert alice.apop("alice", "secret").startswith(b"+OK")
        alice.quit()
        bob = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        bob.user("bob")
        assert bob.pass_("hunter2").startswith(b"+OK")
        bob.quit()
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_flags_override_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "pop3mock.toml"
    config.write_text(
        'quiet = true\nfake = 5\n\n[[users]]\nname = "alice"\npassword = "old"\n',
        encoding="utf-8",
    )
    args = ["--config", str(config), "--no-quiet", "--fake", "0", "--user", "alice:new"]
    with Served(*args) as served:
        port = served.port()
        lines = served.until("stop")
        assert "user alice / password new: 0 messages (generated, seed 0)" in lines
        # An empty maildrop: the command to try lists it instead of fetching message 1.
        assert f"  curl pop3://127.0.0.1:{port}/ -u alice:new" in lines
        assert served.stop()[0] == 0


# -- errors: one line on stderr, exit status 2, no traceback ----------------------------------
# (the full catalogue of messages is checked in-process in test_cli_errors.py)


def _error_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("prot = 1110\n")
    return {
        "unreadable maildrop": (["--messages", str(tmp_path / "nope")], "no such file or folder"),
        "bad fault": (
            ["--fault", "FETCH 1: error"],
            "--fault: fault spec 'FETCH 1: error': unknown fault target",
        ),
        "bad config": (["--config", str(unknown)], f"{unknown}: unknown key 'prot'"),
        "bad flag": (["--user", "alice"], "expected NAME:PASSWORD"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["unreadable maildrop", "bad fault", "bad config", "bad flag"])
def test_errors_are_one_line_and_status_2(tmp_path: Path, case: str) -> None:
    args, expected = _error_cases(tmp_path)[case]
    result = run("serve", "--port", "0", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("pop3mock")
    assert ": error: " in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"pop3mock: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


# -- help and version --------------------------------------------------------------------------


@pytest.mark.slow
def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"pop3mock {__version__}\n"


@pytest.mark.slow
def test_help_documents_every_option_with_an_example() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    options, _, examples = result.stdout.partition("examples:")
    assert examples, "serve --help has an examples section"
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    flags = [f for action in serve._actions for f in action.option_strings if f.startswith("--")]
    assert len(flags) > 20
    for flag in flags:
        if flag in (
            "--help",
            "--no-stls",
            "--no-strict",
            "--no-quiet",
            "--no-check",
            "--no-replay-timing",
        ):
            continue
        assert flag in options, f"{flag} is not described"
        assert re.search(rf"pop3mock serve .*{flag}\b", examples), f"{flag} has no example"
    top = run("--help")
    assert top.returncode == 0
    assert "serve" in top.stdout
    assert "--version" in top.stdout
    assert "pop3mock serve --port 1110" in top.stdout


@pytest.mark.slow
def test_no_command_is_a_one_line_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "required" in result.stderr


@pytest.mark.slow
def test_strict_check_passes_after_probes_that_sent_no_command(tmp_path: Path) -> None:
    # A wait-for-port probe and a TLS client that rejects the certificate (RFC 2595
    # section 2.4) sent no command: they are not held to QUIT.
    journal = tmp_path / "pop3.jsonl"
    args = ["--strict", "--check", "--tls-port", "0", "--journal", str(journal)]
    with Served(*args) as served:
        port, tls_port = served.port(), served.port("pop3s")
        served.until("stop with")
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
        socket.create_connection(("127.0.0.1", tls_port), timeout=TIMEOUT).close()
        untrusting = ssl.create_default_context()
        with (
            socket.create_connection(("127.0.0.1", tls_port), timeout=TIMEOUT) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            untrusting.wrap_socket(raw, server_hostname="localhost")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.recv(1024)  # the greeting, read and left
        code, _, stderr = served.stop()
    assert code == 0, stderr
    assert "check failed" not in stderr and "strict:" not in stderr
    starts = [r for r in read_journal(journal) if r["event"] == "session-start"]
    assert len(starts) == 4


@pytest.mark.slow
def test_session_keep_commands_bounds_memory_not_the_counts(tmp_path: Path) -> None:
    journal = tmp_path / "pop3.jsonl"
    with Served("--session-keep-commands", "2", "--journal", str(journal)) as served:
        port = served.port()
        served.until("stop with")
        client = poplib.POP3("127.0.0.1", port, timeout=TIMEOUT)
        client.user("user")
        client.pass_("password")
        for _ in range(6):
            client.noop()
        client.quit()
        code, rest, _ = served.stop()
    assert code == 0
    assert rest.endswith("stopped after 1 session, 9 commands\n")
    records = read_journal(journal)
    assert len([r for r in records if r["event"] == "command"]) == 9  # the file has them all
    (end,) = [r for r in records if r["event"] == "session-end"]
    assert end["commands"] == 9


def _built(*args: str, cwd: Path | None = None) -> object:
    from pop3mock.cli._build import new_server
    from pop3mock.cli._settings import read_settings

    settings = read_settings(build_parser().parse_args(["serve", *args]))
    return new_server(settings, None)[0]


def test_serve_has_the_limits_of_a_shared_service_by_default(tmp_path: Path) -> None:
    server = _built()
    assert (server.max_connections, server.login_timeout) == (100, 180.0)  # type: ignore[attr-defined]
    assert server.drop_oldest_when_full is True  # type: ignore[attr-defined]
    off = _built("--max-connections", "0", "--login-timeout", "0", "--no-drop-oldest-when-full")
    assert (off.max_connections, off.login_timeout) == (None, None)  # type: ignore[attr-defined]
    assert off.drop_oldest_when_full is False  # type: ignore[attr-defined]
    config = tmp_path / "pop3mock.toml"
    config.write_text("max_connections = 7\nlogin_timeout = 2.5\ndrop_oldest_when_full = false\n")
    filed = _built("--config", str(config))
    assert (filed.max_connections, filed.login_timeout) == (7, 2.5)  # type: ignore[attr-defined]
    assert filed.drop_oldest_when_full is False  # type: ignore[attr-defined]
    flagged = _built("--config", str(config), "--max-connections", "3", "--drop-oldest-when-full")
    assert flagged.max_connections == 3  # type: ignore[attr-defined]
    assert flagged.drop_oldest_when_full is True  # type: ignore[attr-defined]


@pytest.mark.slow
def test_serve_drops_the_oldest_connection_not_logged_in_when_full() -> None:
    with Served("--max-connections", "1") as served:
        port = served.port()
        served.until("stop with")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as first:
            first_reader = first.makefile("rb")
            assert first_reader.readline().startswith(b"+OK")
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as second:
                second_reader = second.makefile("rb")
                assert first_reader.readline() == (
                    b"-ERR [SYS/TEMP] Too many connections, try later.\r\n"
                )
                assert second_reader.readline().startswith(b"+OK")
                second.sendall(b"QUIT\r\n")
                assert second_reader.readline().startswith(b"+OK")
        code, _, stderr = served.stop()
    assert code == 0, stderr


@pytest.mark.slow
def test_serve_closes_a_client_that_does_not_log_in_in_time() -> None:
    with Served("--login-timeout", "0.3") as served:
        port = served.port()
        served.until("stop with")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"+OK")
            assert reader.readline() == b"-ERR No login within the time allowed.\r\n"
            assert reader.read() == b""
        code, _, stderr = served.stop()
    assert code == 0, stderr
