"""The reply texts by key, and the rules a replacement text follows."""

from __future__ import annotations

import types
from collections.abc import Mapping

from pop3mock.errors import ConfigurationError
from pop3mock.protocol._frozen import FrozenMap, as_dict

__all__ = ["DEFAULT_TEXTS", "check_texts", "frozen_texts"]

#: The reply texts, by key. Personalities override some; so can `texts=` on the server.
#: Texts on authentication replies avoid "lock" and "wait" unless that is the condition,
#: because fetchmail classifies -ERR replies by those words.
DEFAULT_TEXTS: Mapping[str, str] = types.MappingProxyType(
    {
        "greeting": "pop3mock ready.",
        "unknown": "Unknown command.",
        "unknown_trans": "Unknown command.",
        "too_long": "Line too long.",
        "bad_state_auth": "{verb} is not allowed before login.",
        "bad_state_trans": "{verb} is not allowed after login.",
        "no_args": "{verb} takes no arguments.",
        "need_msg": "{verb} needs a message number.",
        "extra_args": "{verb} takes a single message number.",
        "bad_lines": "Invalid line count.",
        "one_user": "USER takes exactly one user name.",
        "top_args": "TOP needs a message number and a line count.",
        "bad_number": "Invalid message number.",
        "no_such": "There is no message {n}.",
        "deleted": "Message {n} is deleted.",
        "user_ok": "Send PASS.",
        "need_user": "{verb} needs a user name.",
        "no_user": "No user name given (send USER first).",
        "login_ok": "Logged in.",
        "auth_failed": "Authentication failed.",
        "too_many_auth_failures": "Authentication failed, too many times: closing.",
        "in_use": "Mailbox is locked by another POP3 session.",
        "login_delay": "Logged in too soon: try later.",
        "plaintext": "Plaintext authentication is disabled: use STLS first.",
        "apop_only": "This mailbox takes APOP only.",
        "quit": "Logging out.",
        "quit_update": "Logging out, {deleted} messages deleted.",
        "list": "{count} messages ({size} octets)",
        "retr": "{size} octets",
        "top": "Top of message follows.",
        "uidl": "Unique-ids follow.",
        "dele": "Message {n} deleted.",
        "rset": "{count} messages, deletion marks removed.",
        "noop": "",
        "capa": "Capability list follows.",
        "capa_off": "CAPA is not supported.",
        "off": "{verb} is not supported.",
        "stls": "Begin TLS negotiation now.",
        "stls_active": "TLS is already active.",
        "stls_after_login": "STLS is only allowed before login.",
        "stls_after_utf8": "STLS is not allowed after UTF8.",
        "auth_list": "Mechanisms follow.",
        "auth_unsupported": "Unsupported authentication mechanism.",
        "auth_cancelled": "Authentication cancelled.",
        "auth_base64": "Invalid base64 data.",
        "auth_ir": "This mechanism takes no initial response.",
        "auth_again": "Already logged in.",
        "apop_syntax": "APOP needs a user name and a digest.",
        "apop_off": "APOP is not offered.",
        "utf8": "UTF8 enabled.",
        "utf8_again": "UTF8 is only allowed before login.",
        "utf8_needed": "This message needs UTF8 mode.",
        "utf8_user": "Invalid UTF-8 in the user name.",
        "lang": "Language changed.",
        "lang_list": "Languages follow.",
        "lang_bad": "Unsupported language.",
        "too_many_bad": "Too many invalid commands.",
        "too_many_bad_trans": "Too many invalid commands.",
        "too_many_connections": "Too many connections, try later.",
        "login_timeout": "No login within the time allowed.",
        "internal": "Internal error.",
    }
)


def check_texts(instance: object, attribute: object, value: Mapping[str, str]) -> None:
    unknown = set(value) - set(DEFAULT_TEXTS)
    fixed = unknown & {"stat", "last"}
    if fixed:
        raise ConfigurationError(
            f"reply text keys {sorted(fixed)}: the STAT and LAST replies have no free text "
            "(RFC 1939 and RFC 1460 fix them as numbers, and clients parse them)"
        )
    if unknown:
        raise ConfigurationError(
            f"unknown reply text keys {sorted(unknown)}: choose from {sorted(DEFAULT_TEXTS)}"
        )
    for key, text in value.items():
        if "\r" in text or "\n" in text:
            raise ConfigurationError(f"reply text {key!r} contains a line end")
        if text.startswith("["):
            # RFC 2449 section 8: with RESP-CODES a text starting with "[" is a response code.
            raise ConfigurationError(
                f"reply text {key!r} starts with '[': clients read that as a response code"
            )


def frozen_texts(value: object) -> Mapping[str, str]:
    # A copy the caller cannot change: a later change to their dict would skip the checks
    # and reach live sessions.
    texts = as_dict(value, "texts")
    for key, text in texts.items():
        if not isinstance(text, str):
            raise ConfigurationError(f"reply text {key!r} must be a string, not {text!r}")
    return FrozenMap(texts)
