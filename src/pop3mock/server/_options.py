"""POP3Server's keyword options: the checks of their values and the ServerConfig they make.

The checks are those of `pop3mock.checks` (a whole number, a duration), so that the server,
the marker, the TOML file and the command line accept and refuse the same values; the
messages name the keyword.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection
from typing import Any

import attrs

from pop3mock.checks import DURATION_RULE, duration, suggestion, whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.protocol._config import ServerConfig

__all__ = ["check_values", "config_from_options", "option_names"]


_SECONDS = DURATION_RULE.removeprefix("a ")
# Each checked keyword: whether its value is good, what a good one is, and whether None
# (no limit) is one too.
_RULES: dict[str, tuple[Callable[[object], bool], str, bool]] = {
    "idle_timeout": (duration, f"{DURATION_RULE}, or None (never)", True),
    "max_connections": (lambda v: whole_number(v, 1), "a whole number >= 1 or None", True),
    "login_timeout": (duration, f"a positive {_SECONDS}, or None", True),
    "max_line": (lambda v: whole_number(v, 1), "a whole number of octets >= 1", False),
    "journal_keep": (lambda v: whole_number(v, 1), "a whole number >= 1 or None", True),
    "session_keep_commands": (lambda v: whole_number(v, 1), "a whole number >= 1 or None", True),
}


def check_values(**values: object) -> None:
    """Raise ConfigurationError for the first keyword whose value is not a good one."""
    for name, value in values.items():
        good, rule, none_allowed = _RULES[name]
        if value is None and none_allowed:
            continue
        if not good(value):
            raise ConfigurationError(f"{name} must be {rule}, not {value!r}")


def config_from_options(
    options: dict[str, Any], known: Collection[str], *, stls: bool
) -> ServerConfig:
    """The ServerConfig of POP3Server's keyword `options` (`known`: every option's name)."""
    from pop3mock.protocol._personality import personality_config

    options = dict(options)
    for name in sorted(options):
        if name not in known:
            raise ConfigurationError(f"unknown POP3Server option {name}{suggestion(name, known)}")
    personality = options.pop("personality", "default")
    greeting = options.pop("greeting", None)
    if greeting is not None:
        texts = dict(options.pop("texts", {}) or {})
        texts["greeting"] = greeting
        options["texts"] = texts
    if "sasl_mechanisms" in options:
        options["mechanisms"] = options.pop("sasl_mechanisms")
    try:
        return personality_config(personality, stls_available=stls, **options)
    except TypeError as exc:
        raise ConfigurationError(f"unknown POP3Server option: {exc}") from None


@functools.cache
def option_names(server: Callable[..., object]) -> frozenset[str]:
    """Every keyword option of `server` (POP3Server) by its documented name (cached: inspect
    is slow)."""
    own = set(inspect.signature(server).parameters) - {"options"}
    config = set(attrs.fields_dict(ServerConfig))
    # stls_available is what stls= sets.
    return frozenset((own | config | {"greeting", "sasl_mechanisms"}) - {"stls_available"})
