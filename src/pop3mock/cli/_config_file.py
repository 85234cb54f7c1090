"""The TOML configuration file of `pop3mock serve`.

Every command-line flag has a top-level key of the same name (dashes become underscores),
plus what a command line cannot say well: several users, each with a maildrop and faults
of its own, and the server options of `POP3Server`. Every key and value is checked before
the server starts; an error names the file and the key.

Relative paths in the file are relative to the file's folder, so a config file and its
maildrops can move together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from pop3mock.checks import (
    DURATION_RULE,
    MAX_LAZY_MESSAGES,
    duration,
    expected,
    finite_number,
    read_toml,
    suggestion,
    whole_number,
    whole_number_rule,
)
from pop3mock.errors import ConfigurationError
from pop3mock.protocol._auth import MECHANISMS
from pop3mock.protocol._config import ALL_CAPABILITIES, DEFAULT_TEXTS
from pop3mock.protocol._personality import PERSONALITIES

__all__ = [
    "FILE_KEYS",
    "OPTION_KEYS",
    "USER_KEYS",
    "FileConfig",
    "UserEntry",
    "load_config",
    "parse_config",
]


@attrs.frozen
class UserEntry:
    """One user of the server: credentials, maildrop and faults of its own."""

    name: str
    password: str
    #: Where this entry came from, for error messages: "--user" or "FILE: users[2]".
    source: str
    messages: str | None = None
    fake: int | None = None
    seed: int | None = None
    token: str | None = None
    faults: tuple[str, ...] = ()
    #: Refuse this user's USER/PASS and AUTH PLAIN / LOGIN: APOP and the others only.
    apop_only: bool = False


@attrs.frozen
class FileConfig:
    """What a config file says: `values` by flag name, users, and server options."""

    path: str
    values: Mapping[str, Any]
    users: tuple[UserEntry, ...] = ()
    #: Keyword options for `POP3Server` (greeting, capabilities, ...).
    options: Mapping[str, Any] = attrs.field(factory=dict)


Check = Callable[[Any, str], Any]
"""Validate one value (and the folder relative paths start from); return it normalised."""


class _Invalid(Exception):
    """A value has the wrong type or range; the caller adds the file and key."""


def _string(value: Any, base: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {value!r}")
    return value


def _nonempty(value: Any, base: str) -> str:
    text = _string(value, base)
    if not text:
        raise _Invalid("expected a non-empty string")
    return text


def _path(value: Any, base: str) -> str:
    return os.path.join(base, os.path.expanduser(_nonempty(value, base)))


def _personality(value: Any, base: str) -> str:
    # A built-in name, or a personality file relative to this file's folder.
    if isinstance(value, str) and value.endswith(".toml"):
        return _path(value, base)
    known = sorted(PERSONALITIES)
    if not isinstance(value, str) or value not in known:
        raise _Invalid(
            f"unknown personality {value!r}: choose from {', '.join(known)} or give a "
            "personality file (.toml)"
        )
    return value


def _boolean(value: Any, base: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {value!r}")
    return value


def _integer(low: int | None = None, high: int | None = None) -> Check:
    def check(value: Any, base: str) -> int:
        if not whole_number(value, low, high):
            raise _Invalid(expected(whole_number_rule(low, high), value))
        return int(value)

    return check


def _seconds(value: Any, base: str) -> float:
    if not duration(value, zero=True):
        raise _Invalid(f"expected 0 or {DURATION_RULE}, got {value!r}")
    return float(value)


def _timeout(value: Any, base: str) -> float:
    # 0 is "never", as --idle-timeout 0 is.
    if not (value == 0 and finite_number(value)) and not duration(value):
        raise _Invalid(f"expected 0 (never) or {DURATION_RULE}, got {value!r}")
    return float(value)


def _names(options: Callable[[], Any], what: str) -> Check:
    def check(value: Any, base: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _Invalid(f"expected a list of strings, got {value!r}")
        known = set(options())
        unknown = [v for v in value if v.upper() not in known]
        if unknown:
            raise _Invalid(f"unknown {what} {unknown}: choose from {', '.join(sorted(known))}")
        return [v.upper() for v in value]

    return check


def _strings(value: Any, base: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _texts(value: Any, base: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected a table of reply texts, got {value!r}")
    for key, text in value.items():
        if key not in DEFAULT_TEXTS:
            raise _Invalid(
                f"unknown reply text key {key!r}: choose from {', '.join(sorted(DEFAULT_TEXTS))}"
            )
        if not isinstance(text, str):
            raise _Invalid(f"texts.{key}: expected a string, got {text!r}")
    return dict(value)


def _expire(value: Any, base: str) -> str:
    if whole_number(value):
        return str(value)
    if value == "NEVER":
        return "NEVER"
    raise _Invalid(f'expected a number of days or "NEVER", got {value!r}')


#: Top-level keys that mirror the command-line flags (the value checked as the flag is).
FILE_KEYS: Mapping[str, Check] = {
    "host": _nonempty,
    "port": _integer(0, 65535),
    "messages": _path,
    "fake": _integer(0, MAX_LAZY_MESSAGES),
    "seed": _integer(),
    "tls_port": _integer(0, 65535),
    "stls": _boolean,
    "cert": _path,
    "key": _path,
    "ca": _path,
    "tls_dir": _path,
    "faults": _strings,
    "personality": _personality,
    "replay": _path,
    "replay_timing": _boolean,
    "strict": _boolean,
    "check": _boolean,
    "idle_timeout": _timeout,
    "journal": _path,
    "quiet": _boolean,
    "ready_file": _path,
    "fault_seed": _integer(),
    "max_connections": _integer(0),
    "login_timeout": _seconds,
    "drop_oldest_when_full": _boolean,
    "journal_keep": _integer(0),
    "auth_failure_delay": _seconds,
    "max_auth_failures": _integer(0),
    "max_message_size": _integer(1),
    "session_keep_commands": _integer(0),
    "admin_port": _integer(0, 65535),
    "admin_host": _nonempty,
    "admin_token": _nonempty,
    "admin_max_body": _integer(1),
}

#: Top-level keys passed to `POP3Server` as options.
OPTION_KEYS: Mapping[str, Check] = {
    "greeting": _string,
    "capabilities": _names(lambda: ALL_CAPABILITIES, "capabilities"),
    "sasl_mechanisms": _names(lambda: MECHANISMS, "SASL mechanisms"),
    "apop": _boolean,
    "require_tls": _boolean,
    "login_delay": _integer(0),
    "enforce_login_delay": _boolean,
    "expire": _expire,
    "implementation": _string,
    "max_line_length": _integer(8),
    "strict_arguments": _boolean,
    "bad_command_limit": _integer(1),
    "auth_failure_delay_max": _seconds,
    "utf8_required": _boolean,
    "hostname": _nonempty,
    "texts": _texts,
}

#: Keys of one `[[users]]` table.
USER_KEYS: Mapping[str, Check] = {
    "name": _nonempty,
    "password": _string,
    "messages": _path,
    "fake": _integer(0, MAX_LAZY_MESSAGES),
    "seed": _integer(),
    "token": _nonempty,
    "faults": _strings,
    "apop_only": _boolean,
}


def load_config(path: str | os.PathLike[str]) -> FileConfig:
    """Read and check a config file; raise ConfigurationError naming the file and key."""
    path = os.fspath(path)
    return parse_config(read_toml(path, "config file"), path)


def parse_config(data: Mapping[str, Any], path: str) -> FileConfig:
    """Check the parsed TOML `data` of the file at `path` (relative paths start there)."""
    base = os.path.dirname(os.path.abspath(path))
    values: dict[str, Any] = {}
    options: dict[str, Any] = {}
    users: list[UserEntry] = []
    known = [*FILE_KEYS, *OPTION_KEYS, "users"]
    for key, value in data.items():
        if key == "users":
            users = _users(path, base, value)
        elif key in FILE_KEYS:
            values[key] = _check(path, key, FILE_KEYS[key], value, base)
        elif key in OPTION_KEYS:
            options[key] = _check(path, key, OPTION_KEYS[key], value, base)
        else:
            raise ConfigurationError(f"{path}: unknown key {key!r}{_hint(key, known)}")
    if "messages" in values and "fake" in values:
        raise ConfigurationError(f"{path}: give either 'messages' or 'fake', not both")
    return FileConfig(path, values, tuple(users), options)


def _check(path: str, key: str, check: Check, value: Any, base: str) -> Any:
    try:
        return check(value, base)
    except _Invalid as exc:
        raise ConfigurationError(f"{path}: {key}: {exc}") from None


def _users(path: str, base: str, tables: Any) -> list[UserEntry]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigurationError(
            f"{path}: users: expected [[users]] tables (name, password, ...), got {tables!r}"
        )
    users = []
    seen: set[str] = set()
    for number, table in enumerate(tables, 1):
        where = f"users[{number}]"
        fields: dict[str, Any] = {}
        for key, value in table.items():
            if key not in USER_KEYS:
                raise ConfigurationError(
                    f"{path}: unknown key '{where}.{key}'{_hint(key, USER_KEYS)}"
                )
            fields[key] = _check(path, f"{where}.{key}", USER_KEYS[key], value, base)
        for required in ("name", "password"):
            if required not in fields:
                raise ConfigurationError(f"{path}: {where}: the key {required!r} is missing")
        if "messages" in fields and "fake" in fields:
            raise ConfigurationError(f"{path}: {where}: give either 'messages' or 'fake', not both")
        if fields["name"] in seen:
            raise ConfigurationError(f"{path}: {where}: user {fields['name']!r} is defined twice")
        seen.add(fields["name"])
        users.append(UserEntry(source=f"{path}: {where}", **fields))
    return users


def _hint(key: str, known: Any) -> str:
    return suggestion(key, known)
