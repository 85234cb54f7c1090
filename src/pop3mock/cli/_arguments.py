"""The command line of `pop3mock`: its parser, the flags of `serve` and how each flag's
value is checked (the rules of pop3mock.checks, in their words).
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from pop3mock import __version__
from pop3mock.checks import (
    DURATION_RULE,
    MAX_LAZY_MESSAGES,
    duration,
    suggestion,
    whole_number_type,
)
from pop3mock.cli._help import PROBE_EPILOG, PROXY_EPILOG, SERVE_EPILOG, TOP_EPILOG
from pop3mock.maildrop._sources import DEFAULT_MAX_MESSAGE_SIZE
from pop3mock.probe import _probe as probe
from pop3mock.probe import _proxy as proxy
from pop3mock.protocol._personality import PERSONALITIES
from pop3mock.server._server import SESSION_KEEP_COMMANDS

__all__ = [
    "AUTH_FAILURE_DELAY",
    "DEFAULT_FAKE",
    "DEFAULT_USER",
    "FLAGS",
    "JOURNAL_KEEP",
    "LOGIN_TIMEOUT",
    "MAX_AUTH_FAILURES",
    "MAX_CONNECTIONS",
    "build_parser",
]

DEFAULT_USER = ("user", "password")
DEFAULT_FAKE = 10
#: Flags that a config file key of the same name (dashes as underscores) can also set.
FLAGS = (
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
JOURNAL_KEEP = 1000
# A shared server slows down password guessing on one connection and then closes it
# (Dovecot: 2 s doubling to 15 s). Shorter than Dovecot's first step: a test that checks
# its client's answer to one wrong password waits half a second, not two.
AUTH_FAILURE_DELAY = 0.5
MAX_AUTH_FAILURES = 10
# A shared service's limits (Python's defaults, for tests, have none): no client holds a
# thread forever, and clients trickling bytes cannot take every slot.
MAX_CONNECTIONS = 100
LOGIN_TIMEOUT = 180.0  # Dovecot's: 3 minutes from connect to login


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


_port = whole_number_type(0, 65535)
_count = whole_number_type(0)
_octets = whole_number_type(1)
_messages_count = whole_number_type(0, MAX_LAZY_MESSAGES)
_any_integer = whole_number_type(None)


def _personality(value: str) -> str:
    if value in PERSONALITIES or value.endswith(".toml"):
        return value
    raise argparse.ArgumentTypeError(
        f"invalid choice: {value!r} (choose from {', '.join(sorted(PERSONALITIES))}, or a "
        "personality file FILE.toml)"
    )


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
        epilog=TOP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pop3mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run a POP3 server until SIGINT or SIGTERM",
        description="Run a POP3 server until SIGINT (Ctrl-C) or SIGTERM.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe_parser = commands.add_parser(
        "probe",
        help="probe a POP3 server and write its manners as a personality file",
        description="Probe a POP3 server with a fixed script that changes nothing (no DELE) "
        "and write what it saw as a personality file for --personality. The password comes "
        f"from ${probe.PASSWORD_VARIABLE} or a prompt, never from the command line.",
        epilog=PROBE_EPILOG,
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
        epilog=PROXY_EPILOG,
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
        help=f"N generated messages per user (default {DEFAULT_FAKE} without --messages)",
    )
    add("--seed", type=_any_integer, metavar="S", help="seed of the generated messages (default 0)")
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
        type=_any_integer,
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
        f"up to 15 s (default {AUTH_FAILURE_DELAY}; 0: answer at once)",
    )
    add(
        "--max-auth-failures",
        type=_count,
        metavar="N",
        help=f"close a connection at its Nth failed login (default {MAX_AUTH_FAILURES}; 0: never)",
    )
    add(
        "--max-connections",
        type=_count,
        metavar="N",
        help=f"connections served at once (default {MAX_CONNECTIONS}; 0: no cap)",
    )
    add(
        "--login-timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"close connections not logged in this long after connecting (default "
        f"{LOGIN_TIMEOUT:g}; 0: never)",
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
        help=f"ended sessions kept in memory (default {JOURNAL_KEEP}; 0: all)",
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
        type=_octets,
        metavar="N",
        help="largest control API request body in octets (default 64 MiB)",
    )
    return parser
