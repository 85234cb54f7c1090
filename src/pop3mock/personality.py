"""Personalities: presets that make pop3mock greet, advertise and phrase like a known server.

A test picks one to check that its client copes with that server:

- ``default``: everything pop3mock can do is on.
- ``rfc1939``: the bare RFC 1939 minimum: no CAPA, no TOP, no UIDL, no SASL, no APOP, no
  LAST (RFC 1725 removed it).
- ``dovecot``: Dovecot 2.3 as observed with its defaults: greeting with an APOP timestamp,
  its CAPA lines in its order (CAPA itself included), SASL PLAIN LOGIN CRAM-MD5, its reply
  texts, ``%08Xu%08Xv`` UIDLs, no LAST, lenient arguments; the 4th bad command before
  login closes the connection, and the 21st after it. Dovecot's failed-login delay is left
  off (``auth_failure_delay=2`` turns it on).
- ``gmail``: Gmail's POP3 greeting, capability list (EXPIRE 0, LOGIN-DELAY 300, SASL PLAIN
  XOAUTH2 OAUTHBEARER) and texts, ``GmailId…`` UIDLs; the server also listens with
  implicit TLS (pop.gmail.com only offers port 995).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .config import ServerConfig

__all__ = ["PERSONALITIES", "SERVER_DEFAULTS", "personality_config", "server_default"]

PERSONALITIES: Mapping[str, Mapping[str, Any]] = {
    "default": {},
    "rfc1939": {
        "capabilities": frozenset({"USER"}),
        "apop": False,
        "last": False,
        "texts": {"greeting": "POP3 server ready"},
    },
    "dovecot": {
        "capabilities": frozenset(
            {
                "CAPA",
                "TOP",
                "UIDL",
                "RESP-CODES",
                "PIPELINING",
                "AUTH-RESP-CODE",
                "USER",
                "SASL",
                "STLS",
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
        # Its login process closes at the 4th bad command; once logged in, at the 21st.
        "bad_command_limit": 4,
        "bad_command_limit_after_login": 21,
        # Dovecot delays failed logins (2 s, doubling to 15 s per client address); not
        # here: a test that checks its client's answer to one wrong password would wait
        # 2 s for it. auth_failure_delay=2 asks for it.
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
            {
                "CAPA",
                "USER",
                "RESP-CODES",
                "EXPIRE",
                "LOGIN-DELAY",
                "TOP",
                "UIDL",
                "SASL",
            }
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


#: POP3Server options a personality changes when the caller does not set them.
SERVER_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "gmail": {"implicit_tls": True},
}


def server_default(personality: str, option: str, value: Any) -> Any:
    """`value` if the caller set it (not None), else the personality's default for `option`."""
    if value is not None:
        return value
    return SERVER_DEFAULTS.get(personality, {}).get(option)


def personality_config(name: str = "default", **overrides: Any) -> ServerConfig:
    """A `ServerConfig` for personality `name`, with `overrides` applied on top."""
    # Imported here so that the pytest plugin can list the personalities at start without
    # loading the protocol core.
    import difflib

    import attrs

    from .config import ServerConfig

    try:
        preset = PERSONALITIES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown personality {name!r}: choose from {sorted(PERSONALITIES)}"
        ) from None
    values: dict[str, Any] = dict(preset)
    texts = dict(values.get("texts", {}))
    extra_texts = overrides.pop("texts", None) or {}
    if not isinstance(extra_texts, Mapping):
        raise ConfigurationError(f"texts must map reply keys to texts, not {extra_texts!r}")
    texts.update(extra_texts)
    if overrides.get("capabilities") is None:
        overrides.pop("capabilities", None)
    values.update(overrides)
    values["texts"] = texts
    values["personality"] = name
    known = attrs.fields_dict(ServerConfig)
    unknown = sorted(set(values) - set(known))
    if unknown:
        hints = [difflib.get_close_matches(key, list(known), n=1) for key in unknown]
        hint = "".join(f" (did you mean {h[0]!r}?)" for h in hints if h)
        raise ConfigurationError(f"unknown POP3Server option {', '.join(unknown)}{hint}")
    try:
        return ServerConfig(**values)
    except (TypeError, ValueError) as exc:
        # A converter met a value of the wrong kind: name the option it came with.
        for key, value in overrides.items():
            try:
                ServerConfig(**{key: value})
            except (TypeError, ValueError):
                raise ConfigurationError(f"invalid value for {key}: {value!r} ({exc})") from None
            except ConfigurationError:
                pass
        raise ConfigurationError(f"invalid server options: {exc}") from None
