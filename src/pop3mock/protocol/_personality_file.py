"""Personality files: the TOML form of a personality, read into ServerConfig options.

The built-in personalities are files of this format, read by the same `read` as a user's
own; `pop3mock probe` writes it with `dumps`. Every key is checked before a server starts,
and an error names the file and the key (docs/personalities.md lists them all).
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Callable, Mapping
from typing import Any

from pop3mock.checks import finite_number, read_toml, whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.protocol._config import ALL_CAPABILITIES, DEFAULT_TEXTS, UID_FORMATS

__all__ = ["FORMAT", "KEYS", "dumps", "parse", "read"]

#: The version of the format this module reads and writes.
FORMAT = 1

# Capabilities whose CAPA line carries arguments a personality file may set.
_WITH_ARGUMENTS = frozenset({"SASL", "LOGIN-DELAY", "EXPIRE", "IMPLEMENTATION", "UTF8"})


class _Invalid(Exception):
    """A value is wrong; the caller adds the file and the key."""


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {value!r}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected a string, got {value!r}")
    return value


def _integer(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not whole_number(value, minimum):
            raise _Invalid(f"expected a whole number >= {minimum}, got {value!r}")
        return value

    return check


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"expected a list of strings, got {value!r}")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Invalid(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return str(value)

    return check


def _pattern(value: Any) -> str:
    text = _string(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise _Invalid(f"not a regular expression: {exc}") from None
    return text


def _milliseconds(value: Any) -> float:
    if not finite_number(value) or value < 0:
        raise _Invalid(f"expected a finite number of milliseconds >= 0, got {value!r}")
    return float(value)


#: Every key of the format: top-level keys, and the keys of each table (None: any key, each
#: value checked by the table's check).
KEYS: Mapping[str, Any] = types.MappingProxyType(
    {
        "format": _integer(1),
        "description": _string,
        "hostname": _string,
        "last": _boolean,
        "implicit_tls": _boolean,
        "response_codes": _strings,
        "greeting": {
            "text": _string,
            "apop": _boolean,
        },
        "capabilities": {
            "capa": _boolean,
            "before_login": _strings,
            "after_login": _strings,
        },
        "strictness": {
            "arguments": _boolean,
            "user_name": _boolean,
            "bad_command_limit": _integer(0),
            "bad_command_limit_after_login": _integer(0),
            "max_line_length": _integer(8),
            # The key's name in files written before; they keep working.
            "max_command_length": _integer(8),
            "top_ignores_lines": _boolean,
        },
        "uidl": {"form": _one_of(UID_FORMATS), "pattern": _pattern},
        "texts": (sorted(DEFAULT_TEXTS), _string),
        "latency": (None, _milliseconds),
        "probe": {"host": _string, "tls": _string, "pop3mock": _string, "dropped": _strings},
    }
)


def read(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ServerConfig options and the POP3Server defaults the file at `path` sets."""
    return parse(read_toml(path, "personality file"), path)


def _checked(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """`data` with every key known and every value of its type, or ConfigurationError."""

    def unknown(key: str, known: list[str], where: str) -> ConfigurationError:
        hint = difflib.get_close_matches(key, known, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        return ConfigurationError(
            f"{source}: unknown key {where}{key!r}{suggestion}: "
            f"choose from {', '.join(sorted(known))}"
        )

    out: dict[str, Any] = {}
    for key, value in data.items():
        spec = KEYS.get(key)
        if spec is None:
            raise unknown(key, list(KEYS), "")
        if callable(spec):
            try:
                out[key] = spec(value)
            except _Invalid as exc:
                raise ConfigurationError(f"{source}: {key}: {exc}") from None
            continue
        if not isinstance(value, dict):
            raise ConfigurationError(f"{source}: {key}: expected a table, got {value!r}")
        table: dict[str, Any] = {}
        if isinstance(spec, tuple):
            names, check = spec
        else:
            names, check = list(spec), None
        for name, item in value.items():
            if names is not None and name not in names:
                raise unknown(name, list(names), f"in [{key}] ")
            try:
                table[name] = (check or spec[name])(item)
            except _Invalid as exc:
                raise ConfigurationError(f"{source}: {key}.{name}: {exc}") from None
        out[key] = table
    return out


def _capa_line(line: str) -> tuple[str, str]:
    tag, _, arguments = line.strip().partition(" ")
    return tag.upper(), arguments.strip()


def _lines(table: Mapping[str, Any], key: str, where: str) -> list[tuple[str, str]]:
    lines = [_capa_line(line) for line in table.get(key, [])]
    for tag, argument in lines:
        if tag not in ALL_CAPABILITIES:
            hint = difflib.get_close_matches(tag, sorted(ALL_CAPABILITIES), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigurationError(
                f"{where}.{key}: unknown capability {tag!r}{suggestion}: "
                f"pop3mock can offer {', '.join(sorted(ALL_CAPABILITIES))}"
            )
        if argument and tag not in _WITH_ARGUMENTS:
            raise ConfigurationError(
                f"{where}.{key}: {tag} takes no arguments here, got {argument!r}"
            )
    if len({tag for tag, _ in lines}) != len(lines):
        raise ConfigurationError(f"{where}.{key}: a capability is listed twice")
    return lines


def _capabilities(table: Mapping[str, Any], source: str, options: dict[str, Any]) -> None:
    where = f"{source}: capabilities"
    capa = table.get("capa", True)
    before = _lines(table, "before_login", where)
    after = _lines(table, "after_login", where)
    tags = [tag for tag, _ in before]
    arguments = dict(before)
    for tag, argument in after:
        if tag in arguments and argument and argument != arguments[tag] and tag != "UTF8":
            raise ConfigurationError(
                f"{where}.after_login: {(tag + ' ' + argument)!r} differs from "
                f"before_login's {(tag + ' ' + arguments[tag]).strip()!r}: pop3mock lists a "
                "capability with the same arguments before and after login"
            )
        arguments.setdefault(tag, argument)
    if not capa and "CAPA" in arguments:
        raise ConfigurationError(
            f"{where}: lists CAPA but capa = false (the server answers CAPA with -ERR)"
        )
    options["capabilities"] = frozenset(arguments) | ({"CAPA"} if capa else frozenset())
    if capa:
        # Without CAPA the order of the lines is never seen: keep the default.
        options["capa_order"] = tuple(tags)
    if "after_login" in table:
        options["capa_after_login"] = tuple(tag for tag, _ in after)
    if "SASL" in arguments:
        if not arguments["SASL"]:
            raise ConfigurationError(f"{where}: SASL needs its mechanisms")
        options["mechanisms"] = tuple(arguments["SASL"].split())
    if arguments.get("LOGIN-DELAY"):
        delay = arguments["LOGIN-DELAY"]
        if not (delay.isascii() and delay.isdigit()):
            raise ConfigurationError(
                f"{where}: LOGIN-DELAY takes a number of seconds, got {delay!r}"
            )
        options["login_delay"] = int(delay)
    if arguments.get("EXPIRE"):
        options["expire"] = arguments["EXPIRE"]
    if "IMPLEMENTATION" in arguments:
        options["implementation"] = arguments["IMPLEMENTATION"]
    if arguments.get("UTF8", "USER") != "USER":
        raise ConfigurationError(
            f"{where}: UTF8 takes no argument or USER, got {arguments['UTF8']!r}"
        )


def parse(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ServerConfig options and POP3Server defaults of the parsed file `data`."""
    from pop3mock.protocol._config import ServerConfig

    values = _checked(data, source)
    version = values.get("format", FORMAT)
    if version != FORMAT:
        raise ConfigurationError(
            f"{source}: format: this is a format {version} personality file; this pop3mock "
            f"reads format {FORMAT}"
        )
    options: dict[str, Any] = {}
    server: dict[str, Any] = {}
    texts = dict(values.get("texts", {}))
    greeting = values.get("greeting", {})
    if "text" in greeting:
        texts["greeting"] = greeting["text"]
    if "apop" in greeting:
        options["apop"] = greeting["apop"]
    if "capabilities" in values:
        _capabilities(values["capabilities"], source, options)
    strictness = values.get("strictness", {})
    if "arguments" in strictness:
        options["strict_arguments"] = strictness["arguments"]
    if "user_name" in strictness:
        options["strict_user_name"] = strictness["user_name"]
    for key in ("bad_command_limit", "bad_command_limit_after_login"):
        if key in strictness:
            options[key] = strictness[key] or None  # 0: never
    if "max_line_length" in strictness and "max_command_length" in strictness:
        raise ConfigurationError(
            f"{source}: strictness: max_line_length and max_command_length (its former name) "
            "are both given: keep max_line_length"
        )
    for key in ("max_line_length", "max_command_length", "top_ignores_lines"):
        if key in strictness:
            options["max_line_length" if key == "max_command_length" else key] = strictness[key]
    if "form" in values.get("uidl", {}):
        options["uid_format"] = values["uidl"]["form"]
    for key in ("last", "hostname"):
        if key in values:
            options[key] = values[key]
    if "response_codes" in values:
        options["response_codes"] = frozenset(code.upper() for code in values["response_codes"])
    if "implicit_tls" in values:
        server["implicit_tls"] = values["implicit_tls"]
    if texts:
        options["texts"] = texts
    try:
        ServerConfig(**options)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None
    return options, server


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # A TOML basic string: JSON's escapes are TOML's, but \u for non-ASCII keeps the
        # file plain ASCII.
        escaped = "".join(_escape(c) for c in value)
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _escape(char: str) -> str:
    if " " <= char <= "~":
        return {'"': '\\"', "\\": "\\\\"}.get(char, char)
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _value(name)


def dumps(document: Mapping[str, Any], comments: Mapping[str, str] | None = None) -> str:
    """`document` (top-level values, then tables of values) as TOML text; `comments` adds
    a comment line above a key ("table.key" or "key") or a table ("table")."""
    comments = comments or {}
    out: list[str] = []

    def comment(path: str) -> None:
        if path in comments:
            out.extend(f"# {line}".rstrip() for line in comments[path].splitlines())

    tables = {k: v for k, v in document.items() if isinstance(v, Mapping)}
    for key, value in document.items():
        if key not in tables:
            comment(key)
            out.append(f"{_key(key)} = {_value(value)}")
    for name, table in tables.items():
        out.append("")
        comment(name)
        out.append(f"[{_key(name)}]")
        for key, value in table.items():
            comment(f"{name}.{key}")
            out.append(f"{_key(key)} = {_value(value)}")
    return "\n".join(out).lstrip("\n") + "\n"
