"""The POP3 session as a pure state machine (sans-IO).

`Session.handle(line)` takes one command line and returns one `Response`; there are no
sockets, threads or clocks here (a clock may be injected for LOGIN-DELAY). Every rule of
RFC 1939 and its extensions that concerns what the server answers lives in this module.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Callable, Mapping

import attrs

from pop3mock.maildrop._mailbox import Mailbox, MaildropView
from pop3mock.maildrop._message import stuff
from pop3mock.protocol import _auth as auth
from pop3mock.protocol._config import DEFAULT_CAPA_ORDER, ServerConfig
from pop3mock.protocol._text import credential_line, garbled_secret, mask_verb

__all__ = [
    "Response",
    "Session",
    "State",
    "garbled_secret",
    "mask_verb",
    "system_error",
]

_MAX_FIRST_LINE = 512  # RFC 1939 section 3 / RFC 2449 section 4, CRLF included
# RFC 4648 base64 with exact padding: Python's decoder alone accepts "QUJD=" (C-157).
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class State(enum.Enum):
    """RFC 1939 session states (AUTH and STLS exchanges happen inside AUTHORIZATION)."""

    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"


@attrs.frozen
class Response:
    """One server reply: status line, optional multi-line body, and what to do next.

    `body` is already byte-stuffed CRLF lines; `encode()` adds the terminator. It is the one
    place where a reply becomes wire bytes.
    """

    status: str  # "+OK", "-ERR" or "+" (a SASL continuation)
    text: str = ""
    code: str | None = None
    body: bytes | None = None
    #: Close the connection after sending (QUIT, too many bad commands).
    close: bool = False
    #: Start the TLS handshake right after sending (STLS).
    start_tls: bool = False
    #: A client protocol violation this command showed (strict mode reports these).
    violation: str | None = None
    #: Seconds to wait before sending (a failed login's delay); the server waits, woken at
    #: once when it stops.
    pause: float = 0.0
    #: The exact bytes to send instead of the ones made from the fields above (a replayed
    #: recording); status and text then describe its first line for the journal.
    raw: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status != "-ERR"

    @property
    def multiline(self) -> bool:
        return self.body is not None

    @property
    def first_line(self) -> bytes:
        """The status line with its CRLF, cut to 512 octets (RFC 1939 section 3).

        A SASL challenge ("+ base64") is never cut: RFC 5034 section 4 puts it outside any
        line-length limit.
        """
        if self.raw is not None:
            return self.raw.split(b"\n", 1)[0] + b"\n"
        status, text, code = self.status, self.text, self.code
        head = f"{status} [{code}]" if code else status
        line = f"{head} {text}\r\n" if text or status == "+" else f"{head}\r\n"
        data = line.encode("utf-8", "replace")
        if len(data) <= _MAX_FIRST_LINE or status == "+":
            return data
        return data[: _MAX_FIRST_LINE - 2] + b"\r\n"

    def parts(self) -> tuple[bytes, ...]:
        """The wire bytes in pieces (status line, body, terminator) for scatter-gather sends."""
        if self.raw is not None:
            return (self.raw,)
        if self.body is None:
            return (self.first_line,)
        return (self.first_line, self.body, b".\r\n")

    def encode(self) -> bytes:
        return b"".join(self.parts())


# The logins that carry the password itself, refused for `apop_only_users`.
_CLEARTEXT_MECHANISMS = frozenset({"USER", "PLAIN", "LOGIN"})


def _parse_number(token: str) -> int | None:
    # RFC 1939: decimal without sign; leading zeros are accepted (C-008). Huge numbers
    # simply name no message.
    if not token.isascii() or not token.isdigit() or len(token) > 20:
        return None
    return int(token)


class Session:
    """One POP3 session from greeting to close."""

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

    # -- public API ----------------------------------------------------------------------

    def greeting(self) -> Response:
        text = self.config.text("greeting")
        if self.config.apop:
            text = f"{text} {self.timestamp}" if text else self.timestamp
        return Response("+OK", text)

    @property
    def pending_user(self) -> str | None:
        """The name a USER command gave, while it waits for PASS; None otherwise."""
        return self._user_given

    @property
    def in_sasl(self) -> bool:
        """An AUTH exchange waits for the client's next base64 line (no length limit)."""
        return self._sasl is not None

    def handle(self, line: bytes, *, truncated: bool = False, ending: bytes = b"\r\n") -> Response:
        """Answer one command line (without its line end)."""
        if self.closed:
            raise RuntimeError("the session is closed")
        if self._sasl is not None:
            self._previous_verb = None
            return self._sasl_step(line, truncated)
        length = len(line) + len(ending)
        if truncated or (length > self.config.max_command_length and not self._is_auth(line)):
            self._previous_verb = None
            self._user_given = None
            return self._bad(self._err("too_long"), "command line longer than allowed")
        response = self._dispatch(line)
        if ending != b"\r\n" and response.violation is None:
            response = attrs.evolve(
                response, violation="command line ended with a bare LF or CR, not CRLF"
            )
        return response

    def connection_lost(self) -> None:
        """The connection ended without QUIT: no UPDATE, the lock is released (C-088)."""
        if self.view is not None and not self.view.closed:
            self.view.release()
        self.closed = True

    def tls_started(self) -> None:
        """The server finished the STLS handshake.

        What the client said before TLS is forgotten (a USER name given in plaintext could
        have been injected by a man in the middle); the state stays AUTHORIZATION (C-139).
        """
        self.tls = True
        self._user_given = None

    @staticmethod
    def verb_of(line: bytes) -> tuple[str, str]:
        """Split a command line into its upper-case verb and the rest.

        Verbs are ASCII (RFC 1939 section 3): only a-z are upper-cased. str.upper() would
        turn "u\u017fer", "PA\u017fS" and "l\u0131st" into USER, PASS and LIST; left as
        they are, they match no command and are answered as unknown ones.
        """
        text = line.decode("utf-8", "replace")
        verb, _, rest = text.partition(" ")
        return (verb.upper() if verb.isascii() else verb), rest

    # -- helpers ---------------------------------------------------------------------------

    def _is_auth(self, line: bytes) -> bool:
        return line[:5].upper() == b"AUTH "

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

    # -- dispatch --------------------------------------------------------------------------

    _AUTH_VERBS = frozenset({"USER", "PASS", "APOP", "AUTH", "STLS", "UTF8"})
    _TRANS_VERBS = frozenset(
        {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "LAST"}
    )
    _OPTIONAL = {
        "TOP": "TOP",
        "UIDL": "UIDL",
        "USER": "USER",
        "PASS": "USER",
        "AUTH": "SASL",
        "STLS": "STLS",
        "UTF8": "UTF8",
        "LANG": "LANG",
        "CAPA": "CAPA",
    }

    def _dispatch(self, line: bytes) -> Response:
        verb, rest = self.verb_of(line)
        previous_verb, self._previous_verb = self._previous_verb, verb
        if verb != "PASS":
            # PASS is taken only right after a successful USER (RFC 1939 section 7, C-034):
            # any other line in between, refused or not, forgets the name.
            self._user_given = None
        args = rest.split() if verb not in ("PASS", "AUTH") else [rest] if rest else []
        capability = self._OPTIONAL.get(verb)
        if capability is not None and not self.config.has(capability):
            if verb == "CAPA":
                return self._err("capa_off")
            if not self.config.has("CAPA"):
                # Without CAPA a client cannot know what is offered: RFC 1939 lets it try
                # an optional command and take -ERR as "not here", which is no violation.
                return self._err("off", verb=verb)
            return self._bad(self._err("off", verb=verb), f"{verb} sent but not advertised")
        if verb == "LAST" and not self.config.last:
            return self._bad(self._unknown(verb), "LAST sent (removed from POP3 by RFC 1725)")
        if verb in self._TRANS_VERBS and self.state is not State.TRANSACTION:
            return self._bad(self._err("bad_state_auth", verb=verb), f"{verb} sent before login")
        if verb in self._AUTH_VERBS and self.state is not State.AUTHORIZATION:
            if verb == "STLS":
                return self._bad(self._err("stls_after_login"), "STLS sent after login")
            if verb == "UTF8":
                return self._bad(self._err("utf8_again"), "UTF8 sent after login")
            return self._bad(self._err("bad_state_trans", verb=verb), f"{verb} sent after login")
        handler = getattr(self, "_cmd_" + verb, None) if verb.isascii() and verb.isalnum() else None
        if handler is None:
            # The line after USER may be the password itself: its verb is never repeated.
            hidden = credential_line(previous_verb, in_sasl=False)
            shown = "***" if hidden else mask_verb(verb)
            return self._bad(self._unknown(shown), f"unknown command {shown[:20]!r}")
        result: Response = handler(args, rest)
        return result

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
        number = _parse_number(args[0])
        if number is None:
            return self._bad(self._err("bad_number"), f"{verb} with a non-numeric argument")
        assert self.view is not None
        if not self.view.exists(number):
            return self._bad(
                self._err("no_such", n=number), f"{verb} of a message that does not exist"
            )
        if self.view.is_deleted(number):
            return self._bad(self._err("deleted", n=number), f"{verb} of a deleted message")
        return number

    # -- AUTHORIZATION ---------------------------------------------------------------------

    def _plaintext_refused(self) -> bool:
        """require_tls: no login of any kind until TLS is active (RFC 2595 section 2.3)."""
        return self.config.require_tls and not self.tls

    def _cmd_USER(self, args: list[str], rest: str) -> Response:
        if len(args) != 1 and self.config.strict_user_name:
            key = "one_user" if args else "need_user"
            return self._bad(self._err(key, verb="USER"), "USER without exactly one name")
        if self._plaintext_refused():
            return self._bad(
                self._err("plaintext", "AUTH"), "USER before STLS where TLS is required"
            )
        # Lenient (Dovecot): the rest of the line is the name, even none; PASS then fails.
        name = args[0] if len(args) == 1 else rest
        if "\ufffd" in name:
            return self._bad(self._err("utf8_user"), "USER with invalid UTF-8")
        # Unknown users get +OK too: the failure comes at PASS (RFC 1939 section 13, C-031).
        self._user_given = name
        return self._ok("user_ok")

    def _cmd_PASS(self, args: list[str], rest: str) -> Response:
        if self._user_given is None:
            return self._bad(self._err("no_user"), "PASS without a USER before it")
        if self._plaintext_refused():
            return self._bad(
                self._err("plaintext", "AUTH"), "PASS before STLS where TLS is required"
            )
        user, self._user_given = self._user_given, None
        mailbox = self.users.get(user)
        if not auth.password_ok(mailbox, rest):
            return self._login_failed()
        return self._login(user, "USER")

    def _cmd_APOP(self, args: list[str], rest: str) -> Response:
        if not self.config.apop:
            return self._bad(self._err("apop_off"), "APOP sent but no timestamp was offered")
        if len(args) != 2:
            return self._bad(self._err("apop_syntax"), "APOP without user and digest")
        if self._plaintext_refused():
            return self._bad(
                self._err("plaintext", "AUTH"), "APOP before STLS where TLS is required"
            )
        user, digest = args
        mailbox = self.users.get(user)
        # The digest is computed and compared for unknown users too (against a stand-in
        # secret), so that the time to answer does not tell which users exist.
        secret = mailbox.password if mailbox is not None else auth.UNKNOWN_USER_SECRET
        matched = auth.check_apop(self.timestamp, secret, digest)
        if mailbox is None or not matched:
            return self._login_failed()
        return self._login(user, "APOP")

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
        if mechanism in _CLEARTEXT_MECHANISMS and user in self.config.apop_only_users:
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

    def _cmd_QUIT(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("QUIT", args)
        if bad is not None:
            return bad
        self.closed = True
        if self.state is State.TRANSACTION:
            assert self.view is not None
            self.state = State.UPDATE
            extra: list[int] = []
            if self.config.expire_for(self.user) == "0" and self.config.has("EXPIRE"):
                extra = sorted(self._retrieved_numbers)
            deleted = self.view.commit(extra)
            return attrs.evolve(self._ok("quit_update", deleted=deleted), close=True)
        return attrs.evolve(self._ok("quit"), close=True)

    def _cmd_STLS(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("STLS", args)
        if bad is not None:
            return bad
        if self.tls:
            return self._bad(self._err("stls_active"), "STLS while TLS is active")
        if not self.config.stls_available:
            return self._bad(self._err("off", verb="STLS"), "STLS sent but not advertised")
        if self.utf8:
            return self._bad(self._err("stls_after_utf8"), "STLS after UTF8")
        return Response("+OK", self.config.text("stls"), start_tls=True)

    def _cmd_UTF8(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("UTF8", args)
        if bad is not None:
            return bad
        self.utf8 = True
        return self._ok("utf8")

    def _cmd_LANG(self, args: list[str], rest: str) -> Response:
        languages = self.config.languages
        if not args:
            body = b"".join(f"{tag} {name}\r\n".encode() for tag, name in languages)
            return self._ok("lang_list", body=stuff(body))
        if len(args) != 1:
            return self._bad(self._err("lang_bad"), "LANG with more than one tag")
        tag = args[0]
        if tag == "*":
            self.language = languages[0][0]
            return Response("+OK", f"{self.language} {self.config.text('lang')}")
        for known, _ in languages:
            if known.lower() == tag.lower():
                self.language = known
                return Response("+OK", f"{known} {self.config.text('lang')}")
        return self._err("lang_bad")

    # -- SASL ------------------------------------------------------------------------------

    def _mechanisms(self) -> tuple[str, ...]:
        """The mechanisms AUTH accepts now (and CAPA lists): none before TLS if required."""
        if not self.config.has("SASL") or self._plaintext_refused():
            return ()
        return self.config.mechanisms

    def _cmd_AUTH(self, args: list[str], rest: str) -> Response:
        words = rest.split()
        if not words:
            # Not in RFC 5034, but legacy Thunderbird and others send it (C-165).
            body = "".join(f"{m}\r\n" for m in self._mechanisms()).encode()
            return self._ok("auth_list", body=stuff(body))
        if len(words) > 2:
            return self._bad(self._err("auth_base64"), "AUTH with more than two arguments")
        name = words[0].upper()
        if name not in self._mechanisms():
            if name in self.config.mechanisms:
                return self._bad(
                    self._err("plaintext", "AUTH"), f"AUTH {name} before STLS where TLS is required"
                )
            return self._bad(
                self._err("auth_unsupported", "AUTH"),
                f"AUTH with unoffered mechanism {name[:20]!r}",
            )
        self._challenges += 1
        challenge = f"<{self._challenges}.{self.timestamp.strip('<>')}>"
        exchange = auth.new_exchange(name, self.users.get, challenge)
        initial: bytes | None = None
        if len(words) == 2:
            if not exchange.client_first:
                return self._bad(self._err("auth_ir"), f"initial response given to {name}")
            decoded = self._b64(words[1])
            if decoded is None:
                return self._bad(self._err("auth_base64", "AUTH"), "AUTH with invalid base64")
            initial = decoded
        self._sasl_name = name
        return self._sasl_result(exchange, exchange.start(initial))

    @staticmethod
    def _b64(text: str) -> bytes | None:
        if text == "=":
            return b""
        text = text.strip()
        if not _BASE64.fullmatch(text):
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None

    def _sasl_step(self, line: bytes, truncated: bool) -> Response:
        exchange, self._sasl = self._sasl, None
        assert exchange is not None
        text = line.decode("ascii", "replace").strip()
        if text == "*":
            return self._err("auth_cancelled")
        decoded = None if truncated else self._b64(text) if text else b""
        if decoded is None:
            return self._bad(self._err("auth_base64", "AUTH"), "SASL response with invalid base64")
        return self._sasl_result(exchange, exchange.step(decoded))

    def _sasl_result(
        self, exchange: auth.Exchange, step: auth.Challenge | auth.Success | auth.Failure
    ) -> Response:
        if isinstance(step, auth.Challenge):
            self._sasl = exchange
            return Response("+", base64.b64encode(step.data).decode("ascii"))
        if isinstance(step, auth.Failure):
            return self._login_failed()
        return self._login(step.user, self._sasl_name)

    # -- TRANSACTION -----------------------------------------------------------------------

    def _cmd_CAPA(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("CAPA", args)
        if bad is not None:
            return bad
        lines = self.capabilities()
        body = "".join(f"{line}\r\n" for line in lines).encode("ascii", "replace")
        return self._ok("capa", body=stuff(body))

    def capabilities(self) -> list[str]:
        """The CAPA lines for the current state (RFC 2449 section 5), in the configured order.

        What is listed is exactly what works now: STLS only before TLS, UTF8 and login
        (RFC 2595 section 4), USER and SASL only while a login is allowed (SASL stays listed
        after login, RFC 5034 section 3), per-user LOGIN-DELAY / EXPIRE as RFC 2449 section 6
        says. CAPA itself is listed only by a personality that puts it in `capa_order`.
        """
        config = self.config
        lines: dict[str, str] = {
            tag: tag for tag in ("CAPA", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE")
        }
        lines["PIPELINING"] = "PIPELINING"
        if (
            config.stls_available
            and not self.tls
            and not self.utf8  # STLS is refused after UTF8 (RFC 6856 section 2)
            and self.state is State.AUTHORIZATION
        ):
            lines["STLS"] = "STLS"
        if not self._plaintext_refused():
            lines["USER"] = "USER"
        mechanisms = self._mechanisms()
        if mechanisms:
            lines["SASL"] = "SASL " + " ".join(mechanisms)
        user = self.user if self.state is not State.AUTHORIZATION else None
        delay = config.login_delay_capability(user)
        if delay is not None:
            lines["LOGIN-DELAY"] = f"LOGIN-DELAY {delay}"
        expire = config.expire_capability(user)
        if expire is not None:
            lines["EXPIRE"] = f"EXPIRE {expire}"
        # The USER argument promises UTF-8 in USER/PASS (RFC 6856 section 2): only while
        # they are offered.
        lines["UTF8"] = "UTF8 USER" if "USER" in lines and config.has("USER") else "UTF8"
        lines["LANG"] = "LANG"
        if config.implementation:
            lines["IMPLEMENTATION"] = f"IMPLEMENTATION {config.implementation}"
        if self.state is not State.AUTHORIZATION and config.capa_after_login is not None:
            order = list(config.capa_after_login)
        else:
            order = list(config.capa_order)
            if config.capa_after_login is None:
                order += [tag for tag in DEFAULT_CAPA_ORDER if tag not in order]
            # else: the two lists are given in full; one offered only after login is not
            # listed before it.
        return [lines[tag] for tag in order if tag in lines and config.has(tag)]

    def _cmd_STAT(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("STAT", args)
        if bad is not None:
            return bad
        assert self.view is not None
        count, size = self.view.stat()
        return Response("+OK", f"{count} {size}")

    def _cmd_LIST(self, args: list[str], rest: str) -> Response:
        assert self.view is not None
        if not args:
            count, size = self.view.stat()
            return self._ok("list", body=self.view.scan_listing(), count=count, size=size)
        number = self._message_arg("LIST", args)
        if isinstance(number, Response):
            return number
        entry = self.view.entries[number - 1]
        return Response("+OK", f"{number} {entry.size}")

    def _cmd_UIDL(self, args: list[str], rest: str) -> Response:
        view = self.view
        assert view is not None
        if self.config.uid_format == "message":
            if not args:
                return self._ok("uidl", body=view.uid_listing())
            number = self._message_arg("UIDL", args)
            if isinstance(number, Response):
                return number
            return Response("+OK", f"{number} {view.entries[number - 1].uid}")
        # A personality's UID form: rendered once per session, stable across sessions.
        if self._wire_uids is None:
            self._wire_uids = self.config.render_uids(view.mailbox, view.entries.uids())
        uids = self._wire_uids
        if not args:
            if self._wire_listing is None:
                self._wire_listing = [b"%d %s\r\n" % (i, u.encode()) for i, u in enumerate(uids, 1)]
            lines = self._wire_listing
            if view.stat()[0] == len(lines):
                return self._ok("uidl", body=b"".join(lines))
            body = b"".join(line for i, line in enumerate(lines, 1) if not view.is_deleted(i))
            return self._ok("uidl", body=body)
        number = self._message_arg("UIDL", args)
        if isinstance(number, Response):
            return number
        return Response("+OK", f"{number} {uids[number - 1]}")

    def _retrievable(self, number: int) -> Response | None:
        assert self.view is not None
        if self.config.utf8_required and not self.utf8:
            entry = self.view.entries[number - 1]
            if not entry.message.data.isascii():
                return self._err("utf8_needed", "UTF8")
        return None

    def _cmd_RETR(self, args: list[str], rest: str) -> Response:
        number = self._message_arg("RETR", args)
        if isinstance(number, Response):
            return number
        refused = self._retrievable(number)
        if refused is not None:
            return refused
        assert self.view is not None
        message = self.view.retrieved(number)
        self._retrieved_numbers.add(number)
        if number > self._highest:
            self._highest = number
        return self._ok("retr", body=message.wire, size=message.size)

    def _cmd_TOP(self, args: list[str], rest: str) -> Response:
        if len(args) != 2:
            return self._bad(self._err("top_args"), "TOP without message and line count")
        lines = _parse_number(args[1])
        if lines is None:
            return self._bad(self._err("bad_lines"), "TOP with an invalid line count")
        number = self._message_arg("TOP", args[:1])
        if isinstance(number, Response):
            return number
        refused = self._retrievable(number)
        if refused is not None:
            return refused
        assert self.view is not None
        message = self.view.retrieved(number)
        if self.config.top_ignores_lines:
            return self._ok("top", body=message.wire)
        return self._ok("top", body=message.top(lines))

    def _cmd_DELE(self, args: list[str], rest: str) -> Response:
        number = self._message_arg("DELE", args)
        if isinstance(number, Response):
            return number
        assert self.view is not None
        self.view.mark_deleted(number)
        self._highest = max(self._highest, number)  # RFC 1460: DELE counts as an access
        return self._ok("dele", n=number)

    def _cmd_RSET(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("RSET", args)
        if bad is not None:
            return bad
        assert self.view is not None
        self.view.unmark_all()
        self._highest = 0  # RFC 1460: RSET resets the highest number accessed to zero
        self._last_before = 0
        return self._ok("rset", count=self.view.stat()[0])

    def _cmd_NOOP(self, args: list[str], rest: str) -> Response:
        bad = self._no_args("NOOP", args)
        if bad is not None:
            return bad
        return self._ok("noop")

    def _cmd_LAST(self, args: list[str], rest: str) -> Response:
        """RFC 1460 section 5: the highest message number accessed (a bare number: fetchmail
        reads it with sscanf), counting messages retrieved in earlier sessions."""
        bad = self._no_args("LAST", args)
        if bad is not None:
            return bad
        view = self.view
        assert view is not None
        if self._last_before is None:
            seen = self._seen_before
            self._last_before = 0
            if seen:
                uids = view.entries.uids()
                for number in range(len(uids), 0, -1):
                    if uids[number - 1] in seen:
                        self._last_before = number
                        break
        return Response("+OK", str(max(self._highest, self._last_before)))


def system_error(
    config: ServerConfig, key: str = "internal", *, permanent: bool = False
) -> Response:
    """A `-ERR [SYS/TEMP]` (or `[SYS/PERM]`) reply for a failure of the server itself
    (RFC 3206 section 4); the code is left out unless RESP-CODES is advertised."""
    code = "SYS/PERM" if permanent else "SYS/TEMP"
    listed = config.response_codes is None or code in config.response_codes
    return Response("-ERR", config.text(key), code if listed and config.has("RESP-CODES") else None)
