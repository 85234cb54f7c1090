"""`pop3mock probe`: a POP3 client that writes down a server's manners as a personality file.

It runs one fixed script that changes nothing on the server (it never sends DELE; RSET
and QUIT leave the maildrop as it was) and keeps forms, never content: reply texts with
their numbers turned back into ``{count}``, ``{size}``, ``{n}`` and ``{verb}``, the
capability lines, the UIDL form as a pattern, which strictness choices the server made,
and the median reply time per command. No message text, no credentials, no host name
unless asked for. Anything that is not a POP3 server ends the probe within its timeout
with one line saying what was seen (`ProbeError`).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import statistics
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from pop3mock import __version__
from pop3mock.probe._connection import (
    PASSWORD_VARIABLE,
    ProbeError,
    Target,
    _Closed,
    _Connection,
    _describe,
    _greeting,
    _Reply,
)
from pop3mock.probe._render import _form, _uid_pattern, render
from pop3mock.protocol._personality_file import FORMAT

if TYPE_CHECKING:
    import ssl

# ProbeError, Target and PASSWORD_VARIABLE live in `_connection`; `pop3mock probe` and
# `pop3mock record` take them from here with the command that uses them.
__all__ = ["PASSWORD_VARIABLE", "ProbeError", "Target", "add_arguments", "probe", "run"]


def _capa_lines(reply: _Reply) -> list[str]:
    return [line.decode("utf-8", "replace").strip() for line in reply.body or []]


class _Probe:
    """The fixed script, and what it learns."""

    def __init__(
        self,
        target: Target,
        password: str,
        *,
        timeout: float,
        context: ssl.SSLContext | None,
        failed_login: bool,
        retr: bool,
        keep_host: bool,
        log: Callable[[str], None],
    ) -> None:
        self.target = target
        self.password = password
        self.timeout = timeout
        self.context = context
        self.failed_login = failed_login
        self.retr = retr
        self.keep_host = keep_host
        self.log = log
        self.texts: dict[str, str] = {}
        self.codes: set[str] = set()
        self.times: dict[str, list[float]] = {}
        self.notes: list[str] = []
        self.conn: _Connection | None = None
        self.user_name_strict = True
        self.dropped: list[str] = []

    def cmd(self, line: str, multiline: bool = False, shown: str | None = None) -> _Reply:
        assert self.conn is not None
        self.log(f"> {shown or line}")
        self.conn.send(line)
        verb = line.split(" ", 1)[0].upper()
        reply = self.conn.reply(f"the reply to {verb}", multiline)
        self.log(f"< {(reply.line[:1] == b'+' and '+OK') or '-ERR'}")
        self.times.setdefault(verb, []).append(reply.seconds)
        if not reply.ok and reply.code:
            self.codes.add(reply.code)
        return reply

    def connect(self) -> _Reply:
        self.log(f"connecting to {self.target.host}:{self.target.port} (tls: {self.target.tls})")
        self.conn = _Connection(self.target, self.timeout, self.context)
        greeting = _greeting(self.conn)
        self.times.setdefault("greeting", []).append(greeting.seconds)
        return greeting

    def run(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": FORMAT}
        try:
            greeting = self.connect()
            self._script(doc, greeting)
        finally:
            if self.conn is not None:
                self.conn.close()
        self._second_connection()
        return self._document(doc)

    def _script(self, doc: dict[str, Any], greeting: _Reply) -> None:
        text = greeting.text
        stamp = re.search(r"<[^<>@\s]*@([^<>\s]*)>", text)
        apop = stamp is not None
        if stamp is not None:
            if stamp.end() != len(text.rstrip()):
                self.notes.append("the APOP timestamp stands inside the greeting, not at its end")
            text = (text[: stamp.start()] + text[stamp.end() :]).strip()
            if self.keep_host:
                doc["hostname"] = stamp.group(1)
        self.texts["greeting"] = text
        self.apop = apop
        capa = self.cmd("CAPA", multiline=True)
        self.capa = capa.ok
        before = _capa_lines(capa) if capa.ok else []
        if capa.ok:
            self.texts["capa"] = capa.text
        else:
            self.texts["capa_off"] = capa.bare_text
        if self.target.tls == "stls":
            stls = self.cmd("STLS")
            if not stls.ok:
                raise ProbeError(f"STLS refused: {stls.text!r}")
            self.texts["stls"] = stls.text
            assert self.conn is not None
            self.conn.start_tls()
        unknown = self.cmd("XYZZY")
        if not unknown.ok:
            self.texts["unknown"] = unknown.bare_text
        nameless = self.cmd("USER")
        self.user_name_strict = not nameless.ok
        if not nameless.ok:
            self.texts["need_user"] = _form(nameless.bare_text, verb="USER")
        if self.failed_login:
            self._login(self.password + "-not", expect_ok=False)
        try:
            self._login(self.password, expect_ok=True)
        except _Closed as exc:
            if not self.failed_login:
                raise
            raise ProbeError(f"{exc}, after the wrong password: try --no-failed-login") from None
        after = self.cmd("CAPA", multiline=True) if self.capa else None
        stat = self.cmd("STAT")
        match = re.fullmatch(rb"\+OK (\d+) (\d+).*", stat.line)
        if match is None:
            raise ProbeError(f"STAT answered {_describe(stat.line)}, not '+OK count size'")
        count, size = int(match.group(1)), int(match.group(2))
        listing = self.cmd("LIST", multiline=True)
        if listing.ok:
            self.texts["list"] = _form(listing.text, size=size, count=count)
        works: dict[str, bool] = {}
        first_size: int | None = None
        if count:
            one = self.cmd("LIST 1")
            scan = re.fullmatch(r"1 (\d+)\b.*", one.text) if one.ok else None
            if scan is not None:
                first_size = int(scan.group(1))
        beyond = self.cmd(f"LIST {count + 1}")
        if not beyond.ok:
            self.texts["no_such"] = _form(beyond.bare_text, n=count + 1)
        uidl = self.cmd("UIDL", multiline=True)
        works["UIDL"] = uidl.ok
        uids: list[str] = []
        if uidl.ok:
            self.texts["uidl"] = uidl.text
            uids = [
                line.decode("utf-8", "replace").split()[-1]
                for line in uidl.body or []
                if line.strip()
            ]
            if count:
                self.cmd("UIDL 1")
        else:
            self._off("UIDL", uidl)
        top_body: list[bytes] | None = None
        if count:
            top = self.cmd("TOP 1 0", multiline=True)
            works["TOP"] = top.ok
            if top.ok:
                self.texts["top"] = top.text
                top_body = top.body
            else:
                self._off("TOP", top)
        else:
            self.notes.append("the maildrop is empty: LIST 1, UIDL 1, TOP and RETR not sent")
        retr_body: list[bytes] | None = None
        expire = [line for line in before + _capa_lines(after or capa) if line == "EXPIRE 0"]
        if count and self.retr and expire:
            self.notes.append("the server advertises EXPIRE 0: RETR 1 not sent")
        if count and self.retr and not expire:
            retr = self.cmd("RETR 1", multiline=True)
            if retr.ok:
                self.texts["retr"] = _form(retr.text, size=first_size or -1)
                retr_body = retr.body
        noop = self.cmd("NOOP")
        if noop.ok:
            self.texts["noop"] = noop.text
        noop_args = self.cmd("NOOP x")
        strict = not noop_args.ok
        if strict:
            self.texts["no_args"] = _form(noop_args.bare_text, verb="NOOP")
        rset = self.cmd("RSET")
        if rset.ok:
            self.texts["rset"] = _form(rset.text, count=count)
        last = self.cmd("LAST")
        if not last.ok:
            self.texts["unknown_trans"] = _form(last.bare_text, verb="LAST")
        quit_ = self.cmd("QUIT")
        self.texts["quit_update"] = _form(quit_.text, deleted=0)
        doc["last"] = last.ok
        doc["greeting"] = {"text": self.texts.pop("greeting"), "apop": apop}
        doc["capabilities"] = self._capabilities(before, after, works)
        ignores = None
        if top_body is not None:
            header_end = top_body.index(b"") if b"" in top_body else len(top_body)
            ignores = len(top_body) > header_end + 1
            if retr_body is not None and ignores:
                ignores = top_body == retr_body
        doc["strictness"] = {"arguments": strict, "user_name": self.user_name_strict}
        if ignores is not None:
            doc["strictness"]["top_ignores_lines"] = ignores
        if uids:
            form, pattern = _uid_pattern(uids)
            doc["uidl"] = {"form": form, "pattern": pattern}
        advertised = {line.split(" ")[0].upper() for line in before}
        codes_advertised = bool(advertised & {"RESP-CODES", "AUTH-RESP-CODE"})
        if codes_advertised and self.failed_login and "AUTH" not in self.codes:
            # The codes are advertised but the failed login carried none.
            doc["response_codes"] = []

    def _off(self, verb: str, reply: _Reply) -> None:
        if not self.capa:
            self.texts["off"] = _form(reply.bare_text, verb=verb)

    def _login(self, password: str, *, expect_ok: bool) -> None:
        user = self.cmd(f"USER {self.target.user}", shown="USER ***")
        if not user.ok:
            raise ProbeError(f"USER refused: {user.text!r} (the probe logs in with USER/PASS)")
        self.texts["user_ok"] = user.text
        reply = self.cmd(f"PASS {password}", shown="PASS ***")
        if expect_ok and not reply.ok:
            raise ProbeError(f"login refused: {reply.text!r}")
        if expect_ok:
            self.texts["login_ok"] = reply.text
        elif reply.ok:
            raise ProbeError("the server accepted a wrong password: is it a test server?")
        else:
            self.texts["auth_failed"] = reply.bare_text

    def _capabilities(
        self, before: list[str], after: _Reply | None, works: Mapping[str, bool]
    ) -> dict[str, Any]:
        if not self.capa:
            # No CAPA: what works shows by trying it.
            tags = ["USER"] + [tag for tag in ("TOP", "UIDL") if works.get(tag)]
            return {"capa": False, "before_login": tags}
        out: dict[str, Any] = {"capa": True, "before_login": self._servable(before)}
        if after is not None and after.ok:
            out["after_login"] = self._servable(_capa_lines(after))
        return out

    def _servable(self, lines: list[str]) -> list[str]:
        """The CAPA lines pop3mock can offer; the rest noted in `dropped`, so that the file
        loads as it is written."""
        from pop3mock.protocol._auth import MECHANISMS
        from pop3mock.protocol._config import ALL_CAPABILITIES

        out = []
        for line in lines:
            tag, _, arguments = line.partition(" ")
            if tag.upper() not in ALL_CAPABILITIES:
                self._drop(line)
                continue
            if tag.upper() == "SASL":
                known = [m for m in arguments.split() if m.upper() in MECHANISMS]
                for mechanism in arguments.split():
                    if mechanism not in known:
                        self._drop(f"SASL {mechanism}")
                if not known:
                    continue
                line = " ".join([tag, *known])
            out.append(line)
        return out

    def _drop(self, line: str) -> None:
        if line not in self.dropped:
            self.dropped.append(line)
            self.notes.append(f"pop3mock cannot offer {line!r}: left out of the file")

    def _second_connection(self) -> None:
        """A second, short connection: the QUIT text before login."""
        self.connect()
        try:
            if self.target.tls == "stls":
                self.cmd("STLS")
                assert self.conn is not None
                self.conn.start_tls()
            quit_ = self.cmd("QUIT")
            self.texts["quit"] = quit_.text
        finally:
            assert self.conn is not None
            self.conn.close()

    def _document(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self.target.tls == "implicit":
            doc["implicit_tls"] = True
        doc["texts"] = dict(sorted(self.texts.items()))
        doc["latency"] = {
            verb: round(statistics.median(times) * 1000, 2) for verb, times in self.times.items()
        }
        probe: dict[str, Any] = {"tls": self.target.tls, "pop3mock": __version__}
        if self.dropped:
            probe["dropped"] = self.dropped
        if self.keep_host:
            probe["host"] = f"{self.target.host}:{self.target.port}"
        doc["probe"] = probe
        # Top-level values first, then tables: TOML wants it so.
        return dict(sorted(doc.items(), key=lambda item: isinstance(item[1], Mapping)))


def probe(
    target: Target,
    password: str,
    *,
    timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
    failed_login: bool = True,
    retr: bool = True,
    keep_host: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the probe script against `target`; return the personality document (the
    parsed form of the file `run` writes). Raises ProbeError."""
    if target.tls != "none" and context is None:
        import ssl

        context = ssl.create_default_context()
    worker = _Probe(
        target,
        password,
        timeout=timeout,
        context=context,
        failed_login=failed_login,
        retr=retr,
        keep_host=keep_host,
        log=log or (lambda line: None),
    )
    document = worker.run()
    for note in worker.notes:
        (log or (lambda line: None))(f"note: {note}")
    return document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `pop3mock probe`."""
    add = parser.add_argument
    add("url", metavar="URL", help="pop3://USER@HOST[:PORT] or pop3s://USER@HOST[:PORT]")
    add("--stls", action="store_true", help="upgrade a pop3:// connection with STLS")
    add("--cafile", metavar="FILE", help="trust the CA certificate(s) in FILE (PEM)")
    add("--insecure", action="store_true", help="do not verify the server's certificate")
    add("--out", metavar="FILE.toml", help="write the personality file here (default: stdout)")
    add(
        "--no-failed-login",
        dest="failed_login",
        action="store_false",
        help="skip the login with a wrong password (some servers lock the account)",
    )
    add("--no-retr", dest="retr", action="store_false", help="do not RETR message 1")
    add("--keep-host", action="store_true", help="write the host name and port into the file")
    add(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="give up on any connection, handshake or reply after this long (default 10)",
    )


def _context(args: argparse.Namespace) -> ssl.SSLContext | None:
    import ssl

    if args.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=args.cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(
            f"--cafile {args.cafile}: {getattr(exc, 'strerror', None) or exc}"
        ) from None


def run(args: argparse.Namespace, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """`pop3mock probe`: 0 when the file is written; ProbeError otherwise."""
    if not args.timeout > 0:
        raise ProbeError(f"--timeout must be a number of seconds > 0, not {args.timeout!r}")
    target = Target.from_url(args.url, stls=args.stls)
    context = _context(args) if target.tls != "none" else None
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None and not sys.stdin.isatty():
        raise ProbeError(
            f"no password: set ${PASSWORD_VARIABLE} (standard input is not a terminal to ask "
            "for it)"
        )
    if password is None:
        try:
            password = getpass.getpass(f"password of {target.user} at {target.host}: ")
        except EOFError:
            raise ProbeError(f"no password: set ${PASSWORD_VARIABLE} or type it") from None

    def log(line: str) -> None:
        print(line, file=stderr, flush=True)

    document = probe(
        target,
        password,
        timeout=args.timeout,
        context=context,
        failed_login=args.failed_login,
        retr=args.retr,
        keep_host=args.keep_host,
        log=log,
    )
    text = render(document)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise ProbeError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        log(f"wrote {args.out}")
    else:
        stdout.write(text)
    return 0
