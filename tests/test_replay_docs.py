"""The command lines and TOML blocks of docs/replay.md work as shown (its Python blocks are
run by tests/test_docs.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import run_shell_block
from pop3mock import POP3Server
from pop3mock.cli._config_file import load_config
from pop3mock.protocol._recording import load_recording

DOC = Path(__file__).resolve().parent.parent / "docs" / "replay.md"
FENCE = re.compile(r"```(?P<kind>toml|sh)\n(?P<body>.*?)```", re.S)
BLOCKS = [(m.group("kind"), m.group("body")) for m in FENCE.finditer(DOC.read_text("utf-8"))]
RECORDING = (
    '{"pop3mock": "recording", "version": 1}\n'
    '{"conn": 1, "t": 0, "event": "open"}\n'
    '{"conn": 1, "t": 0, "event": "reply", "data": "+OK hi\\r\\n"}\n'
    '{"conn": 1, "t": 0, "event": "close", "by": "client"}\n'
)


def test_the_document_has_both_kinds_of_block() -> None:
    assert sorted({kind for kind, _ in BLOCKS}) == ["sh", "toml"]


@pytest.mark.parametrize("text", [body for kind, body in BLOCKS if kind == "toml"])
def test_toml_block_configures_a_replay(text: str, tmp_path: Path) -> None:
    (tmp_path / "pop3mock.toml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "pop3mock.toml")
    replay = Path(config.values["replay"])
    assert replay.parent == tmp_path
    replay.write_text(RECORDING, encoding="utf-8")
    with POP3Server(replay=replay, replay_timing=config.values["replay_timing"]) as server:
        for spec in config.values["faults"]:
            server.faults.add_spec(spec)
        assert server.replay is not None


@pytest.mark.slow
@pytest.mark.parametrize("script", [body for kind, body in BLOCKS if kind == "sh"])
def test_shell_block_runs(script: str, tmp_path: Path) -> None:
    result = run_shell_block(script, tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    recorded = (tmp_path / "recorded.eml").read_bytes()
    replayed = (tmp_path / "replayed.eml").read_bytes()
    assert len(recorded) == len(replayed) > 100
    assert recorded != replayed
    assert "wonderland" not in (tmp_path / "session.jsonl").read_text(encoding="utf-8")
    assert load_recording(tmp_path / "session.jsonl").bodies == "placeholders"
