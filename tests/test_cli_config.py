"""The TOML config file of `pop3mock serve`, checked without a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock.cli._config_file import FILE_KEYS, OPTION_KEYS, load_config, parse_config
from pop3mock.errors import ConfigurationError

FULL = """\
host = "127.0.0.1"
port = 1110
tls_port = 1995
stls = true
tls_dir = "certs"
personality = "dovecot"
replay = "session.jsonl"
replay_timing = true
strict = true
check = true
idle_timeout = 30
journal = "pop3.jsonl"
ready_file = "pop3.ready"
quiet = false
fault_seed = 7
max_connections = 50
login_timeout = 60
drop_oldest_when_full = true
journal_keep = 500
auth_failure_delay = 2
max_auth_failures = 3
max_message_size = 1048576
session_keep_commands = 100
admin_port = 0
admin_host = "127.0.0.1"
admin_token = "s3cret"
admin_max_body = 1048576
fake = 5
seed = 3
faults = ["greeting: delay 0.5"]
greeting = "Test server ready."
capabilities = ["capa", "TOP", "UIDL", "USER", "SASL", "STLS"]
sasl_mechanisms = ["plain"]
apop = false
require_tls = true
login_delay = 60
enforce_login_delay = false
expire = "NEVER"
implementation = "test"
max_line_length = 512
strict_arguments = false
bad_command_limit = 3
auth_failure_delay_max = 30
utf8_required = false
hostname = "mail.test"

[texts]
quit = "Bye."

[[users]]
name = "alice"
password = "secret"
messages = "mail/alice"
faults = ["PASS: error [IN-USE] locked"]

[[users]]
name = "bob"
password = "hunter2"
fake = 20
seed = 9
token = "ya29.token"
"""


def test_full_file(tmp_path: Path) -> None:
    path = tmp_path / "pop3mock.toml"
    path.write_text(FULL, encoding="utf-8")
    config = load_config(path)
    assert config.path == str(path)
    # Paths are relative to the file's folder.
    assert config.values["tls_dir"] == str(tmp_path / "certs")
    assert config.values["journal"] == str(tmp_path / "pop3.jsonl")
    assert config.values["idle_timeout"] == 30.0
    assert config.values["replay"] == str(tmp_path / "session.jsonl")
    assert config.values["faults"] == ("greeting: delay 0.5",)
    assert config.options["capabilities"] == ["CAPA", "TOP", "UIDL", "USER", "SASL", "STLS"]
    assert config.options["sasl_mechanisms"] == ["PLAIN"]
    assert config.options["texts"] == {"quit": "Bye."}
    alice, bob = config.users
    assert (alice.name, alice.password, alice.messages) == (
        "alice",
        "secret",
        str(tmp_path / "mail" / "alice"),
    )
    assert alice.faults == ("PASS: error [IN-USE] locked",)
    assert alice.source == f"{path}: users[1]"
    assert (bob.fake, bob.seed, bob.token) == (20, 9, "ya29.token")
    # Every key of the file format is in the full example.
    assert set(FILE_KEYS) - {"messages", "cert", "key", "ca"} <= set(config.values)
    assert set(OPTION_KEYS) == set(config.options)


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    config = parse_config({"messages": "/srv/mail", "journal": "~/j.jsonl"}, str(tmp_path / "c"))
    assert config.values["messages"] == "/srv/mail"
    assert config.values["journal"] == str(Path("~/j.jsonl").expanduser())


def test_expire_accepts_days_and_never() -> None:
    assert parse_config({"expire": 0}, "c.toml").options["expire"] == "0"
    assert parse_config({"expire": "NEVER"}, "c.toml").options["expire"] == "NEVER"
    with pytest.raises(ConfigurationError, match=r"^c\.toml: expire: expected a number of days"):
        parse_config({"expire": "soon"}, "c.toml")


def test_booleans_are_not_integers() -> None:
    with pytest.raises(ConfigurationError, match="port: expected an integer"):
        parse_config({"port": True}, "c.toml")
    with pytest.raises(
        ConfigurationError, match=r"idle_timeout: expected 0 \(never\) or a number of seconds"
    ):
        parse_config({"idle_timeout": False}, "c.toml")


def test_apop_only_is_a_boolean_of_a_user() -> None:
    users = [{"name": "a", "password": "p", "apop_only": True}, {"name": "b", "password": "p"}]
    parsed = parse_config({"users": users}, "c.toml")
    assert [u.apop_only for u in parsed.users] == [True, False]
    with pytest.raises(ConfigurationError, match=r"users\[1\]\.apop_only"):
        parse_config({"users": [{"name": "a", "password": "p", "apop_only": "yes"}]}, "c.toml")


KNOWN = set(FILE_KEYS) | set(OPTION_KEYS) | {"users"}


@pytest.mark.slow
@given(st.text(min_size=1, max_size=20).filter(lambda key: key not in KNOWN), st.integers())
def test_unknown_keys_are_named(key: str, value: int) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_config({key: value}, "my.toml")
    assert str(info.value).startswith(f"my.toml: unknown key {key!r}")


@pytest.mark.slow
@given(
    st.sampled_from(sorted(KNOWN - {"users"})),
    st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=3),
)
def test_wrong_types_are_named(key: str, table: dict[str, int]) -> None:
    # No key takes a table of integers.
    with pytest.raises(ConfigurationError) as info:
        parse_config({key: table}, "my.toml")
    assert str(info.value).startswith(f"my.toml: {key}: ")
