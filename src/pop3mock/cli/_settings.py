"""What `pop3mock serve` serves: the config file's values with the flags on top, checked,
and the users, maildrops and fault rules they give.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import attrs

from pop3mock.cli._arguments import FLAGS
from pop3mock.cli._config_file import FileConfig, UserEntry, load_config
from pop3mock.errors import ConfigurationError
from pop3mock.protocol._personality import server_default
from pop3mock.server._assemble import FaultInput

__all__ = [
    "Settings",
    "read_settings",
]


@attrs.frozen
class Settings:
    """What to serve: the config file's values with the flags on top, checked."""

    users: tuple[UserEntry, ...]
    faults: tuple[FaultInput, ...]
    options: Mapping[str, Any]
    config: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    messages: str | None = None
    fake: int | None = None
    seed: int | None = None
    #: How to name a seed given on purpose that nothing would use ("--seed"); None: no check.
    seed_source: str | None = None
    #: The default maildrop is --messages of the command line (it replaced the file's).
    messages_flag: bool = False
    #: How to name a default maildrop given on purpose ("--fake", "FILE: messages"); None:
    #: none was given (the built-in default of 10 generated messages).
    maildrop_source: str | None = None
    tls_port: int | None = None
    stls: bool = False
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    tls_dir: str | None = None
    personality: str | None = None
    replay: str | None = None
    replay_timing: bool = False
    strict: bool = False
    #: Exit 3 when strict mode saw violations or a counted fault did not fire.
    check: bool = False
    #: None: the server's default; 0: never.
    idle_timeout: float | None = None
    journal: str | None = None
    quiet: bool = False
    ready_file: str | None = None
    fault_seed: int | None = None
    #: None: the default of serve; 0: no cap.
    max_connections: int | None = None
    #: None: the default of serve; 0: no deadline.
    login_timeout: float | None = None
    drop_oldest_when_full: bool | None = None
    #: Ended sessions the in-memory journal keeps: None is the default, 0 all of them.
    journal_keep: int | None = None
    #: None: serve's defaults; 0: off.
    auth_failure_delay: float | None = None
    max_auth_failures: int | None = None
    #: The largest message file read (None: the loaders' default).
    max_message_size: int | None = None
    #: Commands of a session kept at each end: None is the default, 0 all of them.
    session_keep_commands: int | None = None
    #: The HTTP control API: off unless a port is given; the host defaults to `host`.
    admin_port: int | None = None
    admin_host: str | None = None
    admin_token: str | None = None
    admin_max_body: int | None = None

    @property
    def tls(self) -> bool:
        return self.stls or self.tls_port is not None


def read_settings(args: argparse.Namespace) -> Settings:
    file: FileConfig | None = load_config(args.config) if args.config else None
    values: dict[str, Any] = dict(file.values) if file else {}
    if args.messages is not None or args.fake is not None:
        # One maildrop source: a flag replaces the file's, whichever kind it is.
        values.pop("messages", None)
        values.pop("fake", None)
    for name in FLAGS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if values.get("messages") is not None and values.get("fake") is not None:
        raise ConfigurationError("give either --messages or --fake, not both")
    # Flag faults first: the first matching rule fires, and flags override the file.
    faults = [FaultInput(spec, "--fault") for spec in args.fault]
    file_faults = values.pop("faults", ())
    if file is not None:
        faults += [
            FaultInput(spec, f"{file.path}: faults[{n}]") for n, spec in enumerate(file_faults, 1)
        ]
    users: dict[str, UserEntry] = {u.name: u for u in file.users} if file else {}
    given: set[str] = set()
    for name, password in args.user:
        if name in given:
            raise ConfigurationError(f"--user {name}: given twice; give each user once")
        given.add(name)
        if name in users:
            users[name] = attrs.evolve(users[name], password=password)
        else:
            users[name] = UserEntry(name, password, source=f"--user {name}")
    for user in users.values():
        faults += [
            FaultInput(spec, f"{user.source}.faults[{n}]", user.name)
            for n, spec in enumerate(user.faults, 1)
        ]
    personality = values.get("personality") or "default"
    if values.get("tls_port") is None and server_default(personality, "implicit_tls", None):
        values["tls_port"] = 0  # e.g. gmail: POP3S only, on a free port unless one is given
    _check_tls(values)
    seed_source = None
    if args.seed is not None:
        seed_source = "--seed"
    elif file is not None and "seed" in file.values and args.messages is None:
        # (--messages on the command line replaces the file's fake and so its seed too.)
        seed_source = f"{file.path}: seed"
    maildrop_source = None
    if args.messages is not None or args.fake is not None:
        maildrop_source = "--messages" if args.messages is not None else "--fake"
    elif file is not None:
        keys = [key for key in ("messages", "fake") if key in file.values]
        maildrop_source = f"{file.path}: {keys[0]}" if keys else None
    return Settings(
        users=tuple(users.values()),
        maildrop_source=maildrop_source,
        faults=tuple(faults),
        options=dict(file.options) if file else {},
        config=file.path if file else None,
        seed_source=seed_source,
        messages_flag=args.messages is not None,
        **values,
    )


def _check_tls(values: Mapping[str, Any]) -> None:
    tls = values.get("stls") or values.get("tls_port") is not None
    given = [name for name in ("cert", "key", "ca", "tls_dir") if values.get(name)]
    if given and not tls:
        raise ConfigurationError(f"--{given[0].replace('_', '-')} needs --tls-port or --stls")
    if values.get("cert") is None:
        for name in ("key", "ca"):
            if values.get(name):
                raise ConfigurationError(f"--{name} goes with --cert")
    elif values.get("tls_dir"):
        raise ConfigurationError("--tls-dir is for the generated certificate, not with --cert")
