"""Checks of configuration values that several layers share.

Each kind of value (a whole number, a finite number, a probability, a duration) is
checked by one function here, so that `POP3Server`, the marker, the TOML file and the
command line accept and refuse the same values. The functions answer yes or no; each layer
words the error its own way (a keyword, a TOML key, a flag) with the `*_RULE` texts.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeGuard

from pop3mock.errors import ConfigurationError

__all__ = [
    "DURATION_RULE",
    "MAX_DURATION",
    "MAX_LAZY_MESSAGES",
    "MIN_DURATION",
    "duration",
    "expected",
    "finite_number",
    "probability",
    "read_toml",
    "suggestion",
    "unknown_user",
    "whole_number",
    "whole_number_rule",
    "whole_number_text",
    "whole_number_type",
]

#: The shortest timeout or deadline: the kernel counts socket timeouts in microseconds and
#: reads one below a microsecond as "never", so a value far below a millisecond is a mistake.
MIN_DURATION = 0.001
#: The longest one, 365 days: far above any test, and far below what the socket layer
#: refuses (Python's settimeout() raises OverflowError from about 9.2e9 s, which made every
#: TLS connection fail, and threading waits stop at threading.TIMEOUT_MAX, 9.2e9 s too).
MAX_DURATION = 365 * 24 * 3600.0
#: How the duration range reads in error messages and the docs.
DURATION_RULE = f"a number of seconds from {MIN_DURATION:g} to {MAX_DURATION:.0f} (365 days)"
#: The most generated messages one lazy maildrop holds: their sizes and uids are computed
#: up front (about 120 bytes and 20 µs each), so 10**8 would take gigabytes and half an hour.
MAX_LAZY_MESSAGES = 1_000_000


def whole_number(
    value: object, minimum: int | None = 0, maximum: int | None = None
) -> TypeGuard[int]:
    """Whether `value` is an int from `minimum` to `maximum` (None: no bound). A bool is an
    int to Python, but `True` given for a count or a size is a mistake, not 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def whole_number_rule(minimum: int | None = 0, maximum: int | None = None) -> str:
    """How the range `whole_number` checks reads in error messages: "an integer from 0 to
    65535", "an integer >= 1", "an integer"."""
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def whole_number_text(text: str, minimum: int | None = 0, maximum: int | None = None) -> int | None:
    """The integer `text` spells (a flag's or an ini option's value) when `whole_number`
    accepts it with these bounds, else None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if whole_number(value, minimum, maximum) else None


def whole_number_type(minimum: int | None = 0, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` for an integer flag in this range (the command line's and
    pytest's): the error reads ``argument --port: expected an integer from 0 to 65535, got
    70000``."""

    def convert(text: str) -> int:
        import argparse

        value = whole_number_text(text, minimum, maximum)
        if value is None:
            raise argparse.ArgumentTypeError(expected(whole_number_rule(minimum, maximum), text))
        return value

    return convert


def expected(rule: str, value: object) -> str:
    """The one wording of a refused value: ``expected RULE, got VALUE``. A text that spells
    an integer is shown as that integer, so that a flag, an ini option and a TOML key with the
    same value read alike."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = int(value)
    return f"expected {rule}, got {value!r}"


def finite_number(value: object) -> TypeGuard[float]:
    """Whether `value` is an int or float other than a bool, inf or nan: every comparison
    with nan is false, so a range check alone lets it through."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def probability(value: object) -> TypeGuard[float]:
    """Whether `value` is a finite number from 0 to 1."""
    return finite_number(value) and 0 <= value <= 1


def duration(value: object, *, zero: bool = False) -> TypeGuard[float]:
    """Whether `value` is a number of seconds from MIN_DURATION to MAX_DURATION (or 0 when
    `zero` allows it: a fault's delay of 0 is no delay)."""
    if not finite_number(value):
        return False
    if zero and value == 0:
        return True
    return MIN_DURATION <= value <= MAX_DURATION


def suggestion(
    name: str,
    known: Iterable[str],
    aliases: Mapping[str, str] | None = None,
    *,
    prefix: str = "",
) -> str:
    """`` (did you mean 'x'?)`` for the documented name closest to `name`, or ``""``.

    `aliases` maps likely slips that are not close in spelling to the documented name;
    `prefix` (a flag's "--") is left out of the comparison and put back in the answer.
    """
    names = sorted({n[len(prefix) :] for n in known if n.startswith(prefix)})
    name = name[len(prefix) :] if name.startswith(prefix) else name
    found = _closest(name, names, aliases or {})
    return f" (did you mean {prefix + found!r}?)" if found else ""


def _closest(name: str, names: list[str], aliases: Mapping[str, str]) -> str | None:
    if name in aliases:
        return aliases[name]
    # A singular for a plural (or the reverse) is the likeliest slip, whatever difflib says.
    for other in (f"{name}s", name[:-1] if name.endswith("s") else ""):
        if other in names:
            return other
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[n] for n in difflib.get_close_matches(name.lower(), lowered, n=1)]
    return close[0] if close else None


def unknown_user(user: str | None, users: Iterable[str]) -> str | None:
    """What is wrong with a fault rule's ``user=`` filter on a server with `users`, or
    None: a typo would leave the rule waiting for a login that never comes."""
    names = sorted(users)
    if user is None or user in names:
        return None
    close = difflib.get_close_matches(user, names, n=1)
    hint = f"; did you mean user={close[0]}?" if close else ""
    return f"user={user} is not a user of this server (users: {', '.join(names)}){hint}"


def read_toml(path: str, what: str) -> dict[str, Any]:
    """The parsed TOML file at `path`, or a one-line ConfigurationError naming the file and
    what went wrong (`what`: "config file", "personality file" in the message)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        # TOML is UTF-8 by definition; tomllib decodes the whole file, so `start` is the
        # offset in the file.
        raise ConfigurationError(
            f"{path}: not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigurationError(
            f"{path}: invalid TOML: arrays or tables nested too deeply for the parser"
        ) from None
    return data
