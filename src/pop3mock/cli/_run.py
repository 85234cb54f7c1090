"""`pop3mock serve` running: start, print where it listens, wait for a signal, stop, and
say how it went (the exit status).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import socket
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pop3mock.cli._build import (
    TlsFiles,
    add_users_and_faults,
    check_writable,
    new_server,
    tls_context,
    write_tls,
)
from pop3mock.cli._console import Console, reason
from pop3mock.cli._journal_file import JournalFile
from pop3mock.cli._settings import Settings, read_settings
from pop3mock.errors import ConfigurationError
from pop3mock.journal._journal import CommandRecord, SessionRecord
from pop3mock.protocol._text import escape
from pop3mock.server._assemble import Assembled
from pop3mock.server._server import POP3Server

if TYPE_CHECKING:
    from pop3mock.admin import AdminServer


__all__ = [
    "Signals",
    "serve",
]

_Listener = Callable[[str, SessionRecord, "CommandRecord | None"], None]
# Unusual messages named one per line at start-up; the rest are counted.
_NOTES_SHOWN = 20


class Signals:
    """Wait for SIGINT or SIGTERM (or SIGHUP unless ignored, as under nohup).

    The handlers only wake a socket (signal.set_wakeup_fd): nothing runs inside a signal
    handler that could deadlock with the thread it interrupted.
    """

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._saved: dict[int, Any] = {}
        self._saved_fd: int | None = None

    def __enter__(self) -> Signals:
        self._saved_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        wanted = [signal.SIGINT, signal.SIGTERM]
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
            wanted.append(hangup)
        for signum in wanted:
            self._saved[signum] = signal.signal(signum, _ignore)
        return self

    def wait(self) -> int:
        """Block until a signal arrives; return its number."""
        data = self._reader.recv(1)
        return data[0] if data else 0

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self._saved_fd if self._saved_fd is not None else -1)
        self._reader.close()
        self._writer.close()


def _ignore(signum: int, frame: object) -> None:
    """The wakeup file descriptor does the work."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{_address(host, port)}"


def _urls(server: POP3Server) -> list[str]:
    urls = [server.url]
    if server.tls_port is not None:
        urls.append(_url("pop3s", server.host, server.tls_port))
    return urls


def _client_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _curl(url: str, name: str, password: str, number: int, extra: Iterable[str] = ()) -> str:
    target = f"{url}/{number}" if number else f"{url}/"
    return " ".join(shlex.quote(w) for w in ["curl", target, "-u", f"{name}:{password}", *extra])


def _start(server: POP3Server, settings: Settings) -> None:
    try:
        server.start()
    except OSError as exc:
        if (exc.strerror or "").startswith("cannot listen on"):
            raise ConfigurationError(exc.strerror) from None  # the server named the address
        port = settings.port if not server.port else settings.tls_port
        raise ConfigurationError(
            f"cannot listen on {_address(settings.host, port or 0)}: {reason(exc)}"
        ) from None


def _admin(server: POP3Server, settings: Settings) -> AdminServer | None:
    """The control API of `server` (not listening yet), or None without --admin-port."""
    if settings.admin_port is None:
        for name in ("admin_host", "admin_token", "admin_max_body"):
            if getattr(settings, name) is not None:
                raise ConfigurationError(f"--{name.replace('_', '-')} needs --admin-port")
        return None
    from pop3mock.admin import DEFAULT_MAX_BODY, AdminServer

    return AdminServer(
        server,
        settings.admin_host or settings.host,
        settings.admin_port,
        token=settings.admin_token,
        max_body=DEFAULT_MAX_BODY if settings.admin_max_body is None else settings.admin_max_body,
    )


def _start_admin(admin: AdminServer) -> None:
    try:
        admin.start()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot listen on {_address(admin.host, admin.port)} for the control API: "
            f"{reason(exc)}"
        ) from None


def _announce(
    console: Console, server: POP3Server, settings: Settings, tls_files: TlsFiles | None
) -> list[str]:
    for url in _urls(server):
        console.line(f"listening on {url}", always=True)
    host = _client_host(server.host)
    plain = _url("pop3", host, server.port)
    secure = _url("pop3s", host, server.tls_port) if server.tls_port is not None else None
    if settings.stls:
        console.line(f"STLS offered on {server.url}")
    if tls_files is not None:
        if tls_files.ca:
            console.line(f"CA certificate:     {tls_files.ca}")
        console.line(f"server certificate: {tls_files.cert}")
        if tls_files.key:
            console.line(f"server key:         {tls_files.key}")
    return [plain, *([secure] if secure else [])]


def _describe(
    console: Console,
    server: POP3Server,
    settings: Settings,
    assembled: Assembled,
    tls_files: TlsFiles | None,
    client_urls: list[str],
) -> None:
    if server.replay is not None:
        recording = server.replay.recording
        count = _plural(len(recording.connections), "recorded connection")
        console.line(f"replaying {recording.path}: {count}, one per client in order")
        console.line("stop with Ctrl-C or SIGTERM")
        return
    for name, mailbox in server.users.items():
        count = _plural(len(mailbox), "message")
        console.line(f"user {name} / password {mailbox.password}: {count} ({assembled.made[name]})")
    # Served as they are (a client's parser meets them): said once, the first few by name.
    notes = assembled.notes
    for note in notes[:_NOTES_SHOWN]:
        console.line(f"note: {note} (served as it is)")
    if len(notes) > _NOTES_SHOWN:
        console.line(f"note: {len(notes) - _NOTES_SHOWN} more unusual messages")
    for rule in server.faults.rules:
        console.line(f"fault: {rule.spec()}")
    if server.faults:
        # With it (--fault-seed N) a run with probabilistic faults can be replayed.
        console.line(f"fault seed: {server.faults.seed}")
    if settings.journal:
        console.line(f"journal: {settings.journal}")
    first, mailbox = next(iter(server.users.items()))
    number = 1 if len(mailbox) else 0
    trust = ["--cacert", tls_files.ca] if tls_files and tls_files.ca else ["--insecure"]
    console.line("try:")
    console.line("  " + _curl(client_urls[0], first, mailbox.password, number))
    if len(client_urls) > 1:
        console.line("  " + _curl(client_urls[1], first, mailbox.password, number, trust))
    if settings.stls:
        extra = ["--ssl-reqd", *trust]
        console.line("  " + _curl(client_urls[0], first, mailbox.password, number, extra))
    console.line("stop with Ctrl-C or SIGTERM")


def _prepare_ready(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigurationError(f"cannot write the ready file {path}: no folder {folder}")
    if os.path.isdir(path):
        raise ConfigurationError(f"cannot write the ready file {path}: it is a folder")
    # A stale file from an earlier run must not look like this run's.
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ready file {path}: {reason(exc)}") from None


def _write_ready(path: str, urls: Sequence[str]) -> None:
    # Written under a temporary name then renamed: a script that sees the file sees it whole.
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{url}\n" for url in urls))
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise ConfigurationError(f"cannot write the ready file {path}: {reason(exc)}") from None


def serve(args: argparse.Namespace, console: Console) -> int:
    settings = read_settings(args)
    console.quiet = settings.quiet
    with contextlib.ExitStack() as stack:
        # From here on a signal stops the server cleanly, even one sent during start-up.
        signals = stack.enter_context(Signals())
        context, tls_files = tls_context(settings) if settings.tls else (None, None)
        server, server_warnings = new_server(settings, context)
        assembled = add_users_and_faults(server, settings)
        journal_file = None
        if settings.journal:
            check_writable(settings.journal, "write the journal")
            journal_file = JournalFile(None, console)
            stack.callback(journal_file.close)
            server.journal.subscribe(journal_file)
        if (settings.strict or settings.replay) and not settings.quiet:
            label = "strict" if settings.strict else "replay"
            server.journal.subscribe(_violation_printer(console, label))
        # Made (and so checked) before anything is bound; it serves once the server does.
        admin = _admin(server, settings)
        if settings.ready_file:
            _prepare_ready(settings.ready_file)
        _start(server, settings)
        try:
            if admin is not None:
                _start_admin(admin)
            # Only now, with every check passed and the ports bound, is anything written: a
            # failed start leaves an existing journal and the --tls-dir as they were.
            if journal_file is not None and settings.journal:
                journal_file.open(settings.journal)
            if settings.tls and tls_files is None:
                tls_files = write_tls(settings, stack)
            # An address that cannot be bound gets the error alone.
            for warning in server_warnings:
                console.error(f"warning: {warning}")
            if settings.ready_file:
                # Before the listening lines: whoever sees either finds both.
                urls = _urls(server) + ([admin.url] if admin is not None else [])
                _write_ready(settings.ready_file, urls)
                stack.callback(_remove, settings.ready_file)
            client_urls = _announce(console, server, settings, tls_files)
            if admin is not None:
                console.line(f"admin on {admin.url}", always=True)
            _describe(console, server, settings, assembled, tls_files, client_urls)
            signals.wait()
        finally:
            try:
                if admin is not None:
                    admin.stop()
            finally:
                server.stop()
        unfired = _unfired(server)
        for line in unfired:
            console.line(line)
        sessions = _plural(server.journal.total_sessions, "session")
        commands = _plural(server.journal.total_commands, "command")
        console.line(f"stopped after {sessions}, {commands}")
    if server.errors:
        first = server.errors[0]
        detail = "".join(traceback.format_exception(type(first), first, first.__traceback__))
        console.error(
            f"error: the server failed {len(server.errors)} time(s) while serving clients; "
            f"the first time:\n{detail.rstrip()}"
        )
        return 1
    if settings.check:
        failed = []
        replayed = settings.strict or settings.replay is not None
        violations = server.journal.violation_count if replayed else 0
        if violations:
            failed.append(f"{_plural(violations, 'protocol violation')} by clients")
        if unfired:
            failed.append(f"{_plural(len(unfired), 'counted fault rule')} not fired as configured")
        if journal_file is not None and journal_file.failure:
            failed.append(f"the journal file stopped ({journal_file.failure})")
        if failed:
            console.error(f"check failed: {' and '.join(failed)}")
            return 3
    return 0


def _unfired(server: POP3Server) -> list[str]:
    """The counted rules (once, times, nth) that did not fire as often as configured."""
    out = []
    for short in server.faults.shortfalls():
        seen = f" (matched {_plural(short.matched, 'time')})" if short.matched else ""
        if short.fired:
            out.append(f"fault fired {short.fired} of {short.wanted} times: {short.name}{seen}")
        else:
            out.append(f"fault never fired: {short.name}{seen}")
    return out


def _violation_printer(console: Console, label: str = "strict") -> _Listener:
    def printer(event: str, session: SessionRecord, command: CommandRecord | None) -> None:
        if event == "session-end":
            for violation in session.violations:
                console.error(f"{label}: session {session.id}: {escape(violation)}")

    return printer


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
