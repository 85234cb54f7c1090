"""What every command of a session shares: its fields, how it answers (texts, response
codes, the bad-command limit), message-number arguments, and logging in (sans-IO)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

import attrs

from pop3mock.maildrop._mailbox import Mailbox, MaildropView
from pop3mock.protocol import _auth as auth
from pop3mock.protocol._commands import CLEARTEXT_MECHANISMS, parse_number
from pop3mock.protocol._config import ServerConfig
from pop3mock.protocol._response import Response

__all__ = ["SessionBase", "State"]


class State(enum.Enum):
    """RFC 1939 session states (AUTH and STLS exchanges happen inside AUTHORIZATION)."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"


class SessionBase:
    """The state of one POP3 session and the helpers its commands answer with."""

    def __init__(
        self,
        config: ServerConfig,
        users: Mapping[str, Mailbox],
        *,
        timestamp: str = "<0.0@pop3mock.localhost>",
        tls: bool = False,
        implicit_tls: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.users = users
        self.timestamp = timestamp
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.state = State.AUTHORIZATION
        self.user: str | None = None  # the logged-in user (or the one USER named)
        self.utf8 = False
        self.language = config.languages[0][0] if config.languages else "en"
        self.closed = False
        self.view: MaildropView | None = None
        self._clock = clock
        self._user_given: str | None = None
        self._sasl: auth.Exchange | None = None
        self._sasl_name = ""
        self._previous_verb: str | None = None  # of the line before, for credential_line()
        self._bad_commands = 0
        self._auth_failures = 0  # failed logins in this connection
        self._challenges = 0
        self._retrieved_numbers: set[int] = set()
        # RFC 1460 LAST: highest number accessed (RETR, DELE) in this session, and the
        # uids of messages retrieved in earlier sessions (the maildrop's "accessed" mark).
        self._highest = 0
        self._seen_before: frozenset[str] = frozenset()
        self._last_before: int | None = None
        self._wire_uids: list[str] | None = None
        self._wire_listing: list[bytes] | None = None

    def _code(self, code: str | None) -> str | None:
        if code is None:
            return None
        codes = self.config.response_codes
        if codes is not None and code not in codes:
            return None
        if self.config.has("RESP-CODES"):
            return code
        if code == "AUTH" and self.config.has("AUTH-RESP-CODE"):
            return code
        return None

    def _ok(self, key: str, body: bytes | None = None, **values: object) -> Response:
        return Response("+OK", self.config.text(key, **values), body=body)

    def _err(
        self, key: str, code: str | None = None, violation: str | None = None, **values: object
    ) -> Response:
        return Response(
            "-ERR", self.config.text(key, **values), self._code(code), violation=violation
        )

    def _bad(self, response: Response, violation: str) -> Response:
        """A client error: count it against the bad-command limit and note the violation."""
        self._bad_commands += 1
        before_login = self.state is State.AUTHORIZATION
        config = self.config
        limit = config.bad_command_limit if before_login else config.bad_command_limit_after_login
        if limit is not None and self._bad_commands >= limit:
            text = "too_many_bad" if before_login else "too_many_bad_trans"
            return attrs.evolve(self._err(text), close=True, violation=violation)
        return attrs.evolve(response, violation=response.violation or violation)

    def _unknown(self, verb: str) -> Response:
        # Some servers name the verb once logged in (Dovecot: "Unknown command: LAST").
        if self.state is State.TRANSACTION:
            return self._err("unknown_trans", verb=verb[:40])
        return self._err("unknown")

    def _no_args(self, verb: str, args: list[str]) -> Response | None:
        if args and self.config.strict_arguments:
            return self._bad(self._err("no_args", verb=verb), f"{verb} with arguments")
        return None

    def _message_arg(self, verb: str, args: list[str], count: int = 1) -> int | Response:
        """Parse and check the message number of LIST n, RETR, DELE, TOP, UIDL n."""
        if len(args) != count:
            if not args:
                return self._bad(self._err("need_msg", verb=verb), f"{verb} without argument")
            return self._bad(self._err("extra_args", verb=verb), f"{verb} with extra arguments")
        number = parse_number(args[0])
        if number is None:
            return self._bad(self._err("bad_number"), f"{verb} with a non-numeric argument")
        view = self.view
        assert view is not None
        if view.get(number) is None:  # (one call for the usual case: there, not deleted)
            if not view.exists(number):
                return self._bad(
                    self._err("no_such", n=number), f"{verb} of a message that does not exist"
                )
            return self._bad(self._err("deleted", n=number), f"{verb} of a deleted message")
        return number

    def _plaintext_refused(self) -> bool:
        """require_tls: no login of any kind until TLS is active (RFC 2595 section 2.3)."""
        return self.config.require_tls and not self.tls

    def _login_failed(self) -> Response:
        """-ERR [AUTH] for a failed login, after the configured delay; at the configured
        number of failures the connection is closed."""
        self._auth_failures += 1
        config = self.config
        pause = config.auth_failure_pause(self._auth_failures)
        limit = config.max_auth_failures
        if limit is not None and self._auth_failures >= limit:
            refused = self._err("too_many_auth_failures", "AUTH")
            return attrs.evolve(refused, close=True, pause=pause)
        failed = self._err("auth_failed", "AUTH")
        return attrs.evolve(failed, pause=pause) if pause else failed

    def _login(self, user: str, mechanism: str) -> Response:
        mailbox = self.users.get(user)
        if mailbox is None:
            # The stand-in secret compared for unknown users can be typed ("PASS \0unknown",
            # a CRAM-MD5 digest keyed with it): an unknown user never logs in, whatever matched.
            return self._login_failed()
        if mechanism in CLEARTEXT_MECHANISMS and user in self.config.apop_only_users:
            # Refused only once the password matched: a wrong one gets the usual failure.
            return self._err("apop_only", "AUTH")
        now = self._clock() if self._clock is not None else None
        delay = self.config.login_delay_for(user)
        if (
            self.config.enforce_login_delay
            and self.config.has("LOGIN-DELAY")
            and delay
            and now is not None
            and mailbox.last_login is not None
            and now - mailbox.last_login < delay
        ):
            return self._err("login_delay", "LOGIN-DELAY")
        view = mailbox.open(now)
        if view is None:
            return self._err("in_use", "IN-USE")
        self.view = view
        self.user = user
        self.state = State.TRANSACTION
        self._bad_commands = 0  # the limit after login counts from here
        if self.config.last:
            self._seen_before = frozenset(mailbox.retrieved)
        return self._ok("login_ok")

    def _mechanisms(self) -> tuple[str, ...]:
        """The mechanisms AUTH accepts now (and CAPA lists): none before TLS if required."""
        if not self.config.has("SASL") or self._plaintext_refused():
            return ()
        return self.config.mechanisms
