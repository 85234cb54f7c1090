"""`pop3mock serve`: run the server from a shell, for clients in any language.

Everything is checked before the port is bound (config file, users, maildrops, faults,
certificates), so a mistake costs one line on stderr and exit status 2, never a half-started
server. Once listening, the first line on stdout names the URL, so a script can read one
line and connect: no sleeping, no polling.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import attrs

from pop3mock import __version__
from pop3mock.checks import DURATION_RULE, MAX_LAZY_MESSAGES, duration, suggestion, unknown_user
from pop3mock.cli._config_file import FileConfig, UserEntry, load_config
from pop3mock.errors import ConfigurationError, Pop3MockError, ServerError
from pop3mock.faults._faultset import Rule, parse_spec
from pop3mock.journal._journal import CommandRecord, SessionRecord
from pop3mock.maildrop._message import LazyMessage, Message
from pop3mock.maildrop._sources import DEFAULT_MAX_MESSAGE_SIZE
from pop3mock.probe import _probe as probe
from pop3mock.probe import _proxy as proxy
from pop3mock.protocol._personality import PERSONALITIES, server_default
from pop3mock.protocol._text import escape, escape_json, masked
from pop3mock.server._server import SESSION_KEEP_COMMANDS, POP3Server

if TYPE_CHECKING:
    from pop3mock.admin import AdminServer

__all__ = ["build_parser", "main"]

_T = TypeVar("_T")
_Listener = Callable[[str, SessionRecord, "CommandRecord | None"], None]
_DEFAULT_USER = ("user", "password")
_DEFAULT_FAKE = 10
#: Flags that a config file key of the same name (dashes as underscores) can also set.
_FLAGS = (
    "host",
    "port",
    "messages",
    "fake",
    "seed",
    "tls_port",
    "stls",
    "cert",
    "key",
    "ca",
    "tls_dir",
    "personality",
    "replay",
    "replay_timing",
    "strict",
    "check",
    "idle_timeout",
    "journal",
    "quiet",
    "ready_file",
    "fault_seed",
    "journal_keep",
    "auth_failure_delay",
    "max_auth_failures",
    "max_message_size",
    "session_keep_commands",
    "max_connections",
    "login_timeout",
    "drop_oldest_when_full",
    "admin_port",
    "admin_host",
    "admin_token",
    "admin_max_body",
)

# Ended sessions `serve` keeps in memory: it runs for as long as its user wants, and the
# in-memory journal only feeds the summary at exit (the --journal file has them all).
_JOURNAL_KEEP = 1000
# A shared server slows down password guessing on one connection and then closes it
# (Dovecot: 2 s doubling to 15 s). Shorter than Dovecot's first step: a test that checks
# its client's answer to one wrong password waits half a second, not two.
_AUTH_FAILURE_DELAY = 0.5
_MAX_AUTH_FAILURES = 10
# Unusual messages named one per line at start-up; the rest are counted.
_NOTES_SHOWN = 20
# A shared service's limits (Python's defaults, for tests, have none): no client holds a
# thread forever, and clients trickling bytes cannot take every slot.
_MAX_CONNECTIONS = 100
_LOGIN_TIMEOUT = 180.0  # Dovecot's: 3 minutes from connect to login

_TOP_EPILOG = """\
examples:
  pop3mock serve                  user "user", password "password", 10 generated messages
  pop3mock serve --port 1110 --user alice:secret --messages ./mail
  pop3mock serve --help           every option of serve, each with an example
  pop3mock probe pop3://alice@mail.example.net --out mine.toml
                                  a server's manners as a personality file
  pop3mock --version
"""

_SERVE_EPILOG = """\
examples:
  pop3mock serve
      any free port; user "user" / password "password" with 10 generated messages
  pop3mock serve --host 127.0.0.1 --port 1110 --user alice:secret --user bob:hunter2
      two users, both with the same 10 generated messages
  pop3mock serve --user alice:secret --messages ./mail
      a folder of .eml files (sorted by name), an mbox file or a Maildir
  pop3mock serve --messages ./big-mail --max-message-size 268435456
      read message files up to 256 MiB (default 64 MiB); a bigger one, a FIFO or a
      device in the folder is an error at start, never a hang or a full memory
  pop3mock serve --fake 500 --seed 42
      500 generated messages, the same bytes on every run with seed 42
  pop3mock serve --tls-port 1995 --stls
      implicit TLS (pop3s) on port 1995 and STLS on the plain port; the certificate and
      the CA to trust (curl --cacert CA) are written to files whose paths are printed
  pop3mock serve --tls-port 0 --tls-dir ./certs
      the generated ca.pem, server-cert.pem and server-key.pem go to ./certs (kept)
  pop3mock serve --stls --cert server.pem --key server.key --ca ca.pem
      your own certificate; --ca only names the CA to print in the curl command
  pop3mock serve --fault 'RETR 2: error [SYS/TEMP] storage offline' --fault 'QUIT: reset'
      fault rules, one per --fault, the same rules as server.faults in Python
  pop3mock serve --fault 'RETR p=0.3: error [SYS/TEMP] flaky' --fault-seed 7
      a rule that fires on about 30% of RETRs: the same ones on every run with seed 7
      (the seed in use is printed as "fault seed: N", so any run can be replayed)
  pop3mock serve --strict --check --fault 'RETR 1 once: error [SYS/TEMP] busy'
      after Ctrl-C, exit with status 3 if the client broke the protocol or never
      sent RETR 1 (the fault did not fire): a CI step fails like a pytest test
  pop3mock serve --personality dovecot --strict --idle-timeout 30
      greet and answer like Dovecot; report client protocol violations on stderr;
      close connections idle for 30 s (0: never)
  pop3mock serve --replay session.jsonl --replay-timing
      answer with the replies pop3mock proxy recorded, byte for byte, after the
      recorded pauses; a client line that differs from the recording gets -ERR and
      is reported on stderr
  pop3mock serve --journal pop3.jsonl
      one JSON object per session start, command and session end, written as it
      happens (follow it with: tail -f pop3.jsonl); passwords are masked
  pop3mock serve --auth-failure-delay 2 --max-auth-failures 3
      answer a failed login after 2 s, then 4 s, 8 s, up to 15 s (Dovecot's figures),
      and close the connection at the 3rd failure (defaults 0.5 s and 10; 0: off)
  pop3mock serve --journal-keep 0
      keep every session in memory (default: the last 1000 ended ones, so that a
      server running for days stays small; the --journal file gets them all anyway)
  pop3mock serve --max-connections 20 --login-timeout 30 --drop-oldest-when-full
      at most 20 connections at once (default 100; 0: no cap), each logged in within
      30 s of connecting (default 180; 0: no deadline); when full, the oldest
      connection not logged in makes room for a new one (the default)
  pop3mock serve --max-connections 20 --no-drop-oldest-when-full
      when full, refuse a new client with -ERR [SYS/TEMP] instead
  pop3mock serve --session-keep-commands 100
      keep the first and last 100 commands of each session in memory (default
      1000; 0: all); the ones in between are counted, and the --journal file
      gets them all anyway
  pop3mock serve --config pop3mock.toml --port 1110
      users, maildrops, faults and server options from a TOML file; flags override it
  pop3mock serve --admin-port 8025
      also serve the HTTP control API on http://127.0.0.1:8025 (users, mail, faults,
      journal: docs/admin.md)
  pop3mock serve --host 0.0.0.0 --admin-port 0 --admin-host 0.0.0.0 --admin-token s3cret
      the control API on every address: refused without --admin-token, and every
      request then needs "Authorization: Bearer s3cret"
  pop3mock serve --admin-port 0 --admin-max-body 1048576
      refuse control API request bodies over 1 MiB (default 64 MiB) with status 413
  pop3mock serve --quiet --ready-file /tmp/pop3.ready
      print only the "listening on" lines; write the URL(s) to /tmp/pop3.ready once
      listening (removed on exit)

The first output line is "listening on pop3://HOST:PORT" (then "listening on
pop3s://HOST:PORT" with --tls-port, then "admin on http://HOST:PORT" with
--admin-port). SIGINT and SIGTERM stop the server cleanly (exit
status 0); a configuration error or a port in use exits with status 2 and one line on stderr.
On stop, counted fault rules (once, times=N, #N) that did not fire as often as configured
are listed ("fault never fired: ..."); the exit status stays 0, unless --check is given:
then such a rule, or a client's protocol violation under --strict, exits with status 3.
"""


_PROBE_EPILOG = """\
example:
  POP3MOCK_PROBE_PASSWORD=secret pop3mock probe pop3://alice@127.0.0.1:1110 --out mine.toml
  pop3mock serve --personality mine.toml

It sends, in order: CAPA, STLS (with --stls), an unknown command, USER without a name,
USER and a wrong PASS (not with --no-failed-login), USER and PASS, CAPA, STAT, LIST,
LIST 1, LIST of a message out of range, UIDL, UIDL 1, TOP 1 0, RETR 1 (not with --no-retr
nor where EXPIRE 0 is advertised), NOOP, NOOP with an argument, RSET, LAST, QUIT; then a
second connection sends QUIT. Each command is printed on stderr as it is sent (passwords
and the user name masked). A server that cannot be reached, is not POP3 or refuses the
login ends the probe within --timeout with one line on
stderr and exit status 2.
"""


_PROXY_EPILOG = """\
example:
  pop3mock proxy --upstream pop3s://mail.example.net --record session.jsonl
  pop3mock serve --replay session.jsonl

The first line on stdout is 'listening on pop3://HOST:PORT': point the client there. Each
client connection is relayed to its own upstream connection and recorded as it happens.
A malformed address, upstream URL or record file ends it with one line on stderr and exit
status 2.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        unknown = message.partition("unrecognized arguments: ")[2].split()
        flag = next((word for word in unknown if word.startswith("--")), None)
        if flag is not None:
            message += suggestion(flag.partition("=")[0], _flags(self), prefix="--")
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every --flag of `parser` and of its subcommands."""
    out: set[str] = set()
    for action in parser._actions:
        out.update(o for o in action.option_strings if o.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out |= _flags(sub)
    return out


def _user(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:PASSWORD, got {text!r}")
    return name, password


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _octets(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of octets >= 1, got {text!r}")
    return value


def _personality(value: str) -> str:
    if value in PERSONALITIES or value.endswith(".toml"):
        return value
    raise argparse.ArgumentTypeError(
        f"invalid choice: {value!r} (choose from {', '.join(sorted(PERSONALITIES))}, or a "
        "personality file FILE.toml)"
    )


def _messages_count(text: str) -> int:
    value = _count(text)
    if value > MAX_LAZY_MESSAGES:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_LAZY_MESSAGES} generated messages, got {text!r}"
        )
    return value


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value != 0 and not duration(value):
        raise argparse.ArgumentTypeError(f"expected 0 (never) or {DURATION_RULE}, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not duration(value, zero=True):
        raise argparse.ArgumentTypeError(f"expected 0 or {DURATION_RULE}, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The `pop3mock` command line: `pop3mock serve [options]`, `pop3mock probe URL
    [options]`, `--version`, `--help`."""
    parser = _Parser(
        prog="pop3mock",
        description="pop3mock: a real POP3 server for tests.",
        epilog=_TOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pop3mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run a POP3 server until SIGINT or SIGTERM",
        description="Run a POP3 server until SIGINT (Ctrl-C) or SIGTERM.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe_parser = commands.add_parser(
        "probe",
        help="probe a POP3 server and write its manners as a personality file",
        description="Probe a POP3 server with a fixed script that changes nothing (no DELE) "
        "and write what it saw as a personality file for --personality. The password comes "
        f"from ${probe.PASSWORD_VARIABLE} or a prompt, never from the command line.",
        epilog=_PROBE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe.add_arguments(probe_parser)
    proxy_parser = commands.add_parser(
        "proxy",
        help="relay POP3 clients to a server and record the conversations for --replay",
        description="Relay POP3 clients to a real server and record both directions, with "
        "timing, as JSON lines for `pop3mock serve --replay`. Credentials are masked and "
        "message bodies replaced by same-size placeholders (unless --keep-bodies). Runs "
        "until SIGINT (Ctrl-C) or SIGTERM.",
        epilog=_PROXY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    proxy.add_arguments(proxy_parser)
    add = serve.add_argument
    add("--host", metavar="HOST", help="address to bind (default 127.0.0.1)")
    add("--port", type=_port, metavar="PORT", help="port to listen on (default 0: any free port)")
    add(
        "--user",
        type=_user,
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="a user (repeatable); without any: user 'user', password 'password'",
    )
    add(
        "--messages",
        metavar="PATH",
        help="a folder of .eml files, an mbox file or a Maildir: the maildrop of every user",
    )
    add(
        "--fake",
        type=_messages_count,
        metavar="N",
        help=f"N generated messages per user (default {_DEFAULT_FAKE} without --messages)",
    )
    add("--seed", type=int, metavar="S", help="seed of the generated messages (default 0)")
    add(
        "--max-message-size",
        type=_octets,
        metavar="OCTETS",
        help="refuse a message file bigger than this (default "
        f"{DEFAULT_MAX_MESSAGE_SIZE}: 64 MiB); FIFOs and devices are never read",
    )
    add(
        "--tls-port",
        type=_port,
        metavar="P",
        help="also listen for implicit TLS (pop3s) on port P (0: any free port)",
    )
    add(
        "--stls",
        action=argparse.BooleanOptionalAction,
        help="offer STLS on the plain port",
    )
    add(
        "--cert",
        metavar="FILE",
        help="PEM server certificate (default: a throwaway one, written to files)",
    )
    add("--key", metavar="FILE", help="PEM private key of --cert (if not in the --cert file)")
    add("--ca", metavar="FILE", help="the CA of --cert, printed for clients to trust")
    add(
        "--tls-dir",
        metavar="DIR",
        help="write the throwaway CA, certificate and key here and keep them (default: a "
        "temporary folder removed on exit)",
    )
    add(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="a fault rule (repeatable), e.g. 'RETR 2: error [SYS/TEMP] storage offline'",
    )
    add(
        "--fault-seed",
        type=int,
        metavar="N",
        help="seed of the fault rules' random draws (p=, delay ranges, garbage); default: "
        "a random one, printed",
    )
    add(
        "--personality",
        type=_personality,
        metavar="NAME|FILE.toml",
        help=f"answer like a known server: {', '.join(sorted(PERSONALITIES))} (default: "
        "default), or a personality file (see pop3mock probe)",
    )
    add(
        "--replay",
        metavar="FILE.jsonl",
        help="answer with the replies of a recording made by pop3mock proxy (connections "
        "in the recorded order)",
    )
    add(
        "--replay-timing",
        action=argparse.BooleanOptionalAction,
        help="wait before each replayed reply as long as the recorded server did",
    )
    add(
        "--strict",
        action=argparse.BooleanOptionalAction,
        help="report the client's protocol violations on stderr",
    )
    add(
        "--check",
        action=argparse.BooleanOptionalAction,
        help="exit with status 3 if clients broke the protocol (with --strict) or a counted "
        "fault rule did not fire as configured: a CI job fails as a pytest test would",
    )
    add(
        "--idle-timeout",
        type=_timeout,
        metavar="SECONDS",
        help="close connections idle this long (default 600; 0: never)",
    )
    add(
        "--auth-failure-delay",
        type=_seconds,
        metavar="SECONDS",
        help=f"wait before answering a failed login, doubling per failure in the connection "
        f"up to 15 s (default {_AUTH_FAILURE_DELAY}; 0: answer at once)",
    )
    add(
        "--max-auth-failures",
        type=_count,
        metavar="N",
        help=f"close a connection at its Nth failed login (default {_MAX_AUTH_FAILURES}; 0: never)",
    )
    add(
        "--max-connections",
        type=_count,
        metavar="N",
        help=f"connections served at once (default {_MAX_CONNECTIONS}; 0: no cap)",
    )
    add(
        "--login-timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"close connections not logged in this long after connecting (default "
        f"{_LOGIN_TIMEOUT:g}; 0: never)",
    )
    add(
        "--drop-oldest-when-full",
        action=argparse.BooleanOptionalAction,
        help="when --max-connections is reached, drop the oldest connection not logged in "
        "to make room (default); --no-drop-oldest-when-full refuses the newcomer instead",
    )
    add(
        "--journal",
        metavar="FILE.jsonl",
        help="write every session and command to FILE as JSON lines, as they happen",
    )
    add(
        "--journal-keep",
        type=_count,
        metavar="N",
        help=f"ended sessions kept in memory (default {_JOURNAL_KEEP}; 0: all)",
    )
    add(
        "--session-keep-commands",
        type=_count,
        metavar="N",
        help=f"commands of a session kept in memory at each end, the first N and the last N "
        f"(default {SESSION_KEEP_COMMANDS}; 0: all)",
    )
    add(
        "--config",
        metavar="FILE.toml",
        help="read users, maildrops, faults and options from a TOML file (flags override it)",
    )
    add(
        "--quiet",
        action=argparse.BooleanOptionalAction,
        help="print only the 'listening on' lines",
    )
    add(
        "--ready-file",
        metavar="PATH",
        help="write the URL(s) to PATH once listening (removed on exit)",
    )
    add(
        "--admin-port",
        type=_port,
        metavar="P",
        help="serve the HTTP control API on port P (0: any free port; default: off)",
    )
    add(
        "--admin-host",
        metavar="HOST",
        help="address of the control API (default: --host); not loopback needs --admin-token",
    )
    add(
        "--admin-token",
        metavar="TOKEN",
        help="every control API request must carry 'Authorization: Bearer TOKEN'",
    )
    add(
        "--admin-max-body",
        type=_count,
        metavar="N",
        help="largest control API request body in octets (default 64 MiB)",
    )
    return parser


# -- settings: the config file and the flags, merged ---------------------------------------


@attrs.frozen
class _Fault:
    spec: str
    source: str
    #: Set for a fault of a [[users]] table: it matches that user only.
    user: str | None = None


@attrs.frozen
class _Settings:
    """What to serve: the config file's values with the flags on top, checked."""

    users: tuple[UserEntry, ...]
    faults: tuple[_Fault, ...]
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


def _settings(args: argparse.Namespace) -> _Settings:
    file: FileConfig | None = load_config(args.config) if args.config else None
    values: dict[str, Any] = dict(file.values) if file else {}
    if args.messages is not None or args.fake is not None:
        # One maildrop source: a flag replaces the file's, whichever kind it is.
        values.pop("messages", None)
        values.pop("fake", None)
    for name in _FLAGS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if values.get("messages") is not None and values.get("fake") is not None:
        raise ConfigurationError("give either --messages or --fake, not both")
    # Flag faults first: the first matching rule fires, and flags override the file.
    faults = [_Fault(spec, "--fault") for spec in args.fault]
    file_faults = values.pop("faults", ())
    if file is not None:
        faults += [
            _Fault(spec, f"{file.path}: faults[{n}]") for n, spec in enumerate(file_faults, 1)
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
            _Fault(spec, f"{user.source}.faults[{n}]", user.name)
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
    return _Settings(
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


# -- building the server (nothing is bound yet) --------------------------------------------


@attrs.frozen
class _TlsFiles:
    cert: str
    key: str | None
    ca: str | None


def _tls(settings: _Settings) -> tuple[ssl.SSLContext, _TlsFiles | None]:
    """The server's TLS context; the files of a generated certificate (None: not written
    yet, see `_write_tls`)."""
    if settings.cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(settings.cert, settings.key)
        except (OSError, ssl.SSLError) as exc:
            key = f" / key {settings.key}" if settings.key else ""
            raise ConfigurationError(
                f"cannot load the certificate {settings.cert}{key}: {_reason(exc)}"
            ) from None
        return context, _TlsFiles(settings.cert, settings.key, settings.ca)
    from pop3mock.server import tls

    if settings.tls_dir is not None:
        _check_writable(settings.tls_dir, "write the certificates to", folder=True)
    return tls.server_context(), None


def _write_tls(settings: _Settings, stack: contextlib.ExitStack) -> _TlsFiles:
    """Write the generated certificate's files (once the ports are bound)."""
    from pop3mock.server import tls

    if settings.tls_dir is not None:
        directory = settings.tls_dir
    else:
        directory = tempfile.mkdtemp(prefix="pop3mock-tls-")
        stack.callback(shutil.rmtree, directory, True)
    try:
        paths = tls.write_files(directory)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the certificates to {directory}: {_reason(exc)}"
        ) from None
    return _TlsFiles(paths["cert"], paths["key"], paths["ca"])


def _check_writable(path: str, what: str, *, folder: bool = False) -> None:
    """Refuse a path that cannot be written, without touching it: files are only written
    once every check has passed and the ports are bound."""
    target = os.path.abspath(path)
    if os.path.exists(target):
        if folder != os.path.isdir(target):
            kind = "not a folder" if folder else "a folder"
            raise ConfigurationError(f"cannot {what} {path}: it is {kind}")
        if not os.access(target, os.W_OK):
            raise ConfigurationError(f"cannot {what} {path}: {os.strerror(errno.EACCES)}")
        return
    parent = os.path.dirname(target)
    while folder and not os.path.exists(parent) and parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)  # a folder is made with its parents
    if not os.path.isdir(parent):
        raise ConfigurationError(f"cannot {what} {path}: {os.strerror(errno.ENOENT)}")
    if not os.access(parent, os.W_OK):
        raise ConfigurationError(f"cannot {what} {path}: {os.strerror(errno.EACCES)}")


def _server(settings: _Settings, context: ssl.SSLContext | None) -> tuple[POP3Server, list[str]]:
    """The server, and the warnings it gave (to print once it really listens)."""
    kwargs: dict[str, Any] = dict(settings.options)
    apop_only = [user.name for user in settings.users if user.apop_only]
    if apop_only:
        kwargs["apop_only_users"] = apop_only
    if settings.personality is not None:
        kwargs["personality"] = settings.personality
    if settings.replay is not None:
        kwargs["replay"] = settings.replay
        kwargs["replay_timing"] = settings.replay_timing
    if settings.idle_timeout is not None:
        kwargs["idle_timeout"] = settings.idle_timeout or None
    cap = _MAX_CONNECTIONS if settings.max_connections is None else settings.max_connections
    kwargs["max_connections"] = cap or None
    login = _LOGIN_TIMEOUT if settings.login_timeout is None else settings.login_timeout
    kwargs["login_timeout"] = login or None
    drop = settings.drop_oldest_when_full
    kwargs["drop_oldest_when_full"] = True if drop is None else drop
    keep = _JOURNAL_KEEP if settings.journal_keep is None else settings.journal_keep
    kwargs["journal_keep"] = keep or None
    delay = settings.auth_failure_delay
    kwargs["auth_failure_delay"] = (_AUTH_FAILURE_DELAY if delay is None else delay) or None
    failures = settings.max_auth_failures
    kwargs["max_auth_failures"] = (_MAX_AUTH_FAILURES if failures is None else failures) or None
    kept = settings.session_keep_commands
    kwargs["session_keep_commands"] = (SESSION_KEEP_COMMANDS if kept is None else kept) or None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            server = POP3Server(
                settings.host,
                settings.port,
                ssl_context=context,
                stls=settings.stls,
                implicit_tls=settings.tls_port is not None,
                tls_port=settings.tls_port or 0,
                strict=settings.strict,
                fault_seed=settings.fault_seed,
                **kwargs,
            )
        except ConfigurationError as exc:
            if settings.options and settings.config:
                raise ConfigurationError(f"{settings.config}: {exc}") from None
            raise
    return server, [str(warning.message) for warning in caught]


def _add_users(server: POP3Server, settings: _Settings) -> tuple[dict[str, str], list[str]]:
    """Give every user its maildrop; return how each maildrop was made and what is unusual
    about its messages, for the output."""
    # Lazy: uids and sizes now, bytes on first RETR/TOP, so --fake 100000 starts at once.
    from pop3mock.fake._factory import lazy_fake_messages

    loaded: dict[str, list[Message]] = {}
    notes: list[str] = []
    users = settings.users or (UserEntry(*_DEFAULT_USER, source="the default user"),)
    made = {}
    seed_used = False
    default_used = False
    for user in users:
        own = user.messages is not None or user.fake is not None
        default_used = default_used or not own
        path = user.messages if own else settings.messages
        count = user.fake if own else settings.fake
        seed = user.seed if user.seed is not None else settings.seed
        if path is not None and user.seed is not None and (own or not settings.messages_flag):
            raise ConfigurationError(
                f"{user.source}: seed sets the seed of fake; the messages of {user.name!r} "
                f"come from {path}, so it would change nothing"
            )
        if path is None and user.seed is None:
            seed_used = True
        # Errors name the config file's user when the faulty value is that user's own.
        context = user.source if user.source != f"--user {user.name}" else None
        messages: Iterable[Message | LazyMessage]
        if path is not None:
            if path not in loaded:
                limit = settings.max_message_size or DEFAULT_MAX_MESSAGE_SIZE
                found = _in_context(context if own else None, _load, path, limit)
                loaded[path] = [message for message, _ in found]
                notes += [f"{where}: {', '.join(m.notes)}" for m, where in found if m.notes]
            messages = loaded[path]
            made[user.name] = f"from {path}"
        else:
            seed = seed or 0
            messages = lazy_fake_messages(_DEFAULT_FAKE if count is None else count, seed=seed)
            made[user.name] = f"generated, seed {seed}"
        _in_context(context, server.add_user, user.name, user.password, messages, token=user.token)
    if settings.maildrop_source is not None and not default_used:
        raise ConfigurationError(
            f"{settings.maildrop_source} is the maildrop of users without one of their own; "
            "every user here has one, so it would change nothing"
        )
    if settings.seed_source is not None and not seed_used:
        fake = "--fake" if settings.seed_source == "--seed" else "fake"
        where = f" (the messages come from {settings.messages})" if settings.messages else ""
        raise ConfigurationError(
            f"{settings.seed_source} sets the seed of {fake}; no maildrop here is generated "
            f"with it{where}"
        )
    return made, notes


def _in_context(context: str | None, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Call `function`; prefix a ConfigurationError with `context` (the file and key)."""
    try:
        return function(*args, **kwargs)
    except ConfigurationError as exc:
        if context is None:
            raise
        raise ConfigurationError(f"{context}: {exc}") from None


def _load(path: str, limit: int) -> list[tuple[Message, str]]:
    from pop3mock.maildrop._sources import load_with_origins

    if not os.path.lexists(path):
        raise ConfigurationError(f"{path}: no such file or folder")
    try:
        return load_with_origins(path, max_message_size=limit)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the maildrop: {_reason(exc)}") from None


def _add_faults(server: POP3Server, settings: _Settings) -> None:
    users = sorted(server.users)
    for fault in settings.faults:
        rule = _in_context(fault.source, _user_rule, fault.spec, fault.user, users)
        server.faults.add(rule)


def _user_rule(spec: str, user: str | None, users: Sequence[str]) -> Rule:
    rule = parse_spec(spec)
    if user is None:
        problem = unknown_user(rule.user, users)
        if problem:
            raise ConfigurationError(f"fault spec {spec!r}: {problem}")
        return rule
    if rule.user is not None and rule.user != user:
        raise ConfigurationError(f"fault spec {spec!r}: user={rule.user} in the faults of {user!r}")
    return attrs.evolve(rule, user=user)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


# -- running: output, journal file, signals -------------------------------------------------


class _Console:
    """stdout for the user, stderr for problems; one line at a time, flushed at once.

    A closed stdout (`pop3mock serve | head -1`) must not stop the server: output is dropped
    from then on.
    """

    def __init__(self, out: TextIO, err: TextIO, *, quiet: bool = False) -> None:
        self._out = out
        self._err = err
        self._lock = threading.Lock()
        self._broken = False
        self.quiet = quiet

    def line(self, text: str = "", *, always: bool = False) -> None:
        if self.quiet and not always:
            return
        with self._lock:
            if self._broken:
                return
            try:
                self._out.write(text + "\n")
                self._out.flush()
            except (OSError, ValueError):
                self._broken = True
                _silence(self._out)

    def error(self, text: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._err.write(f"pop3mock: {text}\n")
            self._err.flush()


def _silence(stream: TextIO) -> None:
    # Point the file descriptor at /dev/null so that the flush at exit does not fail again.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


class _JournalFile:
    """Streams the journal to a JSON-lines file: one object per session start, command and
    session end, flushed at once so another process can follow it. Secrets are masked, and
    the characters a terminal would obey are written as JSON escapes (`tail -f` is safe)."""

    def __init__(self, handle: TextIO | None, console: _Console) -> None:
        self._handle = handle
        # Without a handle yet: the lines of the sessions that start before the file is
        # opened (once the ports are bound).
        self._pending: list[str] | None = [] if handle is None else None
        self._console = console
        self._lock = threading.Lock()
        #: Why writing stopped (a full disk...), or None.
        self.failure: str | None = None
        # The journal's clock is monotonic; the file says when, in Unix time.
        self._offset = time.time() - time.monotonic()

    def _when(self, moment: float) -> float:
        return round(moment + self._offset, 6)

    def record(
        self, event: str, session: SessionRecord, command: CommandRecord | None
    ) -> dict[str, Any]:
        if command is not None:
            verb, args = masked(command.verb, command.args, credential=command.credential)
            return {
                "event": event,
                "session": session.id,
                "seq": command.seq,
                "time": self._when(command.time),
                "state": command.state,
                "user": command.user,
                "command": command.line,
                "verb": verb,
                "args": list(args),
                "status": command.status,
                "reply": command.reply,
                "bytes_sent": command.bytes_sent,
                "fault": command.fault,
                "violation": command.violation,
            }
        out: dict[str, Any] = {
            "event": event,
            "session": session.id,
            "time": self._when(session.ended if session.ended is not None else session.started),
            "peer": session.peer,
            "tls": session.tls,
        }
        if event == "session-end":
            out.update(
                user=session.user,
                reason=session.end_reason,
                commands=session.command_count,
                duration=round((session.ended or session.started) - session.started, 6),
                faults=list(session.faults),
                violations=list(session.violations),
            )
        return out

    def open(self, path: str) -> None:
        """Open (and empty) the file, and write what happened so far."""
        try:
            handle = open(  # noqa: SIM115 - closed by close()
                path, "w", encoding="utf-8", errors="backslashreplace"
            )
        except OSError as exc:
            raise ConfigurationError(f"cannot write the journal {path}: {_reason(exc)}") from None
        with self._lock:
            self._handle, pending, self._pending = handle, self._pending or [], None
            self._write("".join(pending))

    def __call__(self, event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        line = escape_json(json.dumps(self.record(event, session, command), ensure_ascii=False))
        with self._lock:
            if self._pending is not None:
                self._pending.append(line + "\n")
            else:
                self._write(line + "\n")

    def _write(self, text: str) -> None:
        if self._handle is None or not text:
            return
        try:
            self._handle.write(text)
            self._handle.flush()
        except (OSError, ValueError) as exc:
            self.failure = _reason(exc)
            self._console.error(f"error: the journal file stopped: {self.failure}")
            self._close()

    def _close(self) -> None:
        self._pending = None
        if self._handle is not None:
            with contextlib.suppress(OSError, ValueError):
                self._handle.close()
            self._handle = None

    def close(self) -> None:
        with self._lock:
            self._close()


class _Signals:
    """Wait for SIGINT or SIGTERM (or SIGHUP unless ignored, as under nohup).

    The handlers only wake a socket (signal.set_wakeup_fd): nothing runs inside a signal
    handler that could deadlock with the thread it interrupted.
    """

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._saved: dict[int, Any] = {}
        self._saved_fd: int | None = None

    def __enter__(self) -> _Signals:
        self._saved_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        wanted = [signal.SIGINT, signal.SIGTERM]
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
            wanted.append(hangup)
        for signum in wanted:
            self._saved[signum] = signal.signal(signum, _ignore)
        return self

    def wait(self) -> int:
        """Block until a signal arrives; return its number."""
        data = self._reader.recv(1)
        return data[0] if data else 0

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._saved_fd if self._saved_fd is not None else -1)
        self._reader.close()
        self._writer.close()


def _ignore(signum: int, frame: object) -> None:
    """The wakeup file descriptor does the work."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{_address(host, port)}"


def _urls(server: POP3Server) -> list[str]:
    urls = [server.url]
    if server.tls_port is not None:
        urls.append(_url("pop3s", server.host, server.tls_port))
    return urls


def _client_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _curl(url: str, name: str, password: str, number: int, extra: Iterable[str] = ()) -> str:
    target = f"{url}/{number}" if number else f"{url}/"
    return " ".join(shlex.quote(w) for w in ["curl", target, "-u", f"{name}:{password}", *extra])


def _start(server: POP3Server, settings: _Settings) -> None:
    try:
        server.start()
    except OSError as exc:
        if (exc.strerror or "").startswith("cannot listen on"):
            raise ConfigurationError(exc.strerror) from None  # the server named the address
        port = settings.port if not server.port else settings.tls_port
        raise ConfigurationError(
            f"cannot listen on {_address(settings.host, port or 0)}: {_reason(exc)}"
        ) from None


def _admin(server: POP3Server, settings: _Settings) -> AdminServer | None:
    """The control API of `server` (not listening yet), or None without --admin-port."""
    if settings.admin_port is None:
        for name in ("admin_host", "admin_token", "admin_max_body"):
            if getattr(settings, name) is not None:
                raise ConfigurationError(f"--{name.replace('_', '-')} needs --admin-port")
        return None
    from pop3mock.admin import DEFAULT_MAX_BODY, AdminServer

    return AdminServer(
        server,
        settings.admin_host or settings.host,
        settings.admin_port,
        token=settings.admin_token,
        max_body=DEFAULT_MAX_BODY if settings.admin_max_body is None else settings.admin_max_body,
    )


def _start_admin(admin: AdminServer) -> None:
    try:
        admin.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {_address(admin.host, admin.port)} for the control API: "
            f"{_reason(exc)}"
        ) from None


def _announce(
    console: _Console, server: POP3Server, settings: _Settings, tls_files: _TlsFiles | None
) -> list[str]:
    for url in _urls(server):
        console.line(f"listening on {url}", always=True)
    host = _client_host(server.host)
    plain = _url("pop3", host, server.port)
    secure = _url("pop3s", host, server.tls_port) if server.tls_port is not None else None
    if settings.stls:
        console.line(f"STLS offered on {server.url}")
    if tls_files is not None:
        if tls_files.ca:
            console.line(f"CA certificate:     {tls_files.ca}")
        console.line(f"server certificate: {tls_files.cert}")
        if tls_files.key:
            console.line(f"server key:         {tls_files.key}")
    return [plain, *([secure] if secure else [])]


def _describe(
    console: _Console,
    server: POP3Server,
    settings: _Settings,
    made: Mapping[str, str],
    notes: Sequence[str],
    tls_files: _TlsFiles | None,
    client_urls: list[str],
) -> None:
    if server.replay is not None:
        recording = server.replay.recording
        count = _plural(len(recording.connections), "recorded connection")
        console.line(f"replaying {recording.path}: {count}, one per client in order")
        console.line("stop with Ctrl-C or SIGTERM")
        return
    for name, mailbox in server.users.items():
        count = _plural(len(mailbox), "message")
        console.line(f"user {name} / password {mailbox.password}: {count} ({made[name]})")
    # Served as they are (a client's parser meets them): said once, the first few by name.
    for note in notes[:_NOTES_SHOWN]:
        console.line(f"note: {note} (served as it is)")
    if len(notes) > _NOTES_SHOWN:
        console.line(f"note: {len(notes) - _NOTES_SHOWN} more unusual messages")
    for rule in server.faults.rules:
        console.line(f"fault: {rule.spec()}")
    if server.faults:
        # With it (--fault-seed N) a run with probabilistic faults can be replayed.
        console.line(f"fault seed: {server.faults.seed}")
    if settings.journal:
        console.line(f"journal: {settings.journal}")
    first, mailbox = next(iter(server.users.items()))
    number = 1 if len(mailbox) else 0
    trust = ["--cacert", tls_files.ca] if tls_files and tls_files.ca else ["--insecure"]
    console.line("try:")
    console.line("  " + _curl(client_urls[0], first, mailbox.password, number))
    if len(client_urls) > 1:
        console.line("  " + _curl(client_urls[1], first, mailbox.password, number, trust))
    if settings.stls:
        extra = ["--ssl-reqd", *trust]
        console.line("  " + _curl(client_urls[0], first, mailbox.password, number, extra))
    console.line("stop with Ctrl-C or SIGTERM")


def _prepare_ready(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigurationError(f"cannot write the ready file {path}: no folder {folder}")
    if os.path.isdir(path):
        raise ConfigurationError(f"cannot write the ready file {path}: it is a folder")
    # A stale file from an earlier run must not look like this run's.
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ready file {path}: {_reason(exc)}") from None


def _write_ready(path: str, urls: Sequence[str]) -> None:
    # Written under a temporary name then renamed: a script that sees the file sees it whole.
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{url}\n" for url in urls))
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise ConfigurationError(f"cannot write the ready file {path}: {_reason(exc)}") from None


def _serve(args: argparse.Namespace, console: _Console) -> int:
    settings = _settings(args)
    console.quiet = settings.quiet
    with contextlib.ExitStack() as stack:
        # From here on a signal stops the server cleanly, even one sent during start-up.
        signals = stack.enter_context(_Signals())
        context, tls_files = _tls(settings) if settings.tls else (None, None)
        server, server_warnings = _server(settings, context)
        made, notes = _add_users(server, settings)
        _add_faults(server, settings)
        journal_file = None
        if settings.journal:
            _check_writable(settings.journal, "write the journal")
            journal_file = _JournalFile(None, console)
            stack.callback(journal_file.close)
            server.journal.subscribe(journal_file)
        if (settings.strict or settings.replay) and not settings.quiet:
            label = "strict" if settings.strict else "replay"
            server.journal.subscribe(_violation_printer(console, label))
        # Made (and so checked) before anything is bound; it serves once the server does.
        admin = _admin(server, settings)
        if settings.ready_file:
            _prepare_ready(settings.ready_file)
        _start(server, settings)
        try:
            if admin is not None:
                _start_admin(admin)
            # Only now, with every check passed and the ports bound, is anything written: a
            # failed start leaves an existing journal and the --tls-dir as they were.
            if journal_file is not None and settings.journal:
                journal_file.open(settings.journal)
            if settings.tls and tls_files is None:
                tls_files = _write_tls(settings, stack)
            # An address that cannot be bound gets the error alone.
            for warning in server_warnings:
                console.error(f"warning: {warning}")
            if settings.ready_file:
                # Before the listening lines: whoever sees either finds both.
                urls = _urls(server) + ([admin.url] if admin is not None else [])
                _write_ready(settings.ready_file, urls)
                stack.callback(_remove, settings.ready_file)
            client_urls = _announce(console, server, settings, tls_files)
            if admin is not None:
                console.line(f"admin on {admin.url}", always=True)
            _describe(console, server, settings, made, notes, tls_files, client_urls)
            signals.wait()
        finally:
            try:
                if admin is not None:
                    admin.stop()
            finally:
                server.stop()
        unfired = _unfired(server)
        for line in unfired:
            console.line(line)
        sessions = _plural(server.journal.total_sessions, "session")
        commands = _plural(server.journal.total_commands, "command")
        console.line(f"stopped after {sessions}, {commands}")
    if server.errors:
        first = server.errors[0]
        detail = "".join(traceback.format_exception(type(first), first, first.__traceback__))
        console.error(
            f"error: the server failed {len(server.errors)} time(s) while serving clients; "
            f"the first time:\n{detail.rstrip()}"
        )
        return 1
    if settings.check:
        failed = []
        replayed = settings.strict or settings.replay is not None
        violations = server.journal.violation_count if replayed else 0
        if violations:
            failed.append(f"{_plural(violations, 'protocol violation')} by clients")
        if unfired:
            failed.append(f"{_plural(len(unfired), 'counted fault rule')} not fired as configured")
        if journal_file is not None and journal_file.failure:
            failed.append(f"the journal file stopped ({journal_file.failure})")
        if failed:
            console.error(f"check failed: {' and '.join(failed)}")
            return 3
    return 0


def _unfired(server: POP3Server) -> list[str]:
    """The counted rules (once, times, nth) that did not fire as often as configured."""
    out = []
    for short in server.faults.shortfalls():
        seen = f" (matched {_plural(short.matched, 'time')})" if short.matched else ""
        if short.fired:
            out.append(f"fault fired {short.fired} of {short.wanted} times: {short.name}{seen}")
        else:
            out.append(f"fault never fired: {short.name}{seen}")
    return out


def _violation_printer(console: _Console, label: str = "strict") -> _Listener:
    def printer(event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        if event == "session-end":
            for violation in session.violations:
                console.error(f"{label}: session {session.id}: {escape(violation)}")

    return printer


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `pop3mock` command; return its exit status."""
    args = build_parser().parse_args(argv)
    console = _Console(sys.stdout, sys.stderr)
    if args.command == "proxy":
        try:
            with _Signals() as signals:
                return proxy.run(args, signals.wait)
        except (probe.ProbeError, proxy.ProxyError) as exc:
            print(f"pop3mock proxy: error: {exc}", file=sys.stderr)
            return 2
    if args.command == "probe":
        try:
            return probe.run(args)
        except probe.ProbeError as exc:
            print(f"pop3mock probe: error: {exc}", file=sys.stderr)
            return 2
    try:
        return _serve(args, console)
    except ServerError as exc:
        console.error(f"error: {exc}")
        return 1
    except (Pop3MockError, OSError) as exc:
        console.error(f"error: {exc}")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
