"""pop3mock without pytest: a unittest.TestCase, runnable with `python -m unittest` too
(from the examples folder: ``python -m unittest test_unittest_style``).
"""

# assertEqual is the unittest idiom this example shows.
# ruff: noqa: PT009

from __future__ import annotations

import mailbox
import os
import tempfile
import unittest

from fetch_maildir import fetch_to_maildir

from pop3mock import POP3Server


class FetchToMaildirTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = POP3Server(users={"alice": "s3cret"}, strict=True)
        self.server.start()
        # Cleanups run in reverse order: stop first, then check (server errors, strict mode).
        self.addCleanup(self.server.check)
        self.addCleanup(self.server.stop)
        self.server.mailbox("alice").add(
            b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n"
        )
        scratch = tempfile.TemporaryDirectory()
        self.addCleanup(scratch.cleanup)
        self.maildir = os.path.join(scratch.name, "Maildir")

    def fetch(self) -> int:
        return fetch_to_maildir(
            self.server.host, self.server.port, "alice", "s3cret", self.maildir, retry_delay=0
        )

    def test_moves_everything(self) -> None:
        self.assertEqual(self.fetch(), 2)
        self.assertEqual(len(mailbox.Maildir(self.maildir)), 2)
        self.assertEqual(self.server.mailbox("alice").messages, ())
        self.server.journal.assert_commands(["USER alice", "PASS", "STAT", "RETR 1", "DELE 1"])

    def test_retries_once(self) -> None:
        self.server.faults.on("RETR", 1).once().error("[SYS/TEMP] busy")
        self.assertEqual(self.fetch(), 2)
        self.assertEqual(self.server.journal.count("RETR", 1), 2)


if __name__ == "__main__":
    unittest.main()
