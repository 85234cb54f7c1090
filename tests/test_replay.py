"""`pop3mock proxy` records a conversation, `pop3mock serve --replay` (POP3Server(replay=))
answers it again: clients get the same bytes, a changed client is reported at its first
differing line, secrets and message text stay out of the file, faults apply on top."""

from __future__ import annotations

import json
import os
import poplib
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import RawClient, curl
from pop3mock import POP3Server
from pop3mock.errors import ClientViolationError, ConfigurationError
from pop3mock.plugin import build_server
from pop3mock.protocol._recording import load_recording, placeholder_body, read_recording
from pop3mock.protocol._replay import Replay
from pop3mock.protocol._session import State
from pop3mock.server import tls
from replaying import recording_proxy

PASSWORD = "s3cret-pw"
MESSAGES = [
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nfirst line\r\nsecond line\r\n",
    b"Subject: two\r\n\r\n..a dot line\r\n",
]
MULTIPART = (
    b"From: Alice <alice@example.org>\r\n"
    b"Subject: the quarterly\r\n figures, folded\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed;\r\n boundary="b1"\r\n'
    b"\r\n"
    b"preamble text\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe, the numbers are in.\r\n"
    b"..leading dot\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcfs\r\n"
    b"--b1--\r\n"
    b"epilogue\r\n"
)


def upstream_server() -> POP3Server:
    server = POP3Server(users={"alice": PASSWORD}, apop=True)
    server.mailbox("alice").add(*MESSAGES)
    return server


def poplib_session(port: int, password: str = PASSWORD) -> list[object]:
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    seen: list[object] = [client.getwelcome()]
    client.user("alice")
    client.pass_(password)
    seen += [client.stat(), client.list(), client.retr(1), client.retr(2), client.uidl()]
    seen.append(client.quit())
    return seen


def recorded_poplib_session(record: Path) -> Path:
    """Record one poplib session with pop3mock upstream into `record`; return its path."""
    with upstream_server() as upstream, recording_proxy(upstream.url, record) as port:
        poplib_session(port)
    return record


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[1:]]


def test_poplib_recorded_from_pop3mock_then_replayed(tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl"
    with (
        upstream_server() as upstream,
        recording_proxy(upstream.url, record, "--keep-bodies") as port,
    ):
        first = poplib_session(port)
        upstream.check()
    assert first[0].startswith(b"+OK pop3mock ready.")  # type: ignore[union-attr]
    with POP3Server(replay=record) as replay:
        # Another password: the recording holds PASS ***, so any password matches.
        second = poplib_session(replay.port, password="not-the-same")
    replay.check()
    assert second == first
    commands = [c.line for s in replay.journal.sessions for c in s.commands]
    assert commands == [
        "USER alice",
        "PASS ***",
        "STAT",
        "LIST",
        "RETR 1",
        "RETR 2",
        "UIDL",
        "QUIT",
    ]
    assert replay.journal.sessions[0].end_reason == "quit"


def test_a_raw_client_gets_the_same_bytes_and_the_pauses_are_recorded(tmp_path: Path) -> None:
    record = tmp_path / "raw.jsonl"
    script = (
        b"CAPA\r\nUSER alice\r\nPASS " + PASSWORD.encode() + b"\r\nLIST 2\r\nTOP 1 1\r\nQUIT\r\n"
    )

    def conversation(port: int) -> bytes:
        with RawClient("127.0.0.1", port) as client:
            received = client.line()
            for line in script.split(b"\r\n")[:-1]:
                client.send(line + b"\r\n")
                if line in (b"CAPA",) or line.startswith(b"TOP"):
                    received += client.multiline()
                else:
                    received += client.line()
            return received + client.read_all()

    with (
        upstream_server() as upstream,
        recording_proxy(upstream.url, record, "--keep-bodies") as port,
    ):
        first = conversation(port)
    for timing in (False, True):
        with POP3Server(replay=record, replay_timing=timing) as replay:
            assert conversation(replay.port) == first
        replay.check()
    # STLS is not relayed: CAPA through the proxy does not offer it.
    assert b"STLS" not in first


def test_replay_timing_pauses_as_recorded() -> None:
    recording = read_recording(
        [
            '{"pop3mock": "recording", "version": 1}',
            '{"conn": 1, "t": 1.0, "event": "open"}',
            '{"conn": 1, "t": 1.25, "event": "reply", "data": "+OK hi\\r\\n"}',
            '{"conn": 1, "t": 2.0, "event": "command", "line": "NOOP"}',
            '{"conn": 1, "t": 2.5, "event": "reply", "data": "+OK\\r\\n"}',
            '{"conn": 1, "t": 2.6, "event": "command", "line": "QUIT"}',
            '{"conn": 1, "t": 2.6, "event": "reply", "data": "+OK bye\\r\\n"}',
            '{"conn": 1, "t": 2.7, "event": "close", "by": "server"}',
        ]
    )
    from pop3mock.protocol._config import ServerConfig

    timed = Replay(recording, timing=True).session(ServerConfig())
    assert timed.greeting().pause == 0.25
    assert timed.handle(b"NOOP").pause == 0.5
    quit_reply = timed.handle(b"QUIT")
    assert (quit_reply.encode(), quit_reply.close, timed.closed) == (b"+OK bye\r\n", True, True)
    untimed = Replay(recording).session(ServerConfig())
    assert untimed.greeting().pause == 0.0
    assert untimed.handle(b"NOOP").pause == 0.0


def test_a_changed_client_is_reported_at_its_first_differing_line(tmp_path: Path) -> None:
    record = recorded_poplib_session(tmp_path / "session.jsonl")
    with POP3Server(replay=record) as replay:
        client = poplib.POP3("127.0.0.1", replay.port, timeout=10)
        client.user("alice")
        client.pass_("x")
        client.stat()
        with pytest.raises(poplib.error_proto, match=r"-ERR pop3mock replay: expected 'LIST'"):
            client.retr(2)  # the recording has LIST here
        # From there on the replay is stopped: every command gets -ERR, QUIT +OK.
        with pytest.raises(poplib.error_proto, match="stopped at line"):
            client.list()
        assert client.quit().startswith(b"+OK pop3mock replay stopped at line")
        replay.journal.wait_for(sessions_ended=1)
    session = replay.journal.sessions[0]
    line = next(n for n, text in enumerate(record.read_text().splitlines(), 1) if '"LIST"' in text)
    assert session.violations == [
        f"RETR 2: expected 'LIST' (line {line} of the recording), received 'RETR 2'"
    ]
    with pytest.raises(ClientViolationError, match=r"expected 'LIST' \(line \d+"):
        replay.check()


def test_secrets_are_masked_in_the_file(tmp_path: Path) -> None:
    record = tmp_path / "secrets.jsonl"
    with (
        POP3Server(users={"alice": PASSWORD}, apop=True) as upstream,
        recording_proxy(upstream.url, record) as port,
    ):
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.apop("alice", PASSWORD)
        client.quit()
        with RawClient("127.0.0.1", port) as raw:
            raw.line()
            raw.cmd("USER alice")
            raw.cmd(f"{PASSWORD}")  # the line after USER: maybe a password
            assert raw.cmd("AUTH PLAIN") == b"+ \r\n"  # then a SASL line
            assert raw.cmd("AGFsaWNlAHMzY3JldC1wdw==").startswith(b"+OK")
            raw.cmd("QUIT")
    text = record.read_text(encoding="utf-8")
    assert PASSWORD not in text
    assert "AGFsaWNlAHMzY3JldC1wdw==" not in text
    lines = [e["line"] for e in events(record) if e["event"] == "command"]
    assert lines[0] == "APOP alice ***"
    assert "AUTH PLAIN" in lines
    assert lines.count("***") == 2  # the line after USER, and the SASL response


def test_placeholders_keep_sizes_lines_and_mime_shape() -> None:
    wire = MULTIPART  # no line starts with a dot except the byte-stuffed one
    filled = placeholder_body(wire)
    assert len(filled) == len(wire)
    assert [len(a) for a in filled.split(b"\r\n")] == [len(a) for a in wire.split(b"\r\n")]
    kept = [
        b"MIME-Version: 1.0",
        b"Content-Type: multipart/mixed;",
        b' boundary="b1"',
        b"--b1",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: base64",
        b"--b1--",
    ]
    lines = filled.split(b"\r\n")
    for line in kept:
        assert line in lines
    assert b"alice@example.org" not in filled and b"quarterly" not in filled
    assert b"numbers" not in filled and b"JVBERi0" not in filled
    assert filled.startswith(b"From: ") and b"\r\nSubject: " in filled
    assert b"\r\n..lorem" in filled  # still byte-stuffed
    assert b"\r\nAAAAAAAAAAAAAAAA\r\n" in filled  # base64-shaped
    assert placeholder_body(b"") == b""


def test_placeholder_bodies_keep_list_sizes_true(tmp_path: Path) -> None:
    record = tmp_path / "shapes.jsonl"
    with POP3Server(users={"alice": PASSWORD}) as upstream:
        upstream.mailbox("alice").add(MULTIPART, *MESSAGES)
        with recording_proxy(upstream.url, record) as port:
            real = poplib_session(port)
    with POP3Server(replay=record) as replay:
        replayed = poplib_session(replay.port)
    replay.check()
    assert replayed[2] == real[2]  # LIST
    sizes = [int(line.split()[1]) for line in replayed[2][1]]  # type: ignore[index]
    assert [r[2] for r in replayed[3:5]] == [r[2] for r in real[3:5]]  # octets as read
    retr1 = replayed[3][1]  # type: ignore[index]
    assert sum(len(line) + 2 for line in retr1) == sizes[0]
    assert retr1 != real[3][1]  # type: ignore[index]
    assert b"Gr\xc3\xbc\xc3\x9fe" not in record.read_bytes()


def test_a_fault_applies_on_top_of_a_replay(tmp_path: Path) -> None:
    record = recorded_poplib_session(tmp_path / "session.jsonl")
    with POP3Server(replay=record) as replay:
        replay.faults.add_spec("RETR 2: disconnect after_lines=2")
        client = poplib.POP3("127.0.0.1", replay.port, timeout=10)
        client.user("alice")
        client.pass_(PASSWORD)
        client.stat()
        client.list()
        client.retr(1)
        with pytest.raises(poplib.error_proto, match="EOF"):
            client.retr(2)
        client.close()
        replay.journal.wait_for(sessions_ended=1)
    session = replay.journal.sessions[0]
    assert session.end_reason == "fault: close"
    assert session.violations == []
    assert [c.state for c in session.commands][-1] == State.TRANSACTION.value


def test_connections_replay_in_order_and_one_too_many_is_refused(tmp_path: Path) -> None:
    record = tmp_path / "two.jsonl"
    with (
        upstream_server() as upstream,
        recording_proxy(upstream.url, record) as port,
    ):
        for _ in range(2):
            with RawClient("127.0.0.1", port) as raw:
                raw.line()
                raw.cmd("NOOP")
                raw.cmd("QUIT")
    assert [c.number for c in load_recording(record).connections] == [1, 2]
    with POP3Server(replay=record) as replay:
        for _ in range(2):
            with RawClient("127.0.0.1", replay.port) as raw:
                assert raw.line().startswith(b"+OK")
                assert raw.cmd("NOOP").startswith(b"-ERR")  # not logged in
                assert raw.cmd("QUIT").startswith(b"+OK")
        with RawClient("127.0.0.1", replay.port) as raw:
            assert raw.read_all() == (
                b"-ERR [SYS/PERM] pop3mock replay: the recording holds 2 connection(s)\r\n"
            )
        replay.journal.wait_for(sessions_ended=3)
    with pytest.raises(ClientViolationError, match="connection 3 of a recording of 2"):
        replay.check()


def test_pop3s_upstream_with_cafile(tmp_path: Path) -> None:
    record = tmp_path / "tls.jsonl"
    with POP3Server(users={"alice": PASSWORD}, implicit_tls=True) as upstream:
        upstream.mailbox("alice").add(*MESSAGES)
        url = f"pop3s://127.0.0.1:{upstream.tls_port}"
        with recording_proxy(url, record, "--cafile", tls.ca_file(), "--keep-bodies") as port:
            first = poplib_session(port)
    with POP3Server(replay=record) as replay:
        assert poplib_session(replay.port) == first
    replay.check()


def test_curl_recorded_and_replayed(tmp_path: Path) -> None:
    record = tmp_path / "curl.jsonl"
    with (
        upstream_server() as upstream,
        recording_proxy(upstream.url, record, "--keep-bodies") as port,
    ):
        first = [curl(f"pop3://127.0.0.1:{port}/{n}", "-u", f"alice:{PASSWORD}") for n in ("", "1")]
    with POP3Server(replay=record) as replay:
        second = [
            curl(f"pop3://127.0.0.1:{replay.port}/{n}", "-u", f"alice:{PASSWORD}")
            for n in ("", "1")
        ]
    replay.check()
    assert [r.returncode for r in first] == [0, 0]
    assert [r.stdout for r in second] == [r.stdout for r in first]
    assert first[1].stdout == MESSAGES[0]


def test_the_marker_option_builds_a_replaying_server(tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl"
    with (
        upstream_server() as upstream,
        recording_proxy(upstream.url, record, "--keep-bodies") as port,
    ):
        first = poplib_session(port)
    server, check = build_server({"replay": str(record), "replay_timing": False})
    with server:
        assert poplib_session(server.port) == first
    assert check
    server.check()


# -- bad input ---------------------------------------------------------------------------

HEADER = '{"pop3mock": "recording", "version": 1}'
OPEN = '{"conn": 1, "t": 0, "event": "open"}'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "empty, not a pop3mock recording"),
        (["{}"], 'line 1: not a pop3mock recording: the first line lacks "pop3mock"'),
        (["nonsense"], "line 1: not a pop3mock recording header: not JSON"),
        (
            ['{"pop3mock": "recording", "version": 2}'],
            "line 1: a recording of format version 2; this pop3mock reads version 1",
        ),
        ([HEADER, OPEN, "{not json"], "line 3: not JSON"),
        ([HEADER, OPEN, "[1]"], "line 3: expected a JSON object, got list"),
        ([HEADER, '{"conn": 1, "t": 0, "event": "reply", "data": "+OK\\r\\n"}'],
         "line 2: connection 1 starts with 'reply', not 'open'"),
        ([HEADER, '{"conn": 2, "t": 0, "event": "open"}'], "line 2: the first connection is 2"),
        ([HEADER, OPEN, '{"conn": 1, "t": -1, "event": "close", "by": "client"}'],
         "line 3: 't' must be seconds since the start"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "shout"}'], "line 3: 'event' must be one of"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "reply"}'], "line 3: a 'reply' needs 'data'"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "reply", "data": "+OK"}'],
         "line 3: a reply's 'data' must end with its line end"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "command"}'], "line 3: a 'command' needs 'line'"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "close"}'], "line 3: a 'close' needs 'by'"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "command", "line": "X", "extra": 1}'],
         "line 3: unknown key 'extra'"),
        ([HEADER, OPEN, OPEN], "line 3: connection 1 is opened twice"),
        ([HEADER, OPEN, '{"conn": 1, "t": 0, "event": "close", "by": "client"}',
          '{"conn": 1, "t": 0, "event": "command", "line": "X"}'],
         "line 4: connection 1 has an event after its close"),
        ([HEADER, OPEN, '{"conn": 3, "t": 0, "event": "open"}'],
         "line 3: connection 3 opens out of order (expected 2)"),
        ([HEADER, OPEN, ""], "line 3: an empty line"),
    ],
)  # fmt: skip
def test_a_malformed_recording_is_refused_with_its_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        POP3Server(replay=path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_a_missing_recording_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read the recording .*missing\.jsonl"):
        POP3Server(replay=tmp_path / "missing.jsonl")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pop3mock", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_the_cli_refuses_a_recording_of_another_version_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text('{"pop3mock": "recording", "version": 99}\n', encoding="utf-8")
    result = run_cli("serve", "--replay", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"pop3mock: error: {path}, line 1: a recording of format version 99; this pop3mock reads version "
        "1 (record it again with this pop3mock proxy)\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "0.0.0.0:0"], "--listen 0.0.0.0:0: pop3mock proxy listens on loopback only"),
        (["--listen", "nowhere"], "--listen nowhere: expected HOST:PORT"),
        (["--upstream", "http://x"], "expected a pop3:// or pop3s:// URL"),
        (["--upstream", "pop3://alice@host"], "expected pop3://HOST[:PORT] (no user, no path)"),
        (["--record", "/nonexistent/dir/r.jsonl"], "cannot write /nonexistent/dir/r.jsonl"),
        (["--timeout", "0"], "--timeout must be a number of seconds > 0"),
    ],
)
def test_the_proxy_refuses_bad_options_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    base = {"--upstream": "pop3://127.0.0.1:1", "--record": str(tmp_path / "r.jsonl")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = run_cli("proxy", *[w for pair in base.items() for w in pair])
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("pop3mock proxy: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_proxy_command_records_until_a_signal(tmp_path: Path, signum: int) -> None:
    record = tmp_path / "cli.jsonl"
    with upstream_server() as upstream:
        process = subprocess.Popen(
            [sys.executable, "-m", "pop3mock", "proxy", "--upstream", upstream.url,
             "--record", str(record), "--keep-bodies"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "0"},
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("listening on pop3://127.0.0.1:")
            port = int(line.rsplit(":", 1)[1])
            first = poplib_session(port)
            # A client still connected when the proxy stops: its close is recorded too.
            hanging = RawClient("127.0.0.1", port)
            hanging.line()
        finally:
            process.send_signal(signum)
            _, err = process.communicate(timeout=30)
        hanging.close()
    assert process.returncode == 0, err
    assert "recorded 2 connection(s)" in err
    recording = load_recording(record)
    assert [c.events[-1].by for c in recording.connections] == ["server", "proxy"]
    with POP3Server(replay=record) as replay:
        assert poplib_session(replay.port) == first
    replay.check()


def test_stls_upstream(tmp_path: Path) -> None:
    record = tmp_path / "stls.jsonl"
    with POP3Server(users={"alice": PASSWORD}, stls=True) as upstream:
        upstream.mailbox("alice").add(*MESSAGES)
        with recording_proxy(
            upstream.url, record, "--stls", "--cafile", tls.ca_file(), "--keep-bodies"
        ) as port:
            first = poplib_session(port)
        assert upstream.journal.sessions[0].tls
        assert upstream.journal.sessions[0].commands[0].verb == "STLS"
    with POP3Server(replay=record) as replay:
        assert poplib_session(replay.port) == first
    replay.check()


def test_an_unreachable_upstream_is_told_to_the_client_and_recorded(tmp_path: Path) -> None:
    record = tmp_path / "refused.jsonl"
    with POP3Server() as gone:
        url = gone.url
    with recording_proxy(url, record) as port, RawClient("127.0.0.1", port) as raw:
        reply = raw.read_all()
    assert reply.startswith(b"-ERR [SYS/TEMP] pop3mock proxy: upstream: connection refused")
    recording = load_recording(record)
    assert [e.kind for e in recording.connections[0].events] == ["open", "reply", "close"]
    assert recording.connections[0].events[-1].by == "server"


@pytest.mark.slow
def test_stopping_the_proxy_mid_conversation_leaves_a_complete_file(tmp_path: Path) -> None:
    # Threads and shutdown: many quick rounds, each stopping the proxy at another moment of
    # a conversation; every file must read back whole, every thread must be gone.
    with upstream_server() as upstream:
        for round_ in range(150):
            record = tmp_path / f"stop-{round_}.jsonl"
            with recording_proxy(upstream.url, record) as port:
                raw = RawClient("127.0.0.1", port)
                raw.line()  # accepted and greeted; the rest races with the stop
                for line in ["USER alice", f"PASS {PASSWORD}", "STAT", "LIST"][: round_ % 5]:
                    raw.send(line.encode() + b"\r\n")
            raw.close()
            recording = load_recording(record)
            (connection,) = recording.connections
            assert connection.events[0].kind == "open"
            assert connection.events[-1].kind == "close"


@pytest.mark.slow
def test_serve_replay_prints_what_it_replays_and_check_fails_on_a_difference(
    tmp_path: Path,
) -> None:
    record = recorded_poplib_session(tmp_path / "session.jsonl")
    process = subprocess.Popen(
        [sys.executable, "-m", "pop3mock", "serve", "--replay", str(record), "--check"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().rsplit(":", 1)[1])
        assert process.stdout.readline() == (
            f"replaying {record}: 1 recorded connection, one per client in order\n"
        )
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.user("alice")
        with pytest.raises(poplib.error_proto, match="expected 'PASS \\*\\*\\*'"):
            client.stat()
        client.quit()
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 3, err
    assert "replay: session 1: STAT: expected 'PASS ***' (line 6 of the recording)" in err
    assert "check failed: 1 protocol violation by clients" in err


def test_a_client_that_leaves_without_quit_as_recorded_is_no_violation(tmp_path: Path) -> None:
    record = tmp_path / "noquit.jsonl"
    with upstream_server() as upstream, recording_proxy(upstream.url, record) as port:
        with RawClient("127.0.0.1", port) as raw:
            raw.line()
            raw.cmd("USER alice")
            raw.cmd(f"PASS {PASSWORD}")
            raw.cmd("STAT")
        upstream.journal.wait_for(sessions_ended=1)
    for leave_after in (3, 2):
        with POP3Server(replay=record) as replay, RawClient("127.0.0.1", replay.port) as raw:
            raw.line()
            for line in ["USER alice", "PASS x", "STAT"][:leave_after]:
                raw.cmd(line)
            raw.close()
            replay.journal.wait_for(sessions_ended=1)
        if leave_after == 3:
            replay.check()  # left where the recorded client left
        else:
            with pytest.raises(ClientViolationError, match="connection closed without QUIT"):
                replay.check()


@pytest.mark.pop3(replay=Path(__file__).parent / "recordings" / "hello.jsonl")
def test_the_marker_replays_a_recording(pop3_server: POP3Server) -> None:
    client = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)
    assert client.getwelcome() == b"+OK Hello there."
    client.user("alice")
    assert client.pass_("anything") == b"+OK 20 Messages"
    assert client.list() == (b"+OK", [b"1 120"], 7)
    # The recorded server closed after LIST: so does the replay.
    assert client.file.readline() == b""
    client.close()


_LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@pytest.mark.slow
@given(st.lists(st.tuples(_LINE, st.sampled_from([b"\r\n", b"\n"])), max_size=30))
def test_placeholders_keep_every_line_length_and_its_leading_dots(
    lines: list[tuple[bytes, bytes]],
) -> None:
    wire = b"".join(text + ending for text, ending in lines)
    filled = placeholder_body(wire)
    assert len(filled) == len(wire)
    got = filled.splitlines(keepends=True)
    want = wire.splitlines(keepends=True)
    assert [len(line) for line in got] == [len(line) for line in want]
    for new, old in zip(got, want, strict=True):
        assert new.endswith(b"\n") == old.endswith(b"\n")
        # A byte-stuffed line stays byte-stuffed; no line starts a dot it did not have.
        assert new.startswith(b"..") == old.startswith(b"..")
        assert new.startswith(b".") == old.startswith(b".")
