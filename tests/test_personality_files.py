"""Personality files: the built-in ones load to exactly the presets pop3mock had in code,
user files load through the same loader, and malformed files are refused by key."""

from __future__ import annotations

import poplib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pop3mock
from pop3mock import ConfigurationError, POP3Server, ServerConfig
from pop3mock.protocol._personality import load_personality, personality_config
from pop3mock.protocol._personality_file import dumps
from test_cli import Served, run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

BUILTIN_FOLDER = Path(pop3mock.__file__).parent / "protocol" / "personalities"

# The presets as pop3mock defined them in code before they moved to files: each built-in
# file must load to exactly this ServerConfig.
BEFORE: dict[str, dict[str, Any]] = {
    "rfc1939": {
        "capabilities": frozenset({"USER"}),
        "apop": False,
        "last": False,
        "texts": {"greeting": "POP3 server ready"},
    },
    "dovecot": {
        "capabilities": frozenset(
            {
                "AUTH-RESP-CODE",
                "CAPA",
                "PIPELINING",
                "RESP-CODES",
                "SASL",
                "STLS",
                "TOP",
                "UIDL",
                "USER",
            }
        ),
        "capa_order": (
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "PIPELINING",
            "AUTH-RESP-CODE",
            "STLS",
            "USER",
            "SASL",
        ),
        "mechanisms": ("PLAIN", "LOGIN", "CRAM-MD5"),
        "apop": True,
        "last": False,
        "uid_format": "dovecot",
        "strict_arguments": False,
        "bad_command_limit": 4,
        "bad_command_limit_after_login": 21,
        "texts": {
            "greeting": "Dovecot (Debian) ready.",
            "unknown": "Unknown command.",
            "unknown_trans": "Unknown command: {verb}",
            "off": "Unknown command.",
            "stls_after_login": "Unknown command: STLS",
            "utf8_again": "Unknown command: UTF8",
            "bad_state_auth": "Unknown command.",
            "bad_state_trans": "Unknown command: {verb}",
            "no_such": "There's no message {n}.",
            "deleted": "Message is deleted.",
            "bad_number": "Invalid message number.",
            "user_ok": "",
            "no_user": "No username given.",
            "login_ok": "Logged in.",
            "auth_failed": "Authentication failed.",
            "in_use": "Mailbox is locked by another POP3 session.",
            "quit": "Logging out",
            "quit_update": "Logging out.",
            "list": "{count} messages:",
            "retr": "{size} octets",
            "dele": "Marked to be deleted.",
            "rset": "",
            "capa": "",
            "uidl": "",
            "top": "",
            "auth_list": "",
            "auth_unsupported": "Unsupported authentication mechanism.",
            "auth_cancelled": "Authentication aborted by client.",
            "auth_base64": "Invalid base64 in response",
            "stls": "Begin TLS negotiation now.",
            "stls_active": "TLS is already active.",
            "too_long": "Input line too long.",
            "too_many_bad": "Too many invalid bad commands.",
            "too_many_bad_trans": "Too many bad commands.",
        },
    },
    "gmail": {
        "capabilities": frozenset(
            {"CAPA", "EXPIRE", "LOGIN-DELAY", "RESP-CODES", "SASL", "TOP", "UIDL", "USER"}
        ),
        "capa_order": ("USER", "RESP-CODES", "EXPIRE", "LOGIN-DELAY", "TOP", "UIDL", "SASL"),
        "mechanisms": ("PLAIN", "XOAUTH2", "OAUTHBEARER"),
        "apop": False,
        "expire": "0",
        "login_delay": 300,
        "uid_format": "gmail",
        "hostname": "mx.google.com",
        "texts": {
            "greeting": "Gpop ready for requests from 127.0.0.1",
            "user_ok": "send PASS",
            "login_ok": "Welcome.",
            "auth_failed": "Username and password not accepted.",
            "quit": "Farewell.",
            "quit_update": "Farewell.",
            "capa": "Capability list follows",
            "dele": "marked for deletion",
            "noop": "",
            "unknown": "Unknown command.",
        },
    },
}


# What changed since, each measured on the real server.
SINCE: dict[str, dict[str, Any]] = {
    # Dovecot 2.3.19: CAPA after login comes from the mail process, which lists less; USER
    # takes any rest of the line as the name, even none.
    "dovecot": {
        "capa_after_login": ("CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"),
        "strict_user_name": False,
    },
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_builtin_file_loads_to_the_preset_it_replaces(name: str) -> None:
    expected = ServerConfig(**BEFORE[name], **SINCE.get(name, {}), personality=name)
    assert personality_config(name) == expected


# -- a user's own file ------------------------------------------------------------------------

OWN = """\
format = 1
description = "a hand-written server"
last = false

[greeting]
text = "Example POP3 ready"
apop = false

[capabilities]
capa = true
before_login = ["CAPA", "TOP", "UIDL", "RESP-CODES", "USER", "SASL PLAIN"]
after_login = ["CAPA", "TOP", "UIDL"]

[strictness]
arguments = false

[uidl]
form = "dovecot"

[texts]
login_ok = "Welcome aboard."
list = "{count} Messages"
"""

MESSAGES = [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n"]


def own_file(tmp_path: Path, text: str = OWN, name: str = "own.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("as_str", [True, False])
def test_own_file_by_path_walked_by_poplib(tmp_path: Path, as_str: bool) -> None:
    path = own_file(tmp_path)
    personality = str(path) if as_str else path
    with POP3Server(personality=personality) as server:  # type: ignore[arg-type]
        server.add_user("alice", "wonderland", MESSAGES)
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert client.getwelcome() == b"+OK Example POP3 ready"
        assert list(client.capa()) == ["CAPA", "TOP", "UIDL", "RESP-CODES", "USER", "SASL"]
        client.user("alice")
        assert client.pass_("wonderland") == b"+OK Welcome aboard."
        assert list(client.capa()) == ["CAPA", "TOP", "UIDL"]
        assert client.list()[0] == b"+OK 2 Messages"
        assert client._shortcmd("STAT extra").startswith(b"+OK 2 ")  # lenient arguments
        assert re.fullmatch(rb"1 [0-9a-f]{16}", client.uidl(1).split(b" ", 1)[1])
        client.quit()
    assert server.config.personality == str(path)


def test_a_file_rewritten_between_two_servers_is_read_again(tmp_path: Path) -> None:
    path = own_file(tmp_path)
    assert POP3Server(personality=path).config.text("greeting") == "Example POP3 ready"
    path.write_text(OWN.replace("Example POP3 ready", "Changed, and longer"), encoding="utf-8")
    assert POP3Server(personality=path).config.text("greeting") == "Changed, and longer"


@pytest.mark.slow
def test_marker_and_serve_take_a_personality_file(tmp_path: Path) -> None:
    path = own_file(tmp_path)
    with Served("--personality", str(path)) as served:
        port = served.port()
        client = poplib.POP3("127.0.0.1", port, timeout=10)
        assert client.getwelcome() == b"+OK Example POP3 ready"
        client.quit()
        assert served.stop()[0] == 0


@pytest.mark.slow
def test_config_file_personality_is_relative_to_the_config_file(tmp_path: Path) -> None:
    own_file(tmp_path)
    config = tmp_path / "serve.toml"
    config.write_text('personality = "own.toml"\n', encoding="utf-8")
    with Served("--config", str(config), cwd=Path("/")) as served:
        client = poplib.POP3("127.0.0.1", served.port(), timeout=10)
        assert client.getwelcome() == b"+OK Example POP3 ready"
        client.quit()
        assert served.stop()[0] == 0


@pytest.mark.pop3(personality=str(BUILTIN_FOLDER / "dovecot.toml"))
def test_marker_personality_path(pop3_server: POP3Server) -> None:
    client = poplib.POP3(pop3_server.host, pop3_server.port, timeout=10)
    assert client.getwelcome().startswith(b"+OK Dovecot (Debian) ready. <")
    client.quit()


def test_strict_user_name_off_answers_a_nameless_user_and_fails_at_pass() -> None:
    with POP3Server(strict_user_name=False, users={"alice": "pw"}) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert client.user("") == b"+OK Send PASS."
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Authentication failed"):
            client.pass_("pw")
        client.quit()


# -- malformed files --------------------------------------------------------------------------

BAD = [
    ("[greeting]\ntxt = 'x'\n", r"unknown key in \[greeting\] 'txt' \(did you mean 'text'\?\)"),
    ("descripton = 'x'\n", r"unknown key 'descripton' \(did you mean 'description'\?\)"),
    ("[greeting]\napop = 'yes'\n", r"greeting\.apop: expected true or false, got 'yes'"),
    ("last = 1\n", r"last: expected true or false, got 1"),
    ("[uidl]\nform = 'md5'\n", r"uidl\.form: expected one of 'message', 'dovecot', 'gmail'"),
    ("[texts]\nlogin = 'hi'\n", r"unknown key in \[texts\] 'login' \(did you mean 'login_ok'\?\)"),
    (
        "[capabilities]\nbefore_login = ['CAPA', 'UIDLL']\n",
        r"capabilities\.before_login: unknown capability 'UIDLL' \(did you mean 'UIDL'\?\)",
    ),
    (
        "[capabilities]\nbefore_login = ['SASL PLAIN']\nafter_login = ['SASL LOGIN']\n",
        r"capabilities\.after_login: 'SASL LOGIN' differs from before_login's 'SASL PLAIN'",
    ),
    ("[capabilities]\nbefore_login = ['TOP 10']\n", r"TOP takes no arguments here"),
    ("format = 2\n", r"format: this is a format 2 personality file; this pop3mock reads format 1"),
    ("[strictness]\nbad_command_limit = -1\n", r"strictness\.bad_command_limit: expected a whole"),
    ("greeting = 'hi'\n", r"greeting: expected a table, got 'hi'"),
    ('[texts]\nquit = "bye\\r\\nx"\n', r"reply text 'quit' contains a line end"),
    ("[greeting\n", r"invalid TOML"),
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", r"invalid TOML: arrays or tables nested too deeply"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_malformed_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = own_file(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigurationError, match=message) as caught:
        POP3Server(personality=str(path))
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_malformed_file_stops_serve_with_one_line(tmp_path: Path) -> None:
    path = own_file(tmp_path, "[greeting]\ntxt = 'x'\n", "bad.toml")
    result = run("serve", "--port", "0", "--personality", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "unknown key in [greeting] 'txt' (did you mean 'text'?)" in lines[0]


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(ConfigurationError, match="cannot read the personality file"):
        POP3Server(personality="/nonexistent/server.toml")
    with pytest.raises(ConfigurationError, match="or give the path of a personality file"):
        POP3Server(personality="exchange")


def test_load_personality_returns_options_and_server_defaults() -> None:
    loaded = load_personality(BUILTIN_FOLDER / "gmail.toml")
    assert loaded["server"] == {"implicit_tls": True}
    assert loaded["uid_format"] == "gmail"


# -- the writer pop3mock probe uses ---------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)))


@pytest.mark.slow
@given(
    st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), TEXT | st.lists(TEXT)),
    st.dictionaries(TEXT, st.booleans() | st.integers() | st.floats(allow_nan=False)),
)
def test_dumps_round_trips_through_a_toml_parser(
    top: dict[str, Any], table: dict[str, Any]
) -> None:
    document = {**top, "table": table}
    assert tomllib.loads(dumps(document)) == document
