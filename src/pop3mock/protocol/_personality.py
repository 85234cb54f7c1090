"""Personalities: presets that make pop3mock greet, advertise and phrase like a known server.

A test picks one to check that its client copes with that server:

- ``default``: everything pop3mock can do is on.
- ``rfc1939``: the bare RFC 1939 minimum: no CAPA, no TOP, no UIDL, no SASL, no APOP, no
  LAST (RFC 1725 removed it).
- ``dovecot``: Dovecot 2.3 as observed with its defaults: greeting with an APOP timestamp,
  its CAPA lines in its order (CAPA itself included; fewer once logged in), SASL PLAIN
  LOGIN CRAM-MD5, its reply texts, ``%08Xu%08Xv`` UIDLs, no LAST, lenient arguments; the
  4th bad command before login closes the connection, and the 21st after it. Dovecot's
  failed-login delay is left off (``auth_failure_delay=2`` turns it on).
- ``gmail``: Gmail's POP3 greeting, capability list (EXPIRE 0, LOGIN-DELAY 300, SASL PLAIN
  XOAUTH2 OAUTHBEARER) and texts, ``GmailId…`` UIDLs; the server also listens with
  implicit TLS (pop.gmail.com only offers port 995).

Each of them but ``default`` is a personality file (TOML) shipped in the package's
``personalities`` folder, read by the same loader as a user's own file
(``personality="path/to/server.toml"``; docs/personalities.md describes the format). The
files are read on first use: pytest imports this module at every start.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pop3mock.errors import ConfigurationError

if TYPE_CHECKING:
    from pop3mock.protocol._config import ServerConfig

__all__ = [
    "BUILTIN_FOLDER",
    "FORMAT",
    "PERSONALITIES",
    "SERVER_DEFAULTS",
    "load_personality",
    "personality_config",
    "server_default",
]

#: The folder of the built-in personality files: where to start a file of your own.
BUILTIN_FOLDER: str = os.path.join(os.path.dirname(__file__), "personalities")

#: The version of the personality file format this pop3mock reads and writes.
FORMAT = 1

_BUILTIN = ("default", "dovecot", "gmail", "rfc1939")
# POP3Server options (not ServerConfig ones) that a personality file can set.
_SERVER_OPTIONS = ("implicit_tls",)
# Files read, by name (and a file's mtime and size): at most this many are kept.
_CACHED_FILES = 64
# Configurations of the built-in personalities built, by their options: at most this many.
_CACHED_CONFIGS = 128


def _is_path(name: object) -> bool:
    if isinstance(name, os.PathLike):
        return True
    return isinstance(name, str) and (name.endswith(".toml") or os.sep in name or "/" in name)


def _resolve(name: str | os.PathLike[str]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The ServerConfig values and the POP3Server defaults of personality `name`."""
    key = os.fspath(name)
    if key not in _BUILTIN:
        if not _is_path(name):
            raise ConfigurationError(
                f"unknown personality {key!r}: choose from {sorted(_BUILTIN)} "
                "or give the path of a personality file (.toml)"
            )
        try:
            stat = os.stat(key)
        except OSError:
            return _read(key)  # which says why the file cannot be read
        # A file edited since it was read (a test rewriting it) is read again.
        key = f"{key}\0{stat.st_mtime_ns}\0{stat.st_size}"
    if key == "default":
        return _load(key, None)
    if key in _BUILTIN:
        return _load(key, os.path.join(BUILTIN_FOLDER, f"{key}.toml"))
    return _load(key, os.fspath(name))


@functools.lru_cache(maxsize=_CACHED_FILES)
def _load(key: str, path: str | None) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The values of the file at `path` (None: the default personality), read-only: they are
    shared by every server of the process, and PERSONALITIES hands them out."""
    options, server = ({}, {}) if path is None else _read(path)
    return _read_only(options), _read_only(server)


def _read_only(value: Any) -> Any:
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _read_only(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_read_only(v) for v in value)
    return value


class _Presets(Mapping[str, Mapping[str, Any]]):
    """The built-in personalities by name; a file is read when its preset is first asked for."""

    def __init__(self, part: int) -> None:
        self._part = part

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        if name not in _BUILTIN:
            raise KeyError(name)
        return _resolve(name)[self._part]

    def __iter__(self) -> Iterator[str]:
        return iter(_BUILTIN)

    def __len__(self) -> int:
        return len(_BUILTIN)

    def __contains__(self, name: object) -> bool:
        return name in _BUILTIN


#: The built-in personalities: name -> the ServerConfig options it sets.
PERSONALITIES: Mapping[str, Mapping[str, Any]] = _Presets(0)

#: POP3Server options a personality changes when the caller does not set them.
SERVER_DEFAULTS: Mapping[str, Mapping[str, Any]] = _Presets(1)


def server_default(personality: str, option: str, value: Any) -> Any:
    """`value` if the caller set it (not None), else the personality's default for `option`."""
    if value is not None:
        return value
    return _resolve(personality)[1].get(option)


def load_personality(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The ServerConfig options a personality file sets, checked; its POP3Server defaults
    (``implicit_tls``) under the key ``"server"``. Raises ConfigurationError naming the
    file and the key that is wrong."""
    options, server = _read(os.fspath(path))
    return {**options, "server": dict(server)}


def _read(path: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    from pop3mock.protocol import _personality_file as personality_file

    return personality_file.read(path)


def personality_config(name: str | os.PathLike[str] = "default", **overrides: Any) -> ServerConfig:
    """A `ServerConfig` for personality `name` (a built-in name or the path of a personality
    file), with `overrides` applied on top."""
    if not isinstance(name, (str, os.PathLike)):
        raise ConfigurationError(
            f"personality must be a name or the path of a personality file, not {name!r}"
        )
    if isinstance(name, str) and name in _BUILTIN:
        # Every server of a test suite builds one, mostly with the same few options: a
        # ServerConfig is deeply frozen, so servers with the same options share one.
        key = _options_key(overrides)
        if key is not None:
            return _cached_config(name, _Keyed(key, overrides))
    return _build_config(name, overrides)


_SCALARS = frozenset({str, int, float, bool, type(None)})
_CONTAINERS = frozenset({tuple, list, frozenset, set})


def _value_key(value: Any) -> Hashable | None:
    """What decides the config `value` makes: its exact type and value, item by item (so
    that ``True`` and ``1``, ``1`` and ``1.0``, ``0.0`` and ``-0.0`` differ); None for a value
    of another kind, which is not cached."""
    kind = type(value)
    if kind in _SCALARS:
        return kind, value.hex() if kind is float else value
    if kind in _CONTAINERS or kind is dict:
        pairs = value.items() if kind is dict else enumerate(value)
        items = []
        for index, item in pairs:
            index_key, item_key = _value_key(index), _value_key(item)
            if index_key is None or item_key is None:
                return None
            items.append((index_key, item_key))
        return kind, tuple(items)
    return None


def _options_key(overrides: Mapping[str, Any]) -> Hashable | None:
    items = []
    for option, value in overrides.items():
        key = _value_key(value)
        if key is None:
            return None
        items.append((option, key))
    return tuple(sorted(items, key=lambda item: item[0]))


class _Keyed:
    """Options for `_cached_config`: compared and hashed by their key alone."""

    __slots__ = ("_hash", "key", "options")

    def __init__(self, key: Hashable, options: dict[str, Any]) -> None:
        self.key = key
        self.options: dict[str, Any] | None = options
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Keyed) and self.key == other.key


@functools.lru_cache(maxsize=_CACHED_CONFIGS)
def _cached_config(name: str, keyed: _Keyed) -> ServerConfig:
    options, keyed.options = keyed.options, None  # the cache keeps the key, not the values
    assert options is not None
    return _build_config(name, options)


def _build_config(name: str | os.PathLike[str], overrides: dict[str, Any]) -> ServerConfig:
    # Imported here so that the pytest plugin can list the personalities at start without
    # loading the protocol core.
    import difflib

    import attrs

    from pop3mock.protocol._config import ServerConfig

    preset, _ = _resolve(name)
    overrides = dict(overrides)
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
    values["personality"] = os.fspath(name)
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
