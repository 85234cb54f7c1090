"""pop3mock probe: round trips through pop3mock's own personalities, the command line, and
what it says about things that are not POP3 servers."""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import pop3mock
from pop3mock import POP3Server
from pop3mock.probe import ProbeError, Target, probe, render
from pop3mock.probe._connection import _Connection, _greeting
from pop3mock.protocol._personality_file import FORMAT
from pop3mock.server import tls
from transcripts import SCRIPT, flatten, same_transcripts, transcript

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

BUILTIN_FOLDER = Path(pop3mock.__file__).parent / "protocol" / "personalities"
MESSAGES = [
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nfirst line\r\nsecond line\r\n",
    b"Subject: two\r\n\r\n.a dot line\r\n",
    b"Subject: three\r\n\r\nthird\r\n",
]
SECRET = "wonder land 42"
# Keys a probe writes that no personality sets: measured, or about the run.
MEASURED = ("latency.", "probe.")


def served(personality: str | Path, stls: bool | None = None) -> POP3Server:
    stls = "dovecot" in str(personality) if stls is None else stls
    server = POP3Server(personality=personality, stls=stls)  # type: ignore[arg-type]
    server.add_user("alice", SECRET, MESSAGES)
    return server


def probe_of(server: POP3Server, **options: Any) -> dict[str, Any]:
    if server.implicit_tls:
        target = Target(server.host, server.tls_port, "alice", "implicit")
        options.setdefault("context", tls.client_context())
    else:
        target = Target(server.host, server.port, "alice")
    return probe(target, SECRET, timeout=10, **options)


def builtin(name: str) -> dict[str, Any]:
    return tomllib.loads((BUILTIN_FOLDER / f"{name}.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["dovecot", "gmail", "rfc1939"])
def test_probe_of_a_builtin_personality_gives_it_back(name: str) -> None:
    with served(name) as server:
        document = probe_of(server)
    written, shipped = flatten(document), flatten(builtin(name))
    both = sorted(set(written) & set(shipped))
    assert both, "the probe wrote none of the keys the personality has"
    assert {key: written[key] for key in both} == {key: shipped[key] for key in both}
    assert written["format"] == FORMAT


@pytest.mark.parametrize("name", ["default", "dovecot", "gmail", "rfc1939"])
def test_serving_what_the_probe_wrote_answers_the_same(name: str, tmp_path: Path) -> None:
    # A fresh server for each run: under gmail's EXPIRE 0, RETR deletes at QUIT.
    with served(name) as server:
        document = probe_of(server)
    with served(name) as server:
        original = transcript(server, SCRIPT)
    path = tmp_path / "probed.toml"
    path.write_text(render(document), encoding="utf-8")
    stls = "STLS" in document["capabilities"]["before_login"]
    with served(path, stls) as copy:
        assert same_transcripts(original, transcript(copy, SCRIPT))
    with served(path, stls) as copy:
        again = probe_of(copy)
    first, second = flatten(document), flatten(again)
    for flat in (first, second):
        for key in [k for k in flat if k.startswith(MEASURED)]:
            del flat[key]
    assert first == second  # a fixed point: the probe of the copy is the same file


def test_file_holds_forms_not_content() -> None:
    with served("default") as server:
        text = render(probe_of(server))
    for secret in (SECRET, "alice", "first line", "a dot line", "Subject", "127.0.0.1"):
        assert secret not in text


def test_keep_host_writes_host_and_apop_host_name() -> None:
    with served("default") as server:
        document = probe_of(server, keep_host=True)
        assert document["probe"]["host"] == f"127.0.0.1:{server.port}"
        assert document["hostname"] == server.config.hostname


def test_no_retr_when_retrieved_messages_expire() -> None:
    # EXPIRE 0: a message retrieved is deleted at QUIT; the probe must change nothing.
    seen: list[str] = []
    with served("gmail") as server:
        probe_of(server, log=seen.append)
        assert len(server.mailbox("alice").messages) == len(MESSAGES)
    assert "> RETR 1" not in seen
    assert "note: the server advertises EXPIRE 0: RETR 1 not sent" in seen


def test_no_failed_login_and_no_retr_leave_those_commands_out() -> None:
    seen: list[str] = []
    with served("dovecot") as server:
        document = probe_of(server, failed_login=False, retr=False, log=seen.append)
        commands = [c.verb for s in server.journal.sessions for c in s.commands]
    assert "RETR" not in commands
    assert commands.count("PASS") == 1
    assert "DELE" not in commands
    assert "retr" not in document["texts"] and "auth_failed" not in document["texts"]
    assert "> PASS ***" in seen


def test_top_that_ignores_its_line_count_and_missing_codes_are_seen() -> None:
    with POP3Server(top_ignores_lines=True, response_codes=[]) as server:
        server.add_user("alice", SECRET, MESSAGES)
        document = probe_of(server)
    assert document["strictness"]["top_ignores_lines"] is True
    assert document["response_codes"] == []


# -- the command line -------------------------------------------------------------------------


def run_probe(
    *args: str, password: str | None = SECRET, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POP3MOCK_PROBE_PASSWORD"}
    if password is not None:
        env["POP3MOCK_PROBE_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "pop3mock", "probe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_command_line_writes_the_file_and_masks_what_it_prints(tmp_path: Path) -> None:
    out = tmp_path / "server.toml"
    with served("dovecot") as server:
        result = run_probe(f"pop3://alice@127.0.0.1:{server.port}", "--out", str(out))
        assert result.returncode == 0, result.stderr
        to_stdout = run_probe(f"pop3://alice@127.0.0.1:{server.port}", "--no-retr")
    assert result.stdout == ""
    assert "> USER ***" in result.stderr and "> PASS ***" in result.stderr
    assert "> RETR 1" in result.stderr and "DELE" not in result.stderr
    assert SECRET not in result.stderr + out.read_text()
    assert tomllib.loads(to_stdout.stdout)["greeting"]["text"] == "Dovecot (Debian) ready."
    with POP3Server(personality=out) as copy:
        after_login = builtin("dovecot")["capabilities"]["after_login"]
        assert copy.config.capa_after_login == tuple(after_login)


@pytest.mark.slow
def test_password_never_from_the_url_and_none_without_a_terminal() -> None:
    result = run_probe("pop3://alice:pw@127.0.0.1:1", password=None)
    assert result.returncode == 2
    assert "the URL holds a password" in result.stderr
    result = run_probe("pop3://alice@127.0.0.1:1", password=None)
    assert result.returncode == 2
    assert result.stderr == (
        "pop3mock probe: error: no password: set $POP3MOCK_PROBE_PASSWORD (standard input "
        "is not a terminal to ask for it)\n"
    )


# -- things that are not POP3 servers ---------------------------------------------------------


def one_line_error(target: Target, timeout: float = 2, **options: Any) -> str:
    with pytest.raises(ProbeError) as caught:
        probe(target, SECRET, timeout=timeout, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_closed_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = one_line_error(Target("127.0.0.1", port, "alice"))
    assert message == f"connection refused by 127.0.0.1:{port}: nothing listens there"


def test_a_socket_that_accepts_and_never_answers() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # the kernel completes the connection; nobody ever reads or writes
        message = one_line_error(Target("127.0.0.1", sock.getsockname()[1], "alice"), 0.3)
    assert message == (
        "no greeting within 0.3 s: the server accepted the connection and said nothing, "
        "even to a line"
    )


@contextlib.contextmanager
def http_server() -> Iterator[int]:
    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.slow
def test_an_http_server() -> None:
    with http_server() as port:
        message = one_line_error(Target("127.0.0.1", port, "alice"), 1)
    assert message.startswith("not POP3: an HTTP server (it answered ")


def test_plain_pop3_on_a_pop3s_url() -> None:
    with served("default") as server:
        message = one_line_error(
            Target(server.host, server.port, "alice", "implicit"), context=tls.client_context()
        )
    assert message.startswith("the TLS handshake (pop3s://) failed")
    assert "the server does not speak TLS there" in message


@pytest.mark.slow
def test_pop3s_on_a_plain_url() -> None:
    with POP3Server(implicit_tls=True) as server:
        message = one_line_error(Target(server.host, server.tls_port, "alice"), 2)
    assert message == (
        "no greeting: the server accepted the connection, said nothing, and closed it when "
        "sent a line (a TLS server does so: try pop3s://)"
    )


@pytest.mark.slow
def test_untrusted_certificate_and_insecure(tmp_path: Path) -> None:
    with served("gmail") as server:
        target = Target(server.host, server.tls_port, "alice", "implicit")
        message = one_line_error(target)  # the system's CAs: pop3mock's own CA is not one
        assert "the certificate is not trusted" in message and "--insecure" in message
        result = run_probe(f"pop3s://alice@127.0.0.1:{server.tls_port}", "--insecure")
        assert result.returncode == 0, result.stderr
        ca = tmp_path / "ca.pem"
        ca.write_bytes(tls.ca_pem())
        result = run_probe(f"pop3s://alice@localhost:{server.tls_port}", "--cafile", str(ca))
        assert result.returncode == 0, result.stderr


def test_stls_upgrade() -> None:
    with served("dovecot") as server:
        document = probe_of_stls(server)
        assert document["probe"]["tls"] == "stls"
        sessions = server.journal.sessions
        assert len(sessions) == 2
        assert all("STLS" in [c.verb for c in s.commands] for s in sessions)


def probe_of_stls(server: POP3Server) -> dict[str, Any]:
    target = Target(server.host, server.port, "alice", "stls")
    return probe(target, SECRET, timeout=10, context=tls.client_context())


@pytest.mark.slow
def test_wrong_password_is_refused_with_one_line() -> None:
    with served("default") as server:
        with pytest.raises(ProbeError, match=r"^login refused: '\[AUTH\] Authentication failed\.'"):
            probe(Target(server.host, server.port, "alice"), "nope", timeout=5)
        result = run_probe(f"pop3://alice@127.0.0.1:{server.port}", password="nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "pop3mock probe: error: login refused: '[AUTH] Authentication failed.'"
    )


def test_document_is_valid_toml_for_every_form(tmp_path: Path) -> None:
    document: Mapping[str, Any]
    with served("gmail") as server:
        document = probe_of(server)
    assert tomllib.loads(render(document)) == document


def test_a_greeting_that_comes_only_after_a_line_is_still_a_greeting() -> None:
    # The server greets once it is sent something: the probe's nudge (CAPA) is answered
    # after the greeting, and the probe reads both.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def late_greeter() -> None:
            conn, _ = listener.accept()
            with conn:
                data = b""
                while not data.endswith(b"CAPA\r\n"):
                    data += conn.recv(100)
                conn.sendall(b"+OK late\r\n+OK\r\nUSER\r\n.\r\n")
                conn.recv(100)  # until the probe closes

        thread = threading.Thread(target=late_greeter)
        thread.start()
        conn = _Connection(Target("127.0.0.1", listener.getsockname()[1], "alice"), 0.4, None)
        try:
            assert _greeting(conn).line == b"+OK late"
            assert conn.buffer == b""
        finally:
            conn.close()
            thread.join()


@pytest.mark.slow
def test_out_file_that_cannot_be_written(tmp_path: Path) -> None:
    with served("default") as server:
        out = tmp_path / "no" / "such" / "folder.toml"
        result = run_probe(f"pop3://alice@127.0.0.1:{server.port}", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"pop3mock probe: error: cannot write {out}: No such file or directory"
    )


@contextlib.contextmanager
def scripted_server(replies: Mapping[str, bytes]) -> Iterator[int]:
    """A POP3 server of canned replies by command (`-ERR` for the rest), for `connections`
    connections in turn: a server pop3mock is not."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve(connections: int = 2) -> None:
        for _ in range(connections):
            conn, _ = listener.accept()
            with conn, conn.makefile("rwb") as stream:
                stream.write(b"+OK canned POP3\r\n")
                stream.flush()
                for raw in stream:
                    command = raw.decode().strip()
                    stream.write(replies.get(command, b"-ERR no\r\n"))
                    stream.flush()
                    if command == "QUIT":
                        break

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(10)
        listener.close()


CANNED = {
    "CAPA": b"+OK\r\nUSER\r\nX-GOOGLE-RICO\r\nSASL PLAIN GSSAPI NTLM\r\nUIDL\r\nTOP\r\n.\r\n",
    "USER alice": b"+OK\r\n",
    f"PASS {SECRET}": b"+OK in\r\n",
    "STAT": b"+OK 1 19\r\n",
    "LIST": b"+OK 1 message\r\n1 19\r\n.\r\n",
    "LIST 1": b"+OK 1 19\r\n",
    "UIDL": b"+OK\r\n1 0000abcd\r\n.\r\n",
    "UIDL 1": b"+OK 1 0000abcd\r\n",
    "TOP 1 0": b"+OK\r\nA: b\r\n\r\n.\r\n",
    "RETR 1": b"+OK\r\nA: b\r\n\r\nbody\r\n.\r\n",
    "NOOP": b"+OK\r\n",
    "RSET": b"+OK\r\n",
    "QUIT": b"+OK bye\r\n",
}


def test_what_pop3mock_cannot_offer_is_left_out_and_named(tmp_path: Path) -> None:
    seen: list[str] = []
    with scripted_server(CANNED) as port:
        document = probe(Target("127.0.0.1", port, "alice"), SECRET, timeout=5, log=seen.append)
    assert document["capabilities"]["before_login"] == ["USER", "SASL PLAIN", "UIDL", "TOP"]
    assert document["probe"]["dropped"] == ["X-GOOGLE-RICO", "SASL GSSAPI", "SASL NTLM"]
    assert "note: pop3mock cannot offer 'X-GOOGLE-RICO': left out of the file" in seen
    assert document["uidl"] == {"form": "message", "pattern": "[0-9a-f]{8}"}
    assert document["texts"]["list"] == "{count} message"
    path = tmp_path / "canned.toml"
    path.write_text(render(document), encoding="utf-8")
    with POP3Server(personality=path) as server:
        assert server.config.mechanisms == ("PLAIN",)


def test_a_server_that_closes_after_a_wrong_password() -> None:
    with POP3Server(max_auth_failures=1) as server:
        server.add_user("alice", SECRET, MESSAGES)
        target = Target(server.host, server.port, "alice")
        message = one_line_error(target)
        assert message.endswith(", after the wrong password: try --no-failed-login")
        assert probe(target, SECRET, timeout=5, failed_login=False)["last"] is True
