"""What a fault rule can match: the targets (each POP3 command, several commands at once as
`RETR|TOP`, the greeting, the connection, `*`), the arguments each takes and how they
compare, the session states, which replies are multi-line, and `FaultPoint`, where the
server is when it asks for a plan.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

import attrs

from pop3mock.errors import ConfigurationError

__all__ = [
    "ARGUMENTS",
    "KNOWN_TARGETS",
    "STATES",
    "FaultPoint",
    "argument_matches",
    "arguments",
    "can_be_multiline",
    "canonical_target",
    "split_target",
]

# The arguments of each command by position: "n" a message number (1, 2...), "k" a line count
# (0, 1...), "w" one word, "rest" the rest of the line (a password may hold spaces), "mech" a
# SASL mechanism (compared case-insensitively). A rule may give a prefix of them.
ARGUMENTS: Mapping[str, tuple[str, ...]] = types.MappingProxyType(
    {
        "connect": (),
        "greeting": (),
        "*": (),
        "USER": ("w",),
        "PASS": ("rest",),
        "APOP": ("w", "w"),
        "AUTH": ("mech", "w"),
        "CAPA": (),
        "STLS": (),
        "UTF8": (),
        "LANG": ("w",),
        "QUIT": (),
        "STAT": (),
        "LIST": ("n",),
        "RETR": ("n",),
        "DELE": ("n",),
        "NOOP": (),
        "RSET": (),
        "TOP": ("n", "k"),
        "UIDL": ("n",),
        "LAST": (),
    }
)
KNOWN_TARGETS = frozenset(ARGUMENTS)
_COMMANDS = tuple(sorted(t for t in ARGUMENTS if t.isupper()))
STATES = ("AUTHORIZATION", "TRANSACTION")
# +OK replies that are multi-line: always, or when the command has no argument.
_MULTILINE_ALWAYS = frozenset({"RETR", "TOP", "CAPA"})
_MULTILINE_BARE = frozenset({"LIST", "UIDL", "AUTH", "LANG"})
_KIND_NAMES = types.MappingProxyType(
    {
        "n": "a message number",
        "k": "a line count",
        "w": "one word",
        "rest": "the rest of the line",
        "mech": "a SASL mechanism",
    }
)
_ORDINALS = ("first", "second", "third")


def _number(text: str) -> int | None:
    # As the protocol core parses numbers: ASCII digits, leading zeros allowed.
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    return int(text)


@attrs.frozen
class FaultPoint:
    """Where the server is: what it is about to answer, for whom, in which session."""

    target: str
    args: tuple[str, ...] = ()
    user: str | None = None
    session: int = 1
    state: str = "AUTHORIZATION"


def canonical_target(name: object) -> str:
    """The target as a rule keeps it: `"RETR"`, `"greeting"`, `"*"`, or several commands
    joined by `|` (`"RETR|TOP"`, from `"retr|top"` or `("RETR", "TOP")`), in the order given."""
    if isinstance(name, (tuple, list)) and name and all(isinstance(n, str) for n in name):
        return canonical_target("|".join(name))
    if isinstance(name, str) and "|" in name:
        parts = [part.strip() for part in name.split("|")]
        if not all(parts):
            raise ConfigurationError(f"fault target {name!r}: a command on each side of '|'")
        verbs = [_one_target(part) for part in parts]
        for verb in verbs:
            if not verb.isupper():
                raise ConfigurationError(
                    f"fault target {name!r}: {verb!r} is not a command, so it cannot be named "
                    "with others; several targets joined by '|' are POP3 commands"
                )
        twice = sorted({verb for verb in verbs if verbs.count(verb) > 1})
        if twice:
            raise ConfigurationError(f"fault target {name!r}: {', '.join(twice)} named twice")
        return "|".join(verbs)
    return _one_target(name)


def _one_target(name: object) -> str:
    if isinstance(name, str):
        if name.lower() in ("connect", "greeting"):
            return name.lower()
        if name.upper() in ARGUMENTS:
            return name.upper()
    raise ConfigurationError(
        f"unknown fault target {name!r}: a POP3 command ({' '.join(_COMMANDS)}), "
        "several joined by '|' (RETR|TOP), 'greeting', 'connect' or '*'"
    )


def split_target(target: str) -> tuple[str, ...]:
    """The commands a canonical target names: `("RETR", "TOP")` for `"RETR|TOP"`."""
    return tuple(target.split("|"))


def arguments(target: str, args: tuple[object, ...]) -> tuple[str, ...]:
    """The rule's arguments in canonical form; arguments no client can send are rejected.

    A rule naming several commands matches each with the same arguments, so every one of
    them must take them, each as the same kind (RETR|TOP 3: a message number for both).
    """
    verbs = split_target(target)
    if len(verbs) == 1:
        return _arguments(target, args)
    for verb in verbs:
        try:
            _arguments(verb, args)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"{exc} (a rule on {target} matches each of its commands with the same "
                "arguments; write one rule per command instead)"
            ) from None
    for position in range(len(args)):
        kinds = {verb: ARGUMENTS[verb][position] for verb in verbs}
        if len(set(kinds.values())) > 1:
            which = _ORDINALS[position] if position < len(_ORDINALS) else f"#{position + 1}"
            said = ", ".join(f"{_KIND_NAMES[kind]} for {verb}" for verb, kind in kinds.items())
            raise ConfigurationError(
                f"{target} {' '.join(str(a) for a in args)}: the {which} argument is {said}, "
                "so one rule cannot match them all; write one rule per command instead"
            )
    return _arguments(verbs[0], args)


def _arguments(target: str, args: tuple[object, ...]) -> tuple[str, ...]:
    kinds = ARGUMENTS[target]
    if len(args) > len(kinds):
        if not kinds:
            raise ConfigurationError(f"{target!r} takes no arguments, so {args!r} never matches")
        raise ConfigurationError(
            f"{target} takes at most {len(kinds)} argument(s), so {args!r} never matches"
        )
    return tuple(_argument(target, kind, arg) for kind, arg in zip(kinds, args, strict=False))


def _argument(target: str, kind: str, arg: object) -> str:
    if isinstance(arg, bool) or not isinstance(arg, (str, int)):
        raise ConfigurationError(f"{target} argument {arg!r}: give a str or an int")
    text = str(arg)
    if kind in ("n", "k"):
        number = _number(text)
        low = 1 if kind == "n" else 0
        if number is None or number < low:
            what = "a message number (1, 2, ...)" if kind == "n" else "a line count (0, 1, ...)"
            raise ConfigurationError(
                f"{target} {text}: the argument must be {what}, so this rule never matches"
            )
        return str(number)
    spaced = any(c.isspace() for c in text) if kind != "rest" else "\r" in text or "\n" in text
    if not text or spaced:
        raise ConfigurationError(
            f"{target} argument {text!r}: a client never sends that as one argument"
        )
    return text.upper() if kind == "mech" else text


def argument_matches(kind: str, want: str, got: str) -> bool:
    if kind in ("n", "k"):
        number = _number(got)
        return number is not None and str(number) == want
    if kind == "mech":
        return got.upper() == want
    return got == want


def can_be_multiline(target: str, args: tuple[str, ...]) -> bool:
    """Whether the commands the rule matches can get a multi-line reply."""
    return target == "*" or target in _MULTILINE_ALWAYS or (target in _MULTILINE_BARE and not args)
