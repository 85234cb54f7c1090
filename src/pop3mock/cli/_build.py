"""Building the server of `pop3mock serve` from its settings (nothing is bound yet): the
TLS context, the `POP3Server` and its options, then its users, maildrops and faults.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import ssl
import tempfile
import warnings
from typing import Any

import attrs

from pop3mock.cli._arguments import (
    AUTH_FAILURE_DELAY,
    DEFAULT_FAKE,
    DEFAULT_USER,
    JOURNAL_KEEP,
    LOGIN_TIMEOUT,
    MAX_AUTH_FAILURES,
    MAX_CONNECTIONS,
)
from pop3mock.cli._config_file import UserEntry
from pop3mock.cli._console import reason
from pop3mock.cli._settings import Settings
from pop3mock.errors import ConfigurationError
from pop3mock.server._assemble import Assembled, Maildrop, UserInput, assemble
from pop3mock.server._server import SESSION_KEEP_COMMANDS, POP3Server

__all__ = [
    "TlsFiles",
    "add_users_and_faults",
    "check_writable",
    "new_server",
    "tls_context",
    "write_tls",
]

# -- building the server (nothing is bound yet) --------------------------------------------


@attrs.frozen
class TlsFiles:
    cert: str
    key: str | None
    ca: str | None


def tls_context(settings: Settings) -> tuple[ssl.SSLContext, TlsFiles | None]:
    """The server's TLS context; the files of a generated certificate (None: not written
    yet, see `write_tls`)."""
    if settings.cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(settings.cert, settings.key)
        except (OSError, ssl.SSLError) as exc:
            key = f" / key {settings.key}" if settings.key else ""
            raise ConfigurationError(
                f"cannot load the certificate {settings.cert}{key}: {reason(exc)}"
            ) from None
        return context, TlsFiles(settings.cert, settings.key, settings.ca)
    from pop3mock.server import tls

    if settings.tls_dir is not None:
        check_writable(settings.tls_dir, "write the certificates to", folder=True)
    return tls.server_context(), None


def write_tls(settings: Settings, stack: contextlib.ExitStack) -> TlsFiles:
    """Write the generated certificate's files (once the ports are bound)."""
    from pop3mock.server import tls

    if settings.tls_dir is not None:
        directory = settings.tls_dir
    else:
        directory = tempfile.mkdtemp(prefix="pop3mock-tls-")
        stack.callback(shutil.rmtree, directory, True)
    try:
        paths = tls.write_files(directory)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the certificates to {directory}: {reason(exc)}"
        ) from None
    return TlsFiles(paths["cert"], paths["key"], paths["ca"])


def check_writable(path: str, what: str, *, folder: bool = False) -> None:
    """Refuse a path that cannot be written, without touching it: files are only written
    once every check has passed and the ports are bound."""
    target = os.path.abspath(path)
    if os.path.exists(target):
        if folder != os.path.isdir(target):
            kind = "not a folder" if folder else "a folder"
            raise ConfigurationError(f"cannot {what} {path}: it is {kind}")
        if not os.access(target, os.W_OK):
            raise ConfigurationError(f"cannot {what} {path}: {os.strerror(errno.EACCES)}")
        return
    parent = os.path.dirname(target)
    while folder and not os.path.exists(parent) and parent != os.path.dirname(parent):
        parent = os.path.dirname(parent)  # a folder is made with its parents
    if not os.path.isdir(parent):
        raise ConfigurationError(f"cannot {what} {path}: {os.strerror(errno.ENOENT)}")
    if not os.access(parent, os.W_OK):
        raise ConfigurationError(f"cannot {what} {path}: {os.strerror(errno.EACCES)}")


def new_server(settings: Settings, context: ssl.SSLContext | None) -> tuple[POP3Server, list[str]]:
    """The server, and the warnings it gave (to print once it really listens)."""
    kwargs: dict[str, Any] = dict(settings.options)
    apop_only = [user.name for user in settings.users if user.apop_only]
    if apop_only:
        kwargs["apop_only_users"] = apop_only
    if settings.personality is not None:
        kwargs["personality"] = settings.personality
    if settings.replay is not None:
        kwargs["replay"] = settings.replay
        kwargs["replay_timing"] = settings.replay_timing
    if settings.idle_timeout is not None:
        kwargs["idle_timeout"] = settings.idle_timeout or None
    cap = MAX_CONNECTIONS if settings.max_connections is None else settings.max_connections
    kwargs["max_connections"] = cap or None
    login = LOGIN_TIMEOUT if settings.login_timeout is None else settings.login_timeout
    kwargs["login_timeout"] = login or None
    drop = settings.drop_oldest_when_full
    kwargs["drop_oldest_when_full"] = True if drop is None else drop
    keep = JOURNAL_KEEP if settings.journal_keep is None else settings.journal_keep
    kwargs["journal_keep"] = keep or None
    delay = settings.auth_failure_delay
    kwargs["auth_failure_delay"] = (AUTH_FAILURE_DELAY if delay is None else delay) or None
    failures = settings.max_auth_failures
    kwargs["max_auth_failures"] = (MAX_AUTH_FAILURES if failures is None else failures) or None
    kept = settings.session_keep_commands
    kwargs["session_keep_commands"] = (SESSION_KEEP_COMMANDS if kept is None else kept) or None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            server = POP3Server(
                settings.host,
                settings.port,
                ssl_context=context,
                stls=settings.stls,
                implicit_tls=settings.tls_port is not None,
                tls_port=settings.tls_port or 0,
                strict=settings.strict,
                fault_seed=settings.fault_seed,
                **kwargs,
            )
        except ConfigurationError as exc:
            if settings.options and settings.config:
                raise ConfigurationError(f"{settings.config}: {exc}") from None
            raise
    return server, [str(warning.message) for warning in caught]


def add_users_and_faults(server: POP3Server, settings: Settings) -> Assembled:
    """Give every user its maildrop, then add the fault rules (see server._assemble)."""
    users = settings.users or (UserEntry(*DEFAULT_USER, source="the default user"),)
    return assemble(
        server,
        [_user_input(user, settings) for user in users],
        settings.faults,
        default=_default_maildrop(settings),
        default_option=settings.maildrop_source,
        max_message_size=settings.max_message_size,
    )


def _default_maildrop(settings: Settings) -> Maildrop:
    """The maildrop of users without one of their own: --messages, else --fake (10)."""
    fake = DEFAULT_FAKE if settings.fake is None else settings.fake
    return Maildrop(
        path=settings.messages,
        fake=fake if settings.messages is None else None,
        seed=settings.seed,
        path_option=settings.maildrop_source or "--messages",
        fake_option=settings.maildrop_source or "--fake",
        seed_option=settings.seed_source,
    )


def _user_input(user: UserEntry, settings: Settings) -> UserInput:
    # A user given by --user is named so; one of the config file by its table.
    option = "--user" if user.source == f"--user {user.name}" else user.source
    seed_option = f"{user.source}.seed" if user.seed is not None else settings.seed_source
    if user.messages is None and user.fake is None:
        # The default maildrop, maybe with a seed of the user's own; --messages on the
        # command line replaced the file's maildrop, and so the seeds of its users too.
        own_seed = None if settings.messages_flag else seed_option
        return UserInput(user.name, user.password, option, None, user.token, user.seed, own_seed)
    drop = Maildrop(
        path=user.messages,
        fake=user.fake,
        seed=user.seed if user.seed is not None else settings.seed,
        path_option=f"{user.source}.messages",
        fake_option=f"{user.source}.fake",
        seed_option=seed_option,
    )
    return UserInput(user.name, user.password, option, drop, token=user.token)
