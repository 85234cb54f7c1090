"""Fault rules: when to misbehave and how, compiled to the I/O steps the server carries out.

    server.faults.on("RETR", 2).error("[SYS/TEMP] storage offline")
    server.faults.on("RETR").nth(3).disconnect(after_bytes=1000)
    server.faults.on("greeting").delay(2.0)
    server.faults.add_spec("LIST once: corrupt size")

A `Rule` is a frozen value: what it matches (a `FaultPoint`: the command, its arguments,
the user, the session number, the state; the greeting and the connection itself are points
too), how often it fires, and an `Action`. The server asks `FaultSet.plan(point)` before each
reply. A plan may replace the reply (the protocol core then never sees the command) and turns
the reply's wire bytes into `steps`; everything random is drawn when the rule fires, so
compiling is a pure function. Every rule has a text form (`str(rule)`, `parse_spec`) that maps
one to one onto the Python calls.

This module holds `FaultSet` (the rules of one server, how often each matched and fired, the
seeded draws) and `FaultPlan`, and is where every fault name is imported from. The rest lives
in modules that each hold one part: `fault_targets` (what a rule can match, `FaultPoint`),
`fault_actions` (the actions), `corruptions` (`Corrupt` and `CORRUPTIONS`), `fault_rules`
(`Rule`, `RuleBuilder`), `fault_syntax` (quoting, tokens, values) and `fault_spec`
(`parse_spec`).
"""

from __future__ import annotations

import functools
import os
import random
import threading
from collections.abc import Callable

import attrs

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError, UnfiredFaultError
from pop3mock.faults._actions import (
    Action,
    Bandwidth,
    Delay,
    Disconnect,
    Dribble,
    Error,
    Hang,
    Ok,
    ReplyRaw,
    Reset,
)
from pop3mock.faults._corruptions import CORRUPTIONS, Corrupt
from pop3mock.faults._parser import parse, parse_spec
from pop3mock.faults._rules import Rule, RuleBuilder, make_builder
from pop3mock.faults._targets import KNOWN_TARGETS, FaultPoint
from pop3mock.protocol._steps import Step

__all__ = [
    "CORRUPTIONS",
    "KNOWN_TARGETS",
    "Action",
    "Bandwidth",
    "Corrupt",
    "Delay",
    "Disconnect",
    "Dribble",
    "Error",
    "FaultPlan",
    "FaultPoint",
    "FaultSet",
    "Hang",
    "Ok",
    "ReplyRaw",
    "Reset",
    "Rule",
    "RuleBuilder",
    "Shortfall",
    "parse_spec",
]


@attrs.frozen
class FaultPlan:
    """What a fired rule does to one reply: replace it (skipping the session) and/or turn the
    reply's wire bytes into steps (pure: calling it twice gives the same steps)."""

    rule: str
    replace: bytes | None
    steps: Callable[[bytes], list[Step]]


@attrs.frozen
class Shortfall:
    """A counted rule (once, times, nth) that did not fire as often as configured."""

    rule: Rule
    #: The rule as the journal shows it, credentials masked.
    name: str
    fired: int
    wanted: int
    matched: int


def _new_seed(seed: int | None) -> int:
    if seed is None:
        # Four bytes from the OS: what SystemRandom().randrange(2**32) draws, without
        # making a generator (and seeding it from the OS too) for every server.
        return int.from_bytes(os.urandom(4), "big")
    if not whole_number(seed, None):
        raise ConfigurationError(f"fault seed {seed!r}: an integer")
    return seed


class FaultSet:
    """The rules of one server, how often each matched and fired, and the seeded random
    source for probabilities, delay ranges and garbage (one stream per session, so the
    pattern of a session does not depend on other sessions running beside it).

    A session's stream is made from the seed and the session number, and dropped when the
    server says the session ended (`end_session`): a server that runs for days holds streams
    for its open sessions only, and a seed still replays every session.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._names: list[str] = []
        self._seen: list[int] = []
        self._fired: list[int] = []
        self._seed = _new_seed(seed)
        self._streams: dict[int, random.Random] = {}

    @property
    def seed(self) -> int:
        """The seed of every random draw (printed in every fault failure message)."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        with self._lock:
            self._seed = _new_seed(value)
            self._streams.clear()

    def on(
        self,
        target: str | tuple[str, ...] | list[str],
        *args: object,
        user: str | None = None,
        session: int | None = None,
        state: str | None = None,
    ) -> RuleBuilder:
        """Start a rule for a command (`"RETR"`), several commands (`("RETR", "TOP")` or
        `"RETR|TOP"`: each with the same arguments), `"greeting"`, `"connect"` or `"*"`
        (every command), optionally only with these leading arguments, user, session or
        state."""
        return make_builder(self.add, target, args, user, session, state)

    def add(self, rule: Rule) -> Rule:
        """Add a rule made elsewhere (e.g. by `parse_spec`)."""
        if not isinstance(rule, Rule):
            raise ConfigurationError(f"not a fault Rule: {rule!r}")
        name = rule.describe()
        with self._lock:
            self._rules.append(rule)
            self._names.append(name)
            self._seen.append(0)
            self._fired.append(0)
        return rule

    def add_spec(self, spec: str) -> Rule:
        """Add a rule written in the text syntax: `"RETR 2: error [SYS/TEMP] offline"`."""
        return parse(spec, self.add)

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def fired(self, rule: Rule) -> int:
        """How many times `rule` (this very object) fired."""
        with self._lock:
            return sum(n for r, n in zip(self._rules, self._fired, strict=True) if r is rule)

    def matched(self, rule: Rule) -> int:
        """How many points `rule` (this very object) matched, fired or not."""
        with self._lock:
            return sum(n for r, n in zip(self._rules, self._seen, strict=True) if r is rule)

    def remove(self, rule: Rule) -> bool:
        """Drop `rule` (this very object) and its counts; False if it is not here."""
        with self._lock:
            for index, held in enumerate(self._rules):
                if held is rule:
                    for column in (self._rules, self._names, self._seen, self._fired):
                        del column[index]
                    return True
            return False

    def counts(self) -> list[tuple[Rule, int, int]]:
        """Every rule with how many points it matched and how often it fired, at one moment."""
        with self._lock:
            return list(zip(self._rules, self._seen, self._fired, strict=True))

    def restore(self, rules: list[Rule]) -> None:
        """Hold exactly `rules`, every count at zero (the seed stays; its streams restart)."""
        names = [rule.describe() for rule in rules]
        with self._lock:
            self._rules[:] = rules
            self._names[:] = names
            self._seen[:] = [0] * len(rules)
            self._fired[:] = [0] * len(rules)
            self._streams.clear()

    def clear(self) -> None:
        """Drop every rule and count (the seed stays; its streams restart)."""
        with self._lock:
            self._rules.clear()
            self._names.clear()
            self._seen.clear()
            self._fired.clear()
            self._streams.clear()

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        return f"<FaultSet seed={self._seed} rules={len(self._rules)}>"

    def _stream(self, session: int) -> random.Random:
        stream = self._streams.get(session)
        if stream is None:
            stream = self._streams[session] = random.Random(f"{self._seed}/{session}")
        return stream

    def end_session(self, session: int) -> None:
        """Forget the random stream of a session that ended (a number is never reused)."""
        with self._lock:
            self._streams.pop(session, None)

    def plan(self, point: FaultPoint) -> FaultPlan | None:
        """The plan of the first rule (in the order added) that fires at this point.

        Every matching rule counts the occurrence, fired or not, so `nth` means the n-th
        matching command whatever other rules do.
        """
        chosen: tuple[int, float] | None = None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(point):
                    continue
                self._seen[index] += 1
                if chosen is not None or self._seen[index] < rule.nth:
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                p = rule.probability
                if p < 1 and (p == 0 or self._stream(point.session).random() >= p):
                    continue
                self._fired[index] += 1
                chosen = index, self._stream(point.session).random()
            if chosen is None:
                return None
            index, draw = chosen
            rule, spec = self._rules[index], self._names[index]
        action = rule.action
        return FaultPlan(
            spec,
            action.replacement(),
            functools.partial(action.compile, session=point.session, draw=draw),
        )

    def shortfalls(self) -> list[Shortfall]:
        """Counted rules (once, times, nth) that did not fire as often as configured, with
        their counts."""
        with self._lock:
            out = []
            rows = zip(self._rules, self._names, self._seen, self._fired, strict=True)
            for rule, name, seen, fired in rows:
                want = rule.times if rule.times is not None else 1
                if rule.counted and fired < want:
                    out.append(Shortfall(rule, name, fired, want, seen))
            return out

    def unfired(self) -> list[str]:
        """Counted rules (once, times, nth) that did not fire as often as configured."""
        return [
            f"{s.name}  (fired {s.fired} of {s.wanted}, matched {s.matched})"
            for s in self.shortfalls()
        ]

    def check(self) -> None:
        """Raise `UnfiredFaultError` naming the counted rules that did not fire."""
        missing = self.unfired()
        if missing:
            raise UnfiredFaultError(
                f"fault rules that did not fire as configured (fault seed {self._seed}):\n  "
                + "\n  ".join(missing)
            )
