"""`python -m pop3mock` is the `pop3mock` command."""

import sys

from .cli import main

sys.exit(main())
