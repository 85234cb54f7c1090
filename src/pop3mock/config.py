"""What a server offers: capabilities, texts, limits. One frozen value shared by sessions."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._version import __version__
from .auth import MECHANISMS
from .errors import ConfigurationError

__all__ = ["ALL_CAPABILITIES", "DEFAULT_TEXTS", "ServerConfig"]

#: Every capability pop3mock can advertise and switch off. CAPA itself is one: without it
#: the server is a bare RFC 1939 server that answers CAPA with -ERR.
ALL_CAPABILITIES = frozenset(
    {
        "CAPA",
        "TOP",
        "UIDL",
        "USER",
        "SASL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "LOGIN-DELAY",
        "EXPIRE",
        "IMPLEMENTATION",
        "STLS",
        "UTF8",
        "LANG",
    }
)

#: The reply texts, by key. Personalities override some; so can `texts=` on the server.
#: Texts on authentication replies avoid "lock" and "wait" unless that is the condition,
#: because fetchmail classifies -ERR replies by those words.
DEFAULT_TEXTS: Mapping[str, str] = {
    "greeting": "pop3mock ready.",
    "unknown": "Unknown command.",
    "too_long": "Line too long.",
    "bad_state_auth": "{verb} is not allowed before login.",
    "bad_state_trans": "{verb} is not allowed after login.",
    "no_args": "{verb} takes no arguments.",
    "need_msg": "{verb} needs a message number.",
    "bad_number": "Invalid message number.",
    "no_such": "There is no message {n}.",
    "deleted": "Message {n} is deleted.",
    "user_ok": "Send PASS.",
    "need_user": "{verb} needs a user name.",
    "no_user": "No user name given (send USER first).",
    "login_ok": "Logged in.",
    "auth_failed": "Authentication failed.",
    "in_use": "Mailbox is locked by another POP3 session.",
    "login_delay": "Logged in too soon: try later.",
    "plaintext": "Plaintext authentication is disabled: use STLS first.",
    "quit": "Logging out.",
    "quit_update": "Logging out, {deleted} messages deleted.",
    "stat": "{count} {size}",
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
    "last": "{n}",
    "too_many_bad": "Too many invalid commands.",
    "too_many_connections": "Too many connections, try later.",
    "internal": "Internal error.",
}


def _check_capabilities(instance: object, attribute: object, value: frozenset[str]) -> None:
    unknown = value - ALL_CAPABILITIES
    if unknown:
        raise ConfigurationError(
            f"unknown capabilities {sorted(unknown)}: choose from {sorted(ALL_CAPABILITIES)}"
        )


def _check_mechanisms(instance: object, attribute: object, value: tuple[str, ...]) -> None:
    unknown = set(value) - set(MECHANISMS)
    if unknown:
        raise ConfigurationError(
            f"unknown SASL mechanisms {sorted(unknown)}: choose from {sorted(MECHANISMS)}"
        )


def _check_texts(instance: object, attribute: object, value: Mapping[str, str]) -> None:
    unknown = set(value) - set(DEFAULT_TEXTS)
    if unknown:
        raise ConfigurationError(
            f"unknown reply text keys {sorted(unknown)}: choose from {sorted(DEFAULT_TEXTS)}"
        )
    for key, text in value.items():
        if "\r" in text or "\n" in text:
            raise ConfigurationError(f"reply text {key!r} contains a line end")


def _upper_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    return tuple(str(v).upper() for v in value)  # type: ignore[attr-defined]


def _upper_set(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = value.split()
    return frozenset(str(v).upper() for v in value)  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Everything a session needs to know about the server it runs in."""

    capabilities: frozenset[str] = attrs.field(
        default=ALL_CAPABILITIES, converter=_upper_set, validator=_check_capabilities
    )
    #: SASL mechanisms offered by AUTH (and listed in CAPA SASL).
    mechanisms: tuple[str, ...] = attrs.field(
        default=("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"),
        converter=_upper_tuple,
        validator=_check_mechanisms,
    )
    #: Offer APOP (a timestamp in the greeting).
    apop: bool = True
    #: STLS can be negotiated (the server has a certificate).
    stls_available: bool = False
    #: Refuse USER/PASS, APOP and AUTH PLAIN/LOGIN until TLS is active.
    require_tls: bool = False
    #: LOGIN-DELAY seconds advertised; enforced when `enforce_login_delay`.
    login_delay: int | None = None
    enforce_login_delay: bool = False
    #: EXPIRE value advertised: a number of days, "0" (RETR deletes at UPDATE) or "NEVER".
    expire: str | None = None
    implementation: str = f"pop3mock {__version__}"
    #: The longest command line accepted, line end included (RFC 2449 section 4: 255).
    max_command_length: int = 255
    #: -ERR for arguments given to STAT, NOOP, RSET, QUIT... (Dovecot ignores them).
    strict_arguments: bool = True
    #: Close the connection after this many bad commands (None: never).
    bad_command_limit: int | None = None
    #: Answer RETR/TOP of messages with 8-bit content with -ERR [UTF8] unless UTF8 is on.
    utf8_required: bool = False
    #: LANG tags offered, the first is the default.
    languages: tuple[tuple[str, str], ...] = (("en", "English"),)
    texts: Mapping[str, str] = attrs.field(factory=dict, validator=_check_texts)
    #: The host name in APOP timestamps and CRAM-MD5 challenges.
    hostname: str = "pop3mock.localhost"
    #: Name of the personality these values came from (for the journal and repr).
    personality: str = "default"

    def __attrs_post_init__(self) -> None:
        if self.expire is not None and not (self.expire == "NEVER" or self.expire.isdigit()):
            raise ConfigurationError(
                f"invalid expire {self.expire!r}: a number of days, '0' or 'NEVER'"
            )
        if self.login_delay is not None and self.login_delay < 0:
            raise ConfigurationError("login_delay must be a number of seconds >= 0")
        if self.max_command_length < 8:
            raise ConfigurationError("max_command_length must be at least 8 octets")
        can_login = (
            "USER" in self.capabilities
            or self.apop
            or ("SASL" in self.capabilities and self.mechanisms)
        )
        if not can_login:
            raise ConfigurationError(
                "no way to log in: enable USER, APOP or SASL with at least one mechanism"
            )

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def text(self, key: str, **values: object) -> str:
        template = self.texts.get(key, DEFAULT_TEXTS[key])
        return template.format(**values) if values else template
