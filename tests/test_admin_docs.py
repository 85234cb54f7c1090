"""Every curl call of docs/admin.md (then README.md's), run in order against a live `pop3mock serve`.

The examples use `$ADMIN` (the API's URL) and `$POP3` (the POP3 server's); a block that uses
`$ADMIN_TOKEN` runs against a second server started with that token. A `# {...}` line under
a command that holds a whole JSON value (no "...") must be printed exactly so (with this run's
POP3 port).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_cli import Served

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "admin.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
ADMIN = re.compile(r"^admin on (http://127\.0\.0\.1:\d+)$")
TOKEN = "doc-token-5d1e"
DOC_PORT = "41207"  # the POP3 port the examples show


def blocks(*docs: Path) -> list[str]:
    found = []
    for doc in docs or (DOC, ROOT / "README.md"):
        found += [b for b in BLOCK.findall(doc.read_text(encoding="utf-8")) if "$ADMIN" in b]
    return found


def expected_lines(block: str) -> list[str]:
    return [
        line[2:]
        for line in block.splitlines()
        if line.startswith("# {") and "..." not in line and line.endswith("}")
    ]


def run_block(block: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_the_doc_shows_every_route_with_curl() -> None:
    from pop3mock.admin._routes import ROUTES

    text = "\n".join(blocks(DOC))
    for route in ROUTES:
        pattern = re.sub(r"\\\{\w+\\\}", '[^/?" ]+', re.escape(route))
        assert re.search(rf"\$ADMIN{pattern}[?\"]", text), f"{route} has no curl example"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_examples_run_against_a_live_server() -> None:
    found = blocks()
    assert len(found) > 10
    served_args = ["--user", "alice:secret", "--fake", "3", "--admin-port", "0"]
    with (
        Served(*served_args) as served,
        Served(*served_args, "--admin-token", TOKEN, "--quiet") as guarded,
    ):
        port = served.port()
        url = ADMIN.match(served.until("admin on")[-1])
        assert url
        guarded.port()
        token_url = ADMIN.match(guarded.line())
        assert token_url
        env = {"ADMIN": url.group(1), "POP3": f"pop3://127.0.0.1:{port}"}
        token_env = {"ADMIN": token_url.group(1), "ADMIN_TOKEN": TOKEN}
        for block in found:
            result = run_block(block, token_env if "$ADMIN_TOKEN" in block else env)
            assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
            assert '"error":"server error' not in result.stdout
            for line in expected_lines(block):
                line = line.replace(DOC_PORT, str(port))
                assert line in result.stdout.splitlines(), f"{block}\n{result.stdout}"
            if "$ADMIN_TOKEN" in block:
                assert result.stdout.splitlines()[-1] == "401"
        for server in (served, guarded):
            status, _, err = server.stop()
            assert status == 0, err
