"""pop3mock serve --admin-port: the control API of the command-line server."""

from __future__ import annotations

import poplib
import re
import signal
from pathlib import Path

import pytest

from admin_helpers import ApiClient
from test_cli import Served, run

ADMIN = re.compile(r"^admin on (http://127\.0\.0\.1:\d+)$")


@pytest.mark.slow
def test_admin_line_ready_file_and_a_client_driven_through_the_api(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    journal = tmp_path / "journal.jsonl"
    args = ["--admin-port", "0", "--admin-token", "tok-8c1f", "--ready-file", str(ready)]
    with Served(*args, "--journal", str(journal)) as served:
        port = served.port()
        match = ADMIN.match(served.line())
        assert match, served.lines  # right after the listening line
        url = match.group(1)
        assert ready.read_text() == f"pop3://127.0.0.1:{port}\n{url}\n"
        with ApiClient(url, token="tok-8c1f") as api:
            assert api.get("/health")["port"] == port
            reply = api.call(
                "POST", "/users", {"name": "zoe", "password": "pw-77", "messages": ["Hi\r\n"]}
            )
            assert reply.status == 201
            fault = api.call("POST", "/faults", {"spec": "RETR 1 once: error [SYS/TEMP] busy"})
            assert fault.status == 201
            client = poplib.POP3("127.0.0.1", port, timeout=10)
            client.user("zoe")
            client.pass_("pw-77")
            with pytest.raises(poplib.error_proto, match="busy"):
                client.retr(1)
            assert client.retr(1)[1] == [b"Hi"]
            client.quit()
            api.get("/journal/wait?sessions_ended=1")
            ok = api.call("POST", "/journal/verify", {"command": "RETR", "args": ["1"], "count": 2})
            assert ok.status == 200, ok
        status, out, err = served.stop()
    assert status == 0, err
    everything = "\n".join(served.lines) + out + err + journal.read_text()
    assert "tok-8c1f" not in everything
    assert "pw-77" not in journal.read_text()


@pytest.mark.slow
def test_quiet_still_prints_the_admin_line() -> None:
    with Served("--quiet", "--admin-port", "0") as served:
        port = served.port()
        assert ADMIN.match(served.line())
        status, out, _ = served.stop(signal.SIGINT)
    assert status == 0
    assert served.lines[0] == f"listening on pop3://127.0.0.1:{port}"
    assert out == ""


@pytest.mark.slow
def test_config_file_keys(tmp_path: Path) -> None:
    config = tmp_path / "pop3mock.toml"
    config.write_text('admin_port = 0\nadmin_token = "t0k"\nadmin_max_body = 100\n')
    with Served("--config", str(config)) as served:
        served.port()
        url = ADMIN.match(served.line())
        assert url
        with ApiClient(url.group(1), token="t0k") as api:
            assert api.call("GET", "/users").status == 200
            big = api.call(
                "POST", "/users/user/messages", b"x" * 101, content_type="message/rfc822"
            )
            assert big.status == 413
        served.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--admin-port", "0", "--admin-host", "0.0.0.0"],
            "the control API on 0.0.0.0 would let anyone who reaches it change the server",
        ),
        (["--admin-token", "x"], "--admin-token needs --admin-port"),
        (
            ["--admin-port", "0", "--admin-max-body", "0"],
            "--admin-max-body: expected an integer >= 1",
        ),
    ],
)
def test_refused_before_anything_listens(args: list[str], message: str) -> None:
    result = run("serve", "--port", "0", *args)
    assert result.returncode == 2
    assert result.stdout == ""  # no "listening on": nothing was bound
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
