"""Fault rules: when to misbehave, and how, compiled to I/O steps the server carries out.

    server.faults.on("RETR", 2).error("[SYS/TEMP] storage offline")
    server.faults.on("RETR").nth(3).disconnect(after_bytes=1000)
    server.faults.on("greeting").delay(2.0)

A rule is a frozen value; the `FaultSet` keeps how often each rule matched and fired.
The protocol core knows nothing of faults: the server asks the set before each reply.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable

import attrs

from .errors import ConfigurationError, UnfiredFaultError
from .steps import Close, Hang, Reset, Send, Sleep, Step

__all__ = ["FaultPlan", "FaultPoint", "FaultSet", "Rule", "RuleBuilder"]

KNOWN_TARGETS = frozenset(
    {
        "connect",
        "greeting",
        "*",
        "USER",
        "PASS",
        "APOP",
        "AUTH",
        "CAPA",
        "STLS",
        "UTF8",
        "LANG",
        "QUIT",
        "STAT",
        "LIST",
        "RETR",
        "DELE",
        "NOOP",
        "RSET",
        "TOP",
        "UIDL",
        "LAST",
    }
)
_CODE_RE = re.compile(r"^\[[!-.0-\\^-~]+(/[!-.0-\\^-~]+)*\]")


@attrs.frozen
class FaultPoint:
    """Where the server is: what it is about to answer, for whom, in which session."""

    target: str
    args: tuple[str, ...] = ()
    user: str | None = None
    session: int = 1
    state: str = "AUTHORIZATION"


@attrs.frozen
class FaultPlan:
    """What a fired rule does to one reply: replace it (skipping the session) and/or
    turn the reply's wire bytes into steps."""

    rule: str
    replace: bytes | None
    steps: Callable[[bytes], list[Step]]


@attrs.frozen
class Action:
    """What a rule does; `kind` names it in the journal."""

    kind: str
    replace: bytes | None = None
    delay: float = 0.0
    after_bytes: int | None = None
    end: str | None = None  # "close", "reset", "hang"
    hang_for: float | None = None

    def compile(self, wire: bytes) -> list[Step]:
        steps: list[Step] = []
        if self.delay:
            steps.append(Sleep(self.delay))
        if self.end is None:
            steps.append(Send(wire))
            return steps
        if self.after_bytes:
            steps.append(Send(wire[: self.after_bytes]))
        if self.end == "close":
            steps.append(Close())
        elif self.end == "reset":
            steps.append(Reset())
        else:
            steps.append(Hang(self.hang_for))
        return steps


@attrs.frozen
class Rule:
    """One fault: which replies it matches and what it does to them."""

    target: str
    args: tuple[str, ...] = ()
    user: str | None = None
    session: int | None = None
    state: str | None = None
    nth: int | None = None
    times: int | None = None
    action: Action = Action("none")

    def describe(self) -> str:
        where = " ".join([self.target, *self.args])
        extra = [
            f"{k}={v}"
            for k, v in (
                ("user", self.user),
                ("session", self.session),
                ("state", self.state),
                ("nth", self.nth),
                ("times", self.times),
            )
            if v is not None
        ]
        return f"{where}{' ' + ' '.join(extra) if extra else ''} -> {self.action.kind}"

    def matches(self, point: FaultPoint) -> bool:
        return (
            (
                (self.target == "*" and point.target not in ("connect", "greeting"))
                or self.target == point.target
            )
            and point.args[: len(self.args)] == self.args
            and (self.user is None or self.user == point.user)
            and (self.session is None or self.session == point.session)
            and (self.state is None or self.state == point.state)
        )


class RuleBuilder:
    """Chain `nth`, `once`, `times`, then one action, which adds the rule."""

    def __init__(self, owner: FaultSet, rule: Rule) -> None:
        self._owner = owner
        self._rule = rule

    def nth(self, n: int) -> RuleBuilder:
        if n < 1:
            raise ConfigurationError(f"nth({n}): occurrences count from 1")
        self._rule = attrs.evolve(self._rule, nth=n)
        return self

    def times(self, n: int) -> RuleBuilder:
        if n < 1:
            raise ConfigurationError(f"times({n}): a rule fires at least once")
        self._rule = attrs.evolve(self._rule, times=n)
        return self

    def once(self) -> RuleBuilder:
        return self.times(1)

    def always(self) -> RuleBuilder:
        self._rule = attrs.evolve(self._rule, times=None)
        return self

    def _add(self, action: Action) -> Rule:
        rule = attrs.evolve(self._rule, action=action)
        self._owner.add(rule)
        return rule

    def error(self, text: str = "[SYS/TEMP] Fault injected.") -> Rule:
        """Answer `-ERR text` instead (the session does not run the command)."""
        if "\r" in text or "\n" in text:
            raise ConfigurationError("an error text cannot contain a line end")
        return self._add(Action("error", replace=f"-ERR {text}".rstrip().encode() + b"\r\n"))

    def delay(self, seconds: float) -> Rule:
        """Answer normally after `seconds`."""
        if seconds < 0:
            raise ConfigurationError(f"delay({seconds}): seconds must be >= 0")
        return self._add(Action("delay", delay=seconds))

    def disconnect(self, after_bytes: int = 0) -> Rule:
        """Send the first `after_bytes` octets of the reply, then close the connection."""
        if after_bytes < 0:
            raise ConfigurationError("after_bytes must be >= 0")
        return self._add(Action("disconnect", after_bytes=after_bytes, end="close"))

    def reset(self, after_bytes: int = 0) -> Rule:
        """Send the first `after_bytes` octets of the reply, then reset (RST) the connection."""
        if after_bytes < 0:
            raise ConfigurationError("after_bytes must be >= 0")
        return self._add(Action("reset", after_bytes=after_bytes, end="reset"))

    def hang(self, seconds: float | None = None) -> Rule:
        """Never answer; close after `seconds` (None: when the server stops)."""
        return self._add(Action("hang", end="hang", hang_for=seconds))


class FaultSet:
    """The rules of one server and how often each fired."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._seen: dict[int, int] = {}
        self._fired: dict[int, int] = {}
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self._random = random.Random(self.seed)

    def on(
        self,
        target: str,
        *args: object,
        user: str | None = None,
        session: int | None = None,
        state: str | None = None,
    ) -> RuleBuilder:
        """Start a rule for a command (`"RETR"`), `"greeting"`, `"connect"` or `"*"`."""
        name = target if target in ("connect", "greeting", "*") else target.upper()
        if name not in KNOWN_TARGETS:
            raise ConfigurationError(
                f"unknown fault target {target!r}: a POP3 command, 'greeting', 'connect' or '*'"
            )
        if args and name in ("connect", "greeting"):
            raise ConfigurationError(f"{name!r} takes no arguments")
        if state is not None and state.upper() not in ("AUTHORIZATION", "TRANSACTION"):
            raise ConfigurationError(f"unknown state {state!r}: AUTHORIZATION or TRANSACTION")
        return RuleBuilder(
            self,
            Rule(
                name, tuple(str(a) for a in args), user, session, state.upper() if state else None
            ),
        )

    def add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def fired(self, rule: Rule) -> int:
        with self._lock:
            return sum(n for i, n in self._fired.items() if self._rules[i] is rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._seen.clear()
            self._fired.clear()

    def __bool__(self) -> bool:
        return bool(self._rules)

    def plan(self, point: FaultPoint) -> FaultPlan | None:
        """The plan of the first rule that fires at this point, if any."""
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(point):
                    continue
                seen = self._seen[index] = self._seen.get(index, 0) + 1
                fired = self._fired.get(index, 0)
                if rule.nth is not None and seen != rule.nth:
                    continue
                if rule.times is not None and fired >= rule.times:
                    continue
                self._fired[index] = fired + 1
                action = rule.action
                return FaultPlan(rule.describe(), action.replace, action.compile)
        return None

    def unfired(self) -> list[str]:
        """Rules with a count (once, times, nth) that did not fire as often as configured."""
        with self._lock:
            out = []
            for index, rule in enumerate(self._rules):
                want = rule.times if rule.times is not None else 1 if rule.nth else None
                got = self._fired.get(index, 0)
                if want is not None and got < want:
                    out.append(f"{rule.describe()}: fired {got} of {want} time(s)")
            return out

    def check(self) -> None:
        missing = self.unfired()
        if missing:
            raise UnfiredFaultError(
                "fault rules that did not fire:\n  "
                + "\n  ".join(missing)
                + f"\n(fault seed {self.seed})"
            )
