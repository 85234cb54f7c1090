"""`pop3mock`: the command's entry point (`pop3mock.cli:main`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pop3mock.cli._arguments import build_parser
from pop3mock.cli._console import Console
from pop3mock.cli._run import Signals, serve
from pop3mock.errors import Pop3MockError, ServerError
from pop3mock.probe import _probe as probe
from pop3mock.probe import _proxy as proxy

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `pop3mock` command; return its exit status."""
    args = build_parser().parse_args(argv)
    console = Console(sys.stdout, sys.stderr)
    if args.command == "proxy":
        try:
            with Signals() as signals:
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
        return serve(args, console)
    except ServerError as exc:
        console.error(f"error: {exc}")
        return 1
    except (Pop3MockError, OSError) as exc:
        console.error(f"error: {exc}")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
