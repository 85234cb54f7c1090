"""Exceptions raised by pop3mock.

They are split by who has to act: the test author (`ConfigurationError`), the client under
test (`ClientViolationError`) or pop3mock itself (`ServerError`).
"""

from __future__ import annotations

__all__ = [
    "ClientViolationError",
    "ConfigurationError",
    "Pop3MockError",
    "ServerError",
    "UnfiredFaultError",
]


class Pop3MockError(Exception):
    """Base class of every error pop3mock raises."""


class ConfigurationError(Pop3MockError, ValueError):
    """A server, maildrop, fault or option was configured with a value that cannot work."""


class ServerError(Pop3MockError, RuntimeError):
    """An exception happened inside the server while it served a client.

    The original exception is chained as ``__cause__`` so its traceback is shown.
    """


class ClientViolationError(Pop3MockError, AssertionError):
    """Strict mode: the client under test broke the POP3 protocol (a test failure)."""


class UnfiredFaultError(Pop3MockError, AssertionError):
    """A fault rule configured to fire a number of times did not fire that often."""
