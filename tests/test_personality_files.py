"""Personality files: the built-in ones load to exactly the presets pop3mock had in code,
user files load through the same loader, and malformed files are refused by key."""

from __future__ import annotations

from typing import Any

import pytest

from pop3mock import ServerConfig
from pop3mock.personality import personality_config

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


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_builtin_file_loads_to_the_preset_it_replaces(name: str) -> None:
    assert personality_config(name) == ServerConfig(**BEFORE[name], personality=name)
