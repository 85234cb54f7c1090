"""`python -m pop3mock` is the `pop3mock` command."""

import sys

from pop3mock.cli._main import main

if __name__ == "__main__":
    sys.exit(main())
