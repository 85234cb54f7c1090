"""What a server offers: capabilities, texts, limits. One frozen value shared by sessions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from pop3mock import __version__
from pop3mock.checks import finite_number, whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._mailbox import Mailbox
from pop3mock.protocol._auth import MECHANISMS
from pop3mock.protocol._capabilities import ALL_CAPABILITIES, DEFAULT_CAPA_ORDER
from pop3mock.protocol._frozen import FrozenMap, as_dict
from pop3mock.protocol._reply_texts import DEFAULT_TEXTS, check_texts, frozen_texts
from pop3mock.protocol._uids import UID_FORMATS, render_uids

__all__ = [
    "ALL_CAPABILITIES",
    "DEFAULT_CAPA_ORDER",
    "DEFAULT_TEXTS",
    "UID_FORMATS",
    "ServerConfig",
]


def _check_capabilities(instance: object, attribute: object, value: frozenset[str]) -> None:
    unknown = value - ALL_CAPABILITIES
    if unknown:
        raise ConfigurationError(
            f"unknown capabilities {sorted(unknown)}: choose from {sorted(ALL_CAPABILITIES)}"
        )


def _check_capa_order(instance: object, attribute: object, value: tuple[str, ...]) -> None:
    unknown = set(value) - ALL_CAPABILITIES
    if unknown:
        raise ConfigurationError(
            f"unknown capabilities in capa_order {sorted(unknown)}: "
            f"choose from {sorted(ALL_CAPABILITIES)}"
        )


def _check_mechanisms(instance: object, attribute: object, value: tuple[str, ...]) -> None:
    unknown = set(value) - set(MECHANISMS)
    if unknown:
        raise ConfigurationError(
            f"unknown SASL mechanisms {sorted(unknown)}: choose from {sorted(MECHANISMS)}"
        )


def _check_uid_format(instance: object, attribute: object, value: str) -> None:
    if value not in UID_FORMATS:
        raise ConfigurationError(f"unknown uid_format {value!r}: choose from {list(UID_FORMATS)}")


def _upper_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split()
    return tuple(str(v).upper() for v in value)  # type: ignore[attr-defined]


def _upper_set(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = value.split()
    return frozenset(str(v).upper() for v in value)  # type: ignore[attr-defined]


def _expire_value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"invalid expire {value!r}: a number of days, 0 or 'NEVER'")
    text = str(value).strip().upper()
    if text != "NEVER" and not (text.isascii() and text.isdigit()):
        raise ConfigurationError(f"invalid expire {value!r}: a number of days, 0 or 'NEVER'")
    return text if text == "NEVER" else str(int(text))


def _user_expire(value: object) -> Mapping[str, str]:
    items = as_dict(value, "user_expire")
    out: dict[str, str] = {}
    for user, days in items.items():
        converted = _expire_value(days)
        if converted is None:
            raise ConfigurationError(f"user_expire[{user!r}] must be a number of days or 'NEVER'")
        out[str(user)] = converted
    return FrozenMap(out)


def _user_login_delay(value: object) -> Mapping[str, int]:
    items = as_dict(value, "user_login_delay")
    out: dict[str, int] = {}
    for user, seconds in items.items():
        if not whole_number(seconds):
            raise ConfigurationError(
                f"user_login_delay[{user!r}] must be a whole number of seconds >= 0"
            )
        out[str(user)] = seconds
    return FrozenMap(out)


def _check_bool(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attribute.name} must be True or False, not {value!r}")


def _check_seconds(
    instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and not whole_number(value):
        raise ConfigurationError(
            f"{attribute.name} must be a whole number of seconds >= 0 (RFC 2449 section 6.5), "
            f"not {value!r}"
        )


def _check_line_length(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not whole_number(value, 8):
        raise ConfigurationError(
            f"{attribute.name} must be a whole number of octets >= 8 (RFC 2449 section 4: 255), "
            f"not {value!r}"
        )


def _check_limit(
    instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None and not whole_number(value, 1):
        raise ConfigurationError(f"{attribute.name} must be a whole number >= 1 or None")


#: The longest failed-login delay accepted, in seconds: an hour is already forever for a
#: client, and a wait must stay far below what threading can wait for.
MAX_AUTH_FAILURE_DELAY = 3600.0


def _check_delay(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is None and attribute.name == "auth_failure_delay":
        return
    if not finite_number(value) or not 0 <= value <= MAX_AUTH_FAILURE_DELAY:
        none = " or None" if attribute.name == "auth_failure_delay" else ""
        raise ConfigurationError(
            f"{attribute.name} must be a number of seconds from 0 to "
            f"{MAX_AUTH_FAILURE_DELAY:g}{none}, not {value!r}"
        )


def _limit_before_login(config: ServerConfig) -> int | None:
    return config.bad_command_limit


def _user_names(value: object) -> frozenset[str]:
    if isinstance(value, (str, bytes)):
        raise ConfigurationError(
            f"apop_only_users must be a collection of user names, not the string {value!r}"
        )
    try:
        return frozenset(str(user) for user in value)  # type: ignore[attr-defined]
    except TypeError:
        raise ConfigurationError(
            f"apop_only_users must be a collection of user names, not {value!r}"
        ) from None


_LANGUAGE_TAG = re.compile(r"[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# The longest APOP timestamp the server makes, host name aside: "<pid.count.clock@" and ">"
# with a 7-digit pid (Linux's largest), a 20-digit counter and an 11-digit clock.
_TIMESTAMP_OVERHEAD = 1 + 7 + 1 + 20 + 1 + 11 + 1 + 1


def _languages(value: object) -> tuple[tuple[str, str], ...]:
    out = []
    for item in value:  # type: ignore[attr-defined]
        tag, name = (item, "") if isinstance(item, str) else item
        tag, name = str(tag), str(name)
        # RFC 5646 subtags: this also keeps a tag from starting with "[", which the
        # "+OK tag ..." reply would turn into something read as a response code.
        if not _LANGUAGE_TAG.fullmatch(tag):
            raise ConfigurationError(f"invalid language tag {tag!r} (RFC 5646, e.g. 'en', 'de-CH')")
        if "\r" in name or "\n" in name:
            raise ConfigurationError(f"the description of language {tag!r} contains a line end")
        out.append((tag, name))
    return tuple(out)


def _expire_key(value: str) -> float:
    return float("inf") if value == "NEVER" else int(value)


@attrs.frozen(kw_only=True)
class ServerConfig:
    """Everything a session needs to know about the server it runs in."""

    capabilities: frozenset[str] = attrs.field(
        default=ALL_CAPABILITIES, converter=_upper_set, validator=_check_capabilities
    )
    #: The order of the CAPA lines; capabilities missing here follow in the default order.
    capa_order: tuple[str, ...] = attrs.field(
        default=DEFAULT_CAPA_ORDER, converter=_upper_tuple, validator=_check_capa_order
    )
    #: SASL mechanisms offered by AUTH (and listed in CAPA SASL).
    mechanisms: tuple[str, ...] = attrs.field(
        default=("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER"),
        converter=_upper_tuple,
        validator=_check_mechanisms,
    )
    #: Offer APOP (a timestamp in the greeting).
    apop: bool = attrs.field(default=True, validator=_check_bool)
    #: Answer the RFC 1460 LAST command (removed from POP3 by RFC 1725; fetchmail sends it).
    last: bool = attrs.field(default=True, validator=_check_bool)
    #: STLS can be negotiated (the server has a certificate).
    stls_available: bool = attrs.field(default=False, validator=_check_bool)
    #: Refuse every login (USER/PASS, APOP, AUTH) until TLS is active.
    require_tls: bool = attrs.field(default=False, validator=_check_bool)
    #: Users whose password may not travel in the clear: USER/PASS and AUTH PLAIN / LOGIN
    #: are refused for them, APOP and the other mechanisms work (RFC 1939 section 13).
    apop_only_users: frozenset[str] = attrs.field(factory=frozenset, converter=_user_names)
    #: LOGIN-DELAY seconds advertised; enforced when `enforce_login_delay`.
    login_delay: int | None = attrs.field(default=None, validator=_check_seconds)
    #: Per-user LOGIN-DELAY seconds (CAPA then shows "LOGIN-DELAY <max> USER" before login).
    user_login_delay: Mapping[str, int] = attrs.field(
        factory=FrozenMap, converter=_user_login_delay
    )
    enforce_login_delay: bool = attrs.field(default=False, validator=_check_bool)
    #: EXPIRE value advertised: a number of days, "0" (RETR deletes at UPDATE) or "NEVER".
    expire: str | None = attrs.field(default=None, converter=_expire_value)
    #: Per-user EXPIRE values (CAPA then shows "EXPIRE <min> USER" before login).
    user_expire: Mapping[str, str] = attrs.field(factory=FrozenMap, converter=_user_expire)
    implementation: str = f"pop3mock {__version__}"
    #: The longest command line accepted, line end included (RFC 2449 section 4: 255).
    max_line_length: int = attrs.field(default=255, validator=_check_line_length)
    #: -ERR for arguments given to STAT, NOOP, RSET, QUIT... (Dovecot ignores them).
    strict_arguments: bool = attrs.field(default=True, validator=_check_bool)
    #: -ERR for USER without exactly one name (Dovecot answers +OK, taking the rest of the
    #: line as the name, even none, and refuses at PASS).
    strict_user_name: bool = attrs.field(default=True, validator=_check_bool)
    #: Close the connection at this many bad commands before login (None: never).
    bad_command_limit: int | None = attrs.field(default=None, validator=_check_limit)
    #: The same once logged in, counted afresh from the login (default: bad_command_limit).
    bad_command_limit_after_login: int | None = attrs.field(
        default=attrs.Factory(_limit_before_login, takes_self=True),
        validator=_check_limit,
    )
    #: Seconds to wait before answering a failed login (None or 0: at once); each further
    #: failure in the same connection waits twice as long, up to `auth_failure_delay_max`
    #: (Dovecot: 2 s doubling to 15 s). The server waits; the session only says how long.
    auth_failure_delay: float | None = attrs.field(default=None, validator=_check_delay)
    auth_failure_delay_max: float = attrs.field(default=15.0, validator=_check_delay)
    #: Close the connection at this many failed logins in it (None: never).
    max_auth_failures: int | None = attrs.field(default=None, validator=_check_limit)
    #: Answer RETR/TOP of messages with 8-bit content with -ERR [UTF8] unless UTF8 is on.
    utf8_required: bool = attrs.field(default=False, validator=_check_bool)
    #: LANG tags offered, the first is the default.
    languages: tuple[tuple[str, str], ...] = attrs.field(
        default=(("en", "English"),), converter=_languages
    )
    texts: Mapping[str, str] = attrs.field(
        factory=FrozenMap, converter=frozen_texts, validator=check_texts
    )
    #: The capabilities CAPA lists once logged in, in this order (None: what works then, in
    #: capa_order). Dovecot's login process and its mail process answer CAPA differently.
    capa_after_login: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_upper_tuple)
    )
    #: The response codes (RFC 2449, RFC 3206) the server puts on its -ERR replies when
    #: RESP-CODES (or AUTH-RESP-CODE) is advertised; None: every code pop3mock knows.
    response_codes: frozenset[str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_upper_set)
    )
    #: TOP sends the whole message whatever line count it is given (a server quirk).
    top_ignores_lines: bool = attrs.field(default=False, validator=_check_bool)
    #: How UIDs look on the wire: one of UID_FORMATS.
    uid_format: str = attrs.field(default="message", validator=_check_uid_format)
    #: The host name in APOP timestamps and CRAM-MD5 challenges.
    hostname: str = "pop3mock.localhost"
    #: Name of the personality these values came from (for the journal and repr).
    personality: str = "default"

    def __attrs_post_init__(self) -> None:
        caps = self.capabilities
        if self.enforce_login_delay and not (
            "LOGIN-DELAY" in caps and (self.login_delay or self.user_login_delay)
        ):
            raise ConfigurationError(
                "enforce_login_delay=True has nothing to enforce: give login_delay (or "
                "user_login_delay) and keep LOGIN-DELAY in the capabilities"
            )
        if self.auth_failure_delay and self.auth_failure_delay > self.auth_failure_delay_max:
            raise ConfigurationError(
                f"auth_failure_delay ({self.auth_failure_delay:g} s) is longer than "
                f"auth_failure_delay_max ({self.auth_failure_delay_max:g} s): raise the maximum "
                "too (auth_failure_delay_max, in Python or the TOML file), or shorten the delay"
            )
        if any(c in self.implementation for c in "\r\n") or len(self.implementation) > 400:
            raise ConfigurationError(
                "implementation must be one line of at most 400 characters (RFC 2449 section 4)"
            )
        if (
            not self.hostname
            or len(self.hostname) > 253  # DNS's limit; it also bounds the greeting line
            or any(c in self.hostname for c in "<>@")
            or not all("!" <= c <= "~" for c in self.hostname)
        ):
            raise ConfigurationError(
                f"invalid hostname {self.hostname!r} for APOP timestamps and CRAM-MD5 "
                "challenges: printable ASCII without spaces, '<', '>' or '@', at most 253 "
                "characters"
            )
        if self.apop:
            self._check_greeting_fits()
        if self.capa_after_login is not None and not set(self.capa_after_login) <= caps:
            raise ConfigurationError(
                "capa_after_login lists capabilities the server does not offer: "
                + ", ".join(sorted(set(self.capa_after_login) - caps))
            )
        if "LANG" in caps and not self.languages:
            raise ConfigurationError("LANG is enabled but languages is empty")
        if self.utf8_required and "UTF8" not in caps:
            raise ConfigurationError(
                "utf8_required needs the UTF8 capability (clients could never enable UTF8 mode)"
            )
        if self.stls_available and not {"STLS", "CAPA"} <= caps:
            raise ConfigurationError(
                "STLS is on but the capabilities lack "
                + " and ".join(sorted({"STLS", "CAPA"} - caps))
                + " (RFC 2595 section 4: a server offering STLS lists it in CAPA)"
            )
        if self.apop_only_users and not self.apop:
            raise ConfigurationError(
                f"apop_only_users {sorted(self.apop_only_users)} need apop=True: with APOP off "
                "those users could not log in with their password at all"
            )
        can_login = "USER" in caps or self.apop or ("SASL" in caps and self.mechanisms)
        if not can_login:
            raise ConfigurationError(
                "no way to log in: enable USER, APOP or SASL with at least one mechanism"
            )

    def _check_greeting_fits(self) -> None:
        # RFC 1939 section 3 caps the greeting at 512 octets; the server cuts longer lines,
        # which would cut off the timestamp and leave APOP offered but impossible.
        text = self.text("greeting").encode("utf-8")
        longest = len(b"+OK ") + len(text) + 1 + _TIMESTAMP_OVERHEAD + len(self.hostname) + 2
        if longest > 512:
            raise ConfigurationError(
                f"the greeting text is {len(text)} octets: with APOP on, the greeting line "
                f"(text and timestamp) could reach {longest} octets, over the 512 RFC 1939 "
                f"allows; keep the text to at most {len(text) - (longest - 512)} octets or set "
                "apop=False"
            )

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def text(self, key: str, **values: object) -> str:
        template = self.texts.get(key, DEFAULT_TEXTS[key])
        return template.format(**values) if values else template

    def template(self, key: str) -> str:
        """The text for `key` before its values are put in (`text` puts them in)."""
        return self.texts.get(key, DEFAULT_TEXTS[key])

    def auth_failure_pause(self, failures: int) -> float:
        """Seconds to wait before answering the `failures`-th failed login of a connection:
        `auth_failure_delay`, doubled for each failure before it, at most
        `auth_failure_delay_max`."""
        if not self.auth_failure_delay or failures < 1:
            return 0.0
        doubled = self.auth_failure_delay * 2.0 ** min(failures - 1, 64)
        return float(min(doubled, self.auth_failure_delay_max))

    # -- per-user values (RFC 2449 sections 6.5 and 6.7) -----------------------------------

    def login_delay_for(self, user: str | None) -> int | None:
        """The LOGIN-DELAY seconds that apply to `user`."""
        if user is not None and user in self.user_login_delay:
            return self.user_login_delay[user]
        return self.login_delay

    def expire_for(self, user: str | None) -> str | None:
        """The EXPIRE value that applies to `user`."""
        if user is not None and user in self.user_expire:
            return self.user_expire[user]
        return self.expire

    def login_delay_capability(self, user: str | None) -> str | None:
        """The LOGIN-DELAY argument for CAPA: before login (user None) the maximum, then
        ``USER`` if it varies per user; after login that user's value."""
        if not self.user_login_delay:
            return None if self.login_delay is None else str(self.login_delay)
        if user is None:
            return f"{max(self.login_delay or 0, *self.user_login_delay.values())} USER"
        return str(self.login_delay_for(user) or 0)

    def expire_capability(self, user: str | None) -> str | None:
        """The EXPIRE argument for CAPA: before login the minimum plus ``USER`` if it varies
        per user; after login that user's value."""
        if not self.user_expire:
            return self.expire
        if user is None:
            values = [self.expire or "NEVER", *self.user_expire.values()]
            return f"{min(values, key=_expire_key)} USER"
        return self.expire_for(user) or "NEVER"

    # -- UIDs as clients see them ----------------------------------------------------------

    def render_uids(self, mailbox: Mailbox, uids: Sequence[str]) -> list[str]:
        """The wire form of `uids` (messages of `mailbox`) under `uid_format`."""
        return render_uids(self.uid_format, mailbox, uids)

    def visible_uids(self, mailbox: Mailbox) -> tuple[str, ...]:
        """The UIDs a client gets from UIDL for the messages in `mailbox` now."""
        return tuple(self.render_uids(mailbox, mailbox.uids))
