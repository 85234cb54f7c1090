"""The control API examples in other languages, run as their users run them: a Node.js test
(`node --test examples/admin_node/`) and a Java program (`java Example.java` with Apache
Commons Net). Each starts `pop3mock serve --admin-port 0` with this Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
COMMONS_NET = Path("/usr/share/java/commons-net.jar")
INSTALL = "install it with scripts/install-test-clients.sh"


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "POP3MOCK_PYTHON": sys.executable},
    )


def test_node_client_through_the_control_api() -> None:
    if shutil.which("node") is None:
        pytest.skip(f"the Node.js runtime (node) is not installed: {INSTALL}")
    result = run(["node", "--test", str(HERE / "admin_node")])
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "# pass 1" in result.stdout


def test_java_client_through_the_control_api() -> None:
    if shutil.which("java") is None:
        pytest.skip(f"the Java runtime (java, JDK 11 or later) is not installed: {INSTALL}")
    if not COMMONS_NET.exists():
        pytest.skip(f"Apache Commons Net ({COMMONS_NET}) is not installed: {INSTALL}")
    result = run(["java", "-cp", str(COMMONS_NET), str(HERE / "admin_java" / "Example.java")])
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.startswith("ok:")
