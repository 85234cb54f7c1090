"""The personality files and the probe command shown in docs/personalities.md and
docs/quirks.md work as shown."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from helpers import run_shell_block
from pop3mock import POP3Server
from pop3mock.protocol._personality_file import parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

DOCS = Path(__file__).resolve().parent.parent / "docs"
DOCUMENTS = [path.name for path in (DOCS / "personalities.md", DOCS / "quirks.md") if path.exists()]
FENCE = re.compile(r"```(?P<kind>toml|sh)\n(?P<body>.*?)```", re.S)


def blocks(kind: str) -> list[tuple[str, str]]:
    found = []
    for name in DOCUMENTS:
        text = (DOCS / name).read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group("kind") == kind:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{name}:{line}", match.group("body")))
    return found


TOML = blocks("toml")
SHELL = blocks("sh")


def test_the_documents_have_examples() -> None:
    assert len(TOML) >= 5
    assert SHELL


@pytest.mark.parametrize(("where", "text"), TOML, ids=[where for where, _ in TOML])
def test_toml_block_is_a_personality_file_pop3mock_serves(
    where: str, text: str, tmp_path: Path
) -> None:
    parse(tomllib.loads(text), where)
    path = tmp_path / "block.toml"
    path.write_text(text, encoding="utf-8")
    with POP3Server(personality=path) as server:
        assert server.port


@pytest.mark.slow
@pytest.mark.parametrize(("where", "script"), SHELL, ids=[where for where, _ in SHELL])
def test_shell_block_runs(where: str, script: str, tmp_path: Path) -> None:
    result = run_shell_block(script, tmp_path)
    assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"
    if "pop3mock probe" in script:
        written = (tmp_path / "dovecot-like.toml").read_text(encoding="utf-8")
        assert tomllib.loads(written)["greeting"]["text"] == "Dovecot (Debian) ready."
        assert "wonderland" not in written + result.stderr
        assert (tmp_path / "listing.txt").read_text().startswith("1 ")
