"""Users, maildrops and fault rules from options, onto a `POP3Server`: one set of rules and
one wording for the pytest marker, `pop3mock serve` (its flags and its TOML file) and the
control API.

Each value carries how its caller names the option that holds it (``--fault``, ``faults``,
``pop3mock.toml: users[2].messages``): an error starts with that name, then says what is
wrong in the same words whichever way the value came in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs

from pop3mock.checks import MAX_LAZY_MESSAGES, expected, unknown_user, whole_number
from pop3mock.checks import whole_number_rule as _rule
from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._mailbox import Mailbox

if TYPE_CHECKING:
    from pop3mock.faults._faultset import FaultSet, Rule
    from pop3mock.maildrop._entries import LazyMaildrop
    from pop3mock.maildrop._message import LazyMessage, Message, MessageInput
    from pop3mock.server._server import POP3Server

__all__ = [
    "FAKE_RULE",
    "Assembled",
    "FaultInput",
    "Maildrop",
    "UserInput",
    "add_faults",
    "assemble",
    "fault_rule",
    "generated",
    "seed_unused",
]

#: The range of a number of generated messages, as error messages say it.
FAKE_RULE = _rule(0, MAX_LAZY_MESSAGES)
_SPEC_EXAMPLE = "'RETR 2: error [SYS/TEMP] x'"

Item = Union["MessageInput", "LazyMessage", "LazyMaildrop"]
FaultSource = Union[str, Callable[["FaultSet"], object]]


@attrs.frozen
class Maildrop:
    """Where one user's messages come from: files, messages given as they are, generated
    ones; any of them, in that order."""

    #: A folder of .eml files, an mbox file or a Maildir.
    path: str | None = None
    messages: tuple[Any, ...] = ()
    #: How many generated messages (None: none asked for), and their seed (None: 0).
    fake: int | None = None
    seed: int | None = None
    #: How the options are named in errors: "--messages", "pop3mock.toml: users[2].fake".
    path_option: str = "messages"
    fake_option: str = "fake"
    #: None: no seed was given on purpose (then nothing checks that one is used).
    seed_option: str | None = None

    @property
    def generates(self) -> bool:
        # fake=0 asks for generated messages too (none): a seed given with it is not unused.
        return self.fake is not None


@attrs.frozen
class UserInput:
    """One user: its password (or a ready `Mailbox`, already given to the server) and its
    own maildrop (None: the default one)."""

    name: str
    password: str | Mailbox
    #: How the option is named in errors: "--user", "users", "pop3mock.toml: users[1]".
    option: str
    maildrop: Maildrop | None = None
    token: str | None = None
    #: A seed of this user's own for the default maildrop, and how its option is named
    #: (None: not to be checked).
    seed: int | None = None
    seed_option: str | None = None


@attrs.frozen
class FaultInput:
    """One fault rule as text (``RETR 2: error``) or a callable that adds rules to a
    `FaultSet`; `user` set: a rule of that user's own table, matching that user only."""

    spec: FaultSource
    #: How the option is named in errors: "--fault", "faults", "pop3mock.toml: faults[2]".
    option: str
    user: str | None = None


@attrs.frozen
class Assembled:
    """What `assemble` did: how each user's maildrop was made (for `pop3mock serve`'s
    output) and what is unusual about messages read from files (``FILE: note``)."""

    made: Mapping[str, str]
    notes: Sequence[str]


def assemble(
    server: POP3Server,
    users: Iterable[UserInput],
    faults: Iterable[FaultInput] = (),
    *,
    default: Maildrop | None = None,
    default_option: str | None = None,
    max_message_size: int | None = None,
) -> Assembled:
    """Give `server` its users, each with its maildrop (its own, else `default`), then its
    fault rules; raise ConfigurationError naming the option of the first bad value.

    `default_option` names a default maildrop given on purpose: an error if every user has
    one of its own. A seed given on purpose (`Maildrop.seed_option`) that no generated
    maildrop uses is an error too: it would change nothing.
    """
    loaded: dict[str, list[tuple[Message, str]]] = {}
    made_lazy: dict[tuple[Any, Any], LazyMaildrop | None] = {}
    made: dict[str, str] = {}
    notes: list[str] = []
    default_used = False
    # Seeds given on purpose: those a generated maildrop used, and where the messages of
    # the others come from instead.
    used: set[str] = set()
    unused: dict[str, str | None] = {}
    for user in users:
        drop = user.maildrop
        if drop is None:
            default_used = True
            drop = default or Maildrop()
            if user.seed is not None:
                drop = attrs.evolve(drop, seed=user.seed, seed_option=user.seed_option)
        items: list[Item] = list(drop.messages)
        if drop.path is not None:
            if drop.path not in loaded:
                # Imported here: a test's server rarely reads files, and the readers of mbox
                # and Maildir bring the email package's parsers with them.
                from pop3mock.maildrop._sources import DEFAULT_MAX_MESSAGE_SIZE

                size = max_message_size or DEFAULT_MAX_MESSAGE_SIZE
                found = _in(drop.path_option, load_maildrop, drop.path, size)
                loaded[drop.path] = found
                notes += [f"{where}: {', '.join(m.notes)}" for m, where in found if m.notes]
            items += [message for message, _ in loaded[drop.path]]
            made[user.name] = f"from {drop.path}"
        else:
            made[user.name] = f"generated, seed {drop.seed or 0}" if drop.generates else "given"
        # One generated maildrop per count and seed: users share its uids and sizes.
        key = (drop.fake, drop.seed)
        if key not in made_lazy:
            made_lazy[key] = generated(*key, drop.fake_option, drop.seed_option or "seed")
        lazy = made_lazy[key]
        if lazy is not None:
            items.append(lazy)
        if drop.seed_option is not None:
            if drop.generates:
                used.add(drop.seed_option)
            else:
                unused.setdefault(drop.seed_option, drop.path)
        if isinstance(user.password, Mailbox):
            _in(user.option, user.password.add, *items)
        else:
            _in(user.option, server.add_user, user.name, user.password, items, token=user.token)
    if default_option is not None and not default_used:
        raise ConfigurationError(
            f"{default_option} is the maildrop of users without one of their own; every user "
            "here has one, so it would change nothing"
        )
    for option, path in unused.items():
        if option not in used:
            raise ConfigurationError(seed_unused(option, path))
    add_faults(server, faults)
    return Assembled(made, notes)


def seed_unused(option: str, path: str | None = None) -> str:
    """The error for a seed that no generated maildrop uses (`path`: where the messages
    come from instead)."""
    where = f" (the messages come from {path})" if path else ""
    return (
        f"{option} sets the seed of generated messages, and none are generated here{where}; "
        "it would change nothing"
    )


def generated(
    count: object, seed: object, option: str = "fake", seed_option: str = "seed"
) -> LazyMaildrop | None:
    """`count` generated messages with `seed` (None: 0), lazily: uids and sizes now, the
    bytes on first RETR or TOP, so 100,000 of them start at once. None for no messages."""
    if count is None:
        return None
    if not whole_number(count, 0, MAX_LAZY_MESSAGES):
        raise ConfigurationError(f"{option}: {expected(FAKE_RULE, count)}")
    if seed is not None and not whole_number(seed, None):
        raise ConfigurationError(f"{seed_option}: {expected(_rule(None), seed)}")
    if not count:
        return None
    from pop3mock.fake._factory import lazy_fake_messages

    return lazy_fake_messages(count, seed=seed or 0)


def load_maildrop(path: str | os.PathLike[str], limit: int) -> list[tuple[Message, str]]:
    """The messages of a folder of .eml files, an mbox file or a Maildir, each with where
    it came from."""
    from pop3mock.maildrop._sources import load_with_origins

    path = os.fspath(path)
    if not os.path.lexists(path):
        raise ConfigurationError(f"{path}: no such file or folder")
    try:
        return load_with_origins(path, max_message_size=limit)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigurationError(f"{path}: cannot read the maildrop: {reason}") from None


def add_faults(server: POP3Server, faults: Iterable[FaultInput]) -> None:
    """Add the rules to `server.faults`, in order; a rule's ``user=`` must name a user."""
    users = sorted(server.users)
    for fault in faults:
        if callable(fault.spec):
            before = len(server.faults.rules)
            _in(fault.option, fault.spec, server.faults)
            for rule in server.faults.rules[before:]:
                _in(fault.option, _check_user, rule.spec(), rule.user, users)
        elif isinstance(fault.spec, str):
            server.faults.add(_in(fault.option, fault_rule, fault.spec, fault.user, users))
        else:
            raise ConfigurationError(
                f"{fault.option}: {fault.spec!r} is neither a spec string like {_SPEC_EXAMPLE} "
                "nor a callable taking the FaultSet"
            )


def fault_rule(spec: str, user: str | None = None, users: Iterable[str] | None = None) -> Rule:
    """The rule `spec` says; `user`: the user whose own rule it is; `users`: the users its
    ``user=`` may name (None: any)."""
    from pop3mock.faults._parser import parse_spec

    rule = parse_spec(spec)
    if user is None:
        if users is not None:
            _check_user(spec, rule.user, users)
        return rule
    if rule.user is not None and rule.user != user:
        raise ConfigurationError(f"fault spec {spec!r}: user={rule.user} in the faults of {user!r}")
    return attrs.evolve(rule, user=user)


def _check_user(spec: str, user: str | None, users: Iterable[str]) -> None:
    problem = unknown_user(user, users)
    if problem:
        raise ConfigurationError(f"fault spec {spec!r}: {problem}")


def _in(option: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `function`; a ConfigurationError it raises starts with `option`."""
    try:
        return function(*args, **kwargs)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{option}: {exc}") from None
