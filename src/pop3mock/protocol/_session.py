"""The POP3 session as a pure state machine (sans-IO).

`Session.handle(line)` takes one command line and returns one `Response`; there are no
sockets, threads or clocks here (a clock may be injected for LOGIN-DELAY). Every rule of
RFC 1939 and its extensions that concerns what the server answers lives in this module and
the ones beside it: the session's fields, replies and login in `_session_base`, the command
table and argument parsing in `_commands`, the CAPA lines in `_capabilities`.
"""

from __future__ import annotations

import base64
import types
from collections.abc import Callable, Mapping

import attrs

from pop3mock.maildrop._message import REPLY_KEPT_UP_TO, stuff
from pop3mock.protocol import _auth as auth
from pop3mock.protocol._capabilities import capability_lines
from pop3mock.protocol._commands import (
    AUTHORIZATION_VERBS,
    OPTIONAL_VERBS,
    TRANSACTION_VERBS,
    decode_base64,
    parse_number,
    split_command,
)
from pop3mock.protocol._response import Response, system_error
from pop3mock.protocol._session_base import SessionBase, State
from pop3mock.protocol._text import credential_line, garbled_secret, mask_verb

__all__ = [
    "Response",
    "Session",
    "State",
    "garbled_secret",
    "mask_verb",
    "system_error",
]


class Session(SessionBase):
    """One POP3 session from greeting to close."""

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

    def handle(
        self,
        line: bytes,
        *,
        truncated: bool = False,
        ending: bytes = b"\r\n",
        split: tuple[str, str] | None = None,
    ) -> Response:
        """Answer one command line (without its line end).

        `split` is `verb_of(line)` when the caller has it already (the server records the
        verb), so that the line is parsed once.
        """
        if self.closed:
            raise RuntimeError("the session is closed")
        if self._sasl is not None:
            self._previous_verb = None
            return self._sasl_step(line, truncated)
        if truncated or (
            len(line) + len(ending) > self.config.max_line_length and not self._is_auth(line)
        ):
            self._previous_verb = None
            self._user_given = None
            return self._bad(self._err("too_long"), "command line longer than allowed")
        response = self._dispatch(*(split or split_command(line)))
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

    #: Split a command line into its upper-case verb and the rest.
    verb_of = staticmethod(split_command)

    # -- helpers ---------------------------------------------------------------------------

    def _is_auth(self, line: bytes) -> bool:
        return line[:5].upper() == b"AUTH "

    # -- dispatch --------------------------------------------------------------------------

    _AUTH_VERBS = AUTHORIZATION_VERBS
    _TRANS_VERBS = TRANSACTION_VERBS
    _OPTIONAL = OPTIONAL_VERBS

    def _dispatch(self, verb: str, rest: str) -> Response:
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
        handler = _HANDLERS.get(verb)
        if handler is None:
            # The line after USER may be the password itself: its verb is never repeated.
            hidden = credential_line(previous_verb, in_sasl=False)
            shown = "***" if hidden else mask_verb(verb)
            return self._bad(self._unknown(shown), f"unknown command {shown[:20]!r}")
        return handler(self, args, rest)

    # -- AUTHORIZATION ---------------------------------------------------------------------

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
            return Response("+OK", self.config.text("quit_update", deleted=deleted), close=True)
        return Response("+OK", self.config.text("quit"), close=True)

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

    _b64 = staticmethod(decode_base64)

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
        """The CAPA lines for the current state (RFC 2449 section 5), in the configured order."""
        logged_in = self.state is not State.AUTHORIZATION
        return capability_lines(
            self.config,
            logged_in=logged_in,
            user=self.user if logged_in else None,
            tls=self.tls,
            utf8=self.utf8,
            login_allowed=not self._plaintext_refused(),
            mechanisms=self._mechanisms(),
        )

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
        if self.config.utf8_required and not self.utf8:
            refused = self._retrievable(number)
            if refused is not None:
                return refused
        assert self.view is not None
        message = self.view.retrieved(number)
        self._retrieved_numbers.add(number)
        if number > self._highest:
            self._highest = number
        template = self.config.template("retr")
        if message.size > REPLY_KEPT_UP_TO:
            # Sent in pieces from the message's own bytes, never joined.
            return Response("+OK", template.format(size=message.size), body=message.wire)
        # The whole reply, made once per message and RETR text: a RETR copies nothing (`raw`
        # is what is sent; `body` stays for whoever reads the reply's parts).
        kept = message.kept_reply(template)
        if type(kept) is Response:
            return kept
        response = Response("+OK", template.format(size=message.size), body=message.wire).joined()
        message.keep_reply(template, response)
        return response

    def _cmd_TOP(self, args: list[str], rest: str) -> Response:
        if len(args) != 2:
            return self._bad(self._err("top_args"), "TOP without message and line count")
        lines = parse_number(args[1])
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


# The command handlers by verb: one lookup per command line (a verb that names none, in
# any case or alphabet, is an unknown command).
_HANDLERS: Mapping[str, Callable[[Session, list[str], str], Response]] = types.MappingProxyType(
    {
        name[len("_cmd_") :]: handler
        for name, handler in vars(Session).items()
        if name.startswith("_cmd_")
    }
)
