"""The record of every session and command a server saw, with assertion helpers.

It reads like `unittest.mock`: `journal.commands`, `.last`, `.called`, `.call_count`,
`.count("RETR")`, `assert_command("RETR", 3)`, `assert_command("DELE", count=0)`,
`assert_commands([...])`. Credentials are kept (a test may check them) but masked whenever
a record is printed: repr, str, transcripts and assertion messages never show them. What a
client sent is printed with its control characters escaped (see `pop3mock.protocol._text`), so a
client cannot steer the terminal that shows a transcript or a failure; the data fields
(`raw`, `verb`, `args`, `reply`) keep the exact values.
"""

from __future__ import annotations

from pop3mock.journal._assertions import _Assertions
from pop3mock.journal._records import CommandRecord, SessionRecord, Violation, mask
from pop3mock.journal._waiting import _Waiting

# The record types are named here too: the server, the CLI and the admin API take them from
# this module.
__all__ = ["CommandRecord", "Journal", "SessionRecord", "Violation", "mask"]


class Journal(_Assertions, _Waiting):
    """Thread-safe record of sessions and commands, with queries and assertions.

    Its memory and queries are in `_memory`, its assertions in `_assertions`, `wait_for` in
    `_waiting`; the records it holds in `_records`.
    """
