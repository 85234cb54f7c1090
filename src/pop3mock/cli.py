"""`pop3mock serve`: run the server from a shell, for clients in any language."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from ._version import __version__
from .errors import Pop3MockError
from .server import POP3Server

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pop3mock", description="A real POP3 server for tests.")
    parser.add_argument("--version", action="version", version=f"pop3mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run a POP3 server until interrupted",
        description="Run a POP3 server until SIGINT or SIGTERM.",
        epilog="example: pop3mock serve --port 1110 --user alice:secret --messages ./mail",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="a user (repeatable); default: user:password",
    )
    serve.add_argument(
        "--messages",
        metavar="PATH",
        help="a folder of .eml files, an mbox file or a Maildir, given to every user",
    )
    serve.add_argument("--fake", type=int, metavar="N", help="generate N messages per user")
    serve.add_argument("--seed", type=int, default=0, help="seed of --fake (default 0)")
    return parser


def _users(specs: Sequence[str]) -> list[tuple[str, str]]:
    users = []
    for spec in specs:
        name, sep, password = spec.partition(":")
        if not sep or not name:
            raise Pop3MockError(f"--user {spec!r}: expected NAME:PASSWORD")
        users.append((name, password))
    return users


def serve(args: argparse.Namespace) -> int:
    from .fake import fake_messages
    from .sources import load_messages

    users = _users(args.user) or [("user", "password")]
    server = POP3Server(args.host, args.port)
    for name, password in users:
        if args.messages:
            messages = list(load_messages(args.messages))
        else:
            count = args.fake if args.fake is not None else 10
            messages = list(fake_messages(count, seed=args.seed))
        server.add_user(name, password, messages)
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    server.start()
    print(f"listening on {server.url}", flush=True)
    for name, password in users:
        count = len(server.mailbox(name))
        print(f"user {name} / password {password}: {count} messages")
    name, password = users[0]
    print(f"try: curl {server.url}/1 -u {name}:{password}", flush=True)
    try:
        while not stop.wait(3600):
            pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return serve(args)
    except (Pop3MockError, OSError) as exc:
        print(f"pop3mock: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
