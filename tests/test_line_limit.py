"""The command-line limit has one name, max_line_length, in Python, in ServerConfig and in
personality files (whose former key max_command_length is still read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pop3mock import ConfigurationError, POP3Server, ServerConfig, Session
from pop3mock.protocol._personality import personality_config

FILE = """\
format = 1

[strictness]
{key} = 40
"""


def test_server_option_and_config_field_share_the_name() -> None:
    config = ServerConfig(max_line_length=40)
    assert config.max_line_length == 40
    with POP3Server(max_line_length=40) as server:
        assert server.config.max_line_length == 40
    server.check()
    with pytest.raises(TypeError):
        ServerConfig(max_command_length=40)  # type: ignore[call-arg]


def test_the_limit_is_applied_under_its_one_name() -> None:
    session = Session(ServerConfig(max_line_length=10), {})
    assert session.handle(b"NOOP x").text != "Line too long."
    assert session.handle(b"NOOP xxxxxx").text == "Line too long."  # 11 octets with CRLF


@pytest.mark.parametrize("key", ["max_line_length", "max_command_length"])
def test_personality_files_take_the_name_and_its_former_one(tmp_path: Path, key: str) -> None:
    path = tmp_path / "own.toml"
    path.write_text(FILE.format(key=key), encoding="utf-8")
    assert personality_config(path).max_line_length == 40


def test_a_personality_file_with_both_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "own.toml"
    path.write_text(FILE.format(key="max_line_length") + "max_command_length = 50\n")
    with pytest.raises(ConfigurationError, match="keep max_line_length"):
        personality_config(path)


@pytest.mark.parametrize("value", [7, "300", True, 40.0, None])
def test_a_bad_limit_is_refused_naming_the_option(value: object) -> None:
    with pytest.raises(ConfigurationError, match="max_line_length must be a whole number"):
        POP3Server(max_line_length=value)
    with pytest.raises(ConfigurationError, match="max_line_length must be a whole number"):
        ServerConfig(max_line_length=value)  # type: ignore[arg-type]
