"""Fault rules: `Rule` (which points it matches, how often it fires, its action), and
`RuleBuilder`, the chain `on(...).nth(3).error(...)` that makes one. A rule's text form
(`str(rule)`) is rendered here too, since the action words and their parameters are read off
`RuleBuilder`'s methods.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

from pop3mock import checks
from pop3mock.errors import ConfigurationError
from pop3mock.faults._actions import (
    LEADING_CODE_RE,
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
    check_int,
    check_text,
)
from pop3mock.faults._corruptions import Corrupt
from pop3mock.faults._lexicon import ACTION_WORDS, TEXT_PARAMS, Signature, render_text, render_value
from pop3mock.faults._targets import (
    ARGUMENTS,
    STATES,
    FaultPoint,
    argument_matches,
    arguments,
    canonical_target,
    split_target,
)
from pop3mock.protocol._text import masked_arguments

__all__ = ["KEYWORDS", "SIGNATURES", "AddRule", "Rule", "RuleBuilder", "make_builder"]


@attrs.frozen(kw_only=True, repr=False)
class Rule:
    """One fault: which points it matches, how often it fires, and what it does.

    `nth` is the first matching occurrence that may fire; `times` how many times it fires
    (None: every time after that); `probability` the chance it fires when it may.

    `str(rule)` is the spec, credentials included, so that it parses back to the same rule;
    `describe()` and `repr()` show a PASS password, an APOP digest and an AUTH initial
    response as `***`, like the journal.
    """

    target: str
    action: Action
    args: tuple[str, ...] = ()
    user: str | None = None
    session: int | None = None
    state: str | None = None
    nth: int = 1
    times: int | None = None
    probability: float = 1.0

    def __attrs_post_init__(self) -> None:
        if canonical_target(self.target) != self.target:
            raise ConfigurationError(
                f"fault target {self.target!r}: write it as {canonical_target(self.target)!r}"
            )
        if not isinstance(self.action, Action):
            raise ConfigurationError(f"not a fault action: {self.action!r}")
        arguments(self.target, self.args)
        early = self.target in ("connect", "greeting")
        if self.user is not None:
            if not isinstance(self.user, str) or not self.user or " " in self.user:
                raise ConfigurationError(f"user={self.user!r}: a user name")
            if early:
                raise ConfigurationError(
                    f"{self.target!r} comes before any login, so user={self.user!r} never matches"
                )
        if self.session is not None:
            check_int("session", self.session, 1)
        if self.state is not None:
            if self.state not in STATES:
                raise ConfigurationError(f"state={self.state!r}: one of {', '.join(STATES)}")
            if early and self.state != "AUTHORIZATION":
                raise ConfigurationError(
                    f"{self.target!r} happens in AUTHORIZATION, so state={self.state} never matches"
                )
        check_int("nth", self.nth, 1)
        if self.times is not None:
            check_int("times", self.times, 1)
        p = self.probability
        if not checks.probability(p):
            raise ConfigurationError(f"probability {p!r}: a number from 0 to 1")
        if p == 0 and (self.times is not None or self.nth > 1):
            raise ConfigurationError(
                "probability 0 never fires, so a counted rule (once, times, nth) never fires "
                "as configured"
            )
        if early and self.session is not None and (self.nth > 1 or (self.times or 1) > 1):
            raise ConfigurationError(
                f"a session has one {self.target!r}, so nth={self.nth} times={self.times} "
                f"with session={self.session} never fires as configured"
            )
        for verb in self.targets:
            self.action.check(verb, self.args)

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets the rule names: `("RETR", "TOP")` for `RETR|TOP`, else one."""
        return split_target(self.target)

    @property
    def counted(self) -> bool:
        """Whether `FaultSet.check()` expects this rule to fire (once, times or nth)."""
        return self.times is not None or self.nth > 1

    def matches(self, point: FaultPoint) -> bool:
        if self.target == "*":
            if point.target in ("connect", "greeting"):
                return False
        elif self.target != point.target and (
            "|" not in self.target or point.target not in split_target(self.target)
        ):
            return False
        if len(point.args) < len(self.args):
            return False
        # The commands of RETR|TOP take the rule's arguments as the same kinds (checked when
        # the rule was made); "*" takes none, whatever verb the point has.
        kinds = ARGUMENTS[point.target if "|" in self.target else self.target]
        for kind, want, got in zip(kinds, self.args, point.args, strict=False):
            if not argument_matches(kind, want, got):
                return False
        return (
            (self.user is None or self.user == point.user)
            and (self.session is None or self.session == point.session)
            and (self.state is None or self.state == point.state)
        )

    def spec(self) -> str:
        """The rule in the text syntax; `parse_spec(rule.spec()) == rule`."""
        return _render(self)

    def describe(self) -> str:
        """The rule as the journal and `check()` show it: `RETR 2 -> error [SYS/TEMP] x`,
        credentials masked (`PASS *** once -> error [AUTH] nope`)."""
        return _render(self, " -> ", masked=True)

    def __str__(self) -> str:
        return self.spec()

    def __repr__(self) -> str:
        return f"<Rule {self.describe()}>"


#: What a `RuleBuilder` does with the rule it makes: its `FaultSet`'s `add`.
AddRule = Callable[[Rule], object]


class RuleBuilder:
    """Chain `nth`, `once`, `times`, `always`, `probability`, then one action, which makes the
    rule (and adds it to the `FaultSet` it came from)."""

    def __init__(
        self,
        add: AddRule | None,
        target: str,
        args: tuple[str, ...],
        user: str | None,
        session: int | None,
        state: str | None,
    ) -> None:
        self._add_rule = add
        self._match: dict[str, Any] = {
            "target": target,
            "args": args,
            "user": user,
            "session": session,
            "state": state,
        }
        self._nth = 1
        self._times: int | None = None
        self._counted = False
        self._probability = 1.0
        # The call that set each count, to name both when a second one contradicts it.
        self._calls: dict[str, str] = {}

    # -- when --------------------------------------------------------------------------------

    def nth(self, n: int) -> RuleBuilder:
        """Fire from the `n`-th matching occurrence (once, unless `times`/`always` says more).

        server.faults.on("RETR").nth(3).error()  # the third RETR of the server
        """
        check_int("nth", n, 1)
        self._count("start", f"nth({n})", "which match it fires first")
        self._nth = n
        if not self._counted:
            self._times = 1
        return self

    def times(self, n: int) -> RuleBuilder:
        """Fire `n` times.      server.faults.on("PASS").times(2).error("[IN-USE] locked")"""
        check_int("times", n, 1)
        return self._set_times(n, f"times({n})")

    def once(self) -> RuleBuilder:
        """Fire once.           server.faults.on("LIST").once().corrupt("size")"""
        return self._set_times(1, "once()")

    def always(self) -> RuleBuilder:
        """Fire every time (the default without nth).
        server.faults.on("RETR").nth(2).always().delay(1.0)"""
        return self._set_times(None, "always()")

    def probability(self, p: float) -> RuleBuilder:
        """Fire with chance `p` (seeded).   server.faults.on("RETR").probability(0.3).error()"""
        if not checks.probability(p):
            raise ConfigurationError(f"probability {p!r}: a number from 0 to 1")
        self._count("chance", f"probability({p!r})", "the chance it fires")
        self._probability = float(p)
        return self

    def _set_times(self, n: int | None, call: str) -> RuleBuilder:
        self._count("times", call, "how many times it fires")
        self._times = n
        self._counted = True
        return self

    def _count(self, kind: str, call: str, meaning: str) -> None:
        # A second call would silently override the first: `.once().times(3)` is a mistake
        # either way, so say so rather than pick one.
        first = self._calls.get(kind)
        if first is not None:
            raise ConfigurationError(f"{first} and {call} both say {meaning}: keep one of them")
        self._calls[kind] = call

    def _add(self, action: Action) -> Rule:
        rule = Rule(
            **self._match,
            nth=self._nth,
            times=self._times,
            probability=self._probability,
            action=action,
        )
        if self._add_rule is not None:
            self._add_rule(rule)
        return rule

    # -- what --------------------------------------------------------------------------------

    def error(
        self,
        text: str = "[SYS/TEMP] Fault injected.",
        *,
        code: str | None = None,
        then: str | None = None,
    ) -> Rule:
        """Answer `-ERR` (a leading `[CODE]` in `text` is the response code); the command is
        not run.     server.faults.on("RETR", 2).error("[SYS/TEMP] storage offline")"""
        check_text(text)
        found = LEADING_CODE_RE.match(text)
        if found:
            if code is not None:
                raise ConfigurationError(f"two response codes: code={code!r} and {text!r}")
            code, text = found.group(1), text[found.end() :]
        return self._add(Error(text, code, then))

    def ok(self, text: str = "", *, then: str | None = None) -> Rule:
        """Answer `+OK text` without running the command (a lie: DELE acknowledged, not
        applied).    server.faults.on("DELE").ok("message deleted")"""
        return self._add(Ok(text, then))

    def lie(self) -> Rule:
        """`ok()`: a bare `+OK`, the command not run.    server.faults.on("DELE").lie()"""
        return self.ok()

    def reply_raw(self, data: bytes, *, then: str | None = None) -> Rule:
        """Send exactly `data` instead of the reply; the command is not run.
        server.faults.on("STAT").reply_raw(b"+OK lots\\r\\n")"""
        return self._add(ReplyRaw(data, then))

    def delay(self, seconds: float, upto: float | None = None, *, then: str | None = None) -> Rule:
        """Answer after `seconds`, or after a seeded uniform draw in [seconds, upto].
        server.faults.on("RETR").delay(0.1, 0.3)"""
        return self._add(Delay(seconds, upto, then))

    def bandwidth(self, bytes_per_second: int, *, then: str | None = None) -> Rule:
        """Send the reply at `bytes_per_second`.  server.faults.on("RETR").bandwidth(10_000)"""
        return self._add(Bandwidth(bytes_per_second, then))

    def dribble(self, chunk: int = 1, interval: float = 0.0, *, then: str | None = None) -> Rule:
        """Send the reply in `chunk`-octet writes `interval` seconds apart.
        server.faults.on("LIST").dribble(3, 0.01)"""
        return self._add(Dribble(chunk, interval, then))

    def disconnect(
        self,
        *,
        after_bytes: int | None = None,
        after_lines: int | None = None,
        after_reply: bool = False,
    ) -> Rule:
        """Close the connection before the reply (the command is not run), or after its first
        bytes/lines, or after all of it.  server.faults.on("RETR").disconnect(after_bytes=1000)"""
        return self._add(Disconnect(after_bytes or None, after_lines or None, after_reply))

    def reset(
        self,
        *,
        after_bytes: int | None = None,
        after_lines: int | None = None,
        after_reply: bool = False,
    ) -> Rule:
        """Abort the connection with a TCP RST, at the same points as `disconnect`.
        server.faults.on("connect").reset()"""
        return self._add(Reset(after_bytes or None, after_lines or None, after_reply))

    def hang(
        self,
        close_after: float | None = None,
        *,
        after_bytes: int | None = None,
        after_lines: int | None = None,
        after_reply: bool = False,
    ) -> Rule:
        """Never answer (or stop after part of the reply); close after `close_after` seconds,
        or when the server stops.   server.faults.on("RETR").hang()"""
        return self._add(
            Hang(after_bytes or None, after_lines or None, after_reply, close_after=close_after)
        )

    def corrupt(
        self,
        kind: str,
        *,
        delta: int | None = None,
        length: int | None = None,
        data: bytes | None = None,
        then: str | None = None,
    ) -> Rule:
        """Send the reply corrupted (`CORRUPTIONS` lists the kinds).
        server.faults.on("LIST").once().corrupt("size", delta=-2)"""
        return self._add(Corrupt(kind, delta, length, data, then))


def make_builder(
    add: AddRule | None,
    target: str | tuple[str, ...] | list[str],
    args: tuple[object, ...],
    user: str | None,
    session: int | None,
    state: str | None,
) -> RuleBuilder:
    name = canonical_target(target)
    if isinstance(state, str):
        state = state.upper()
    return RuleBuilder(add, name, arguments(name, args), user, session, state)


def _signature(word: str) -> Signature:
    method = getattr(RuleBuilder, word)
    params = list(inspect.signature(method).parameters.values())[1:]
    hints = typing.get_type_hints(method)
    return Signature(
        tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD),
        sum(1 for p in params if p.default is p.empty),
        {p.name: hints[p.name] for p in params},
        TEXT_PARAMS.get(word),
    )


SIGNATURES = types.MappingProxyType({word: _signature(word) for word in ACTION_WORDS})
#: Every KEY of the spec's `KEY=VALUE` action options.
KEYWORDS = frozenset(name for signature in SIGNATURES.values() for name in signature.hints)


def _render(rule: Rule, separator: str = ": ", *, masked: bool = False) -> str:
    matched = [render_value(a) for a in rule.args]
    if masked:
        matched = list(masked_arguments(rule.targets, matched))
    parts = [rule.target, *matched]
    if rule.nth != 1:
        parts.append(f"#{rule.nth}")
        if rule.times is None:
            parts.append("always")
        elif rule.times != 1:
            parts.append(f"times={rule.times}")
    elif rule.times == 1:
        parts.append("once")
    elif rule.times is not None:
        parts.append(f"times={rule.times}")
    for key in ("user", "session", "state"):
        value = getattr(rule, key)
        if value is not None:
            parts.append(f"{key}={render_value(value)}")
    if rule.probability != 1:
        parts.append(f"p={float(rule.probability)!r}")
    word, args, keywords = rule.action.builder_call()
    signature = SIGNATURES[word]
    action = [word]
    text = None
    for name, value in zip(signature.positional, args, strict=False):
        if name == signature.text:
            text = render_text(value, signature, KEYWORDS)
        else:
            action.append(render_value(value))
    action += [f"{key}={render_value(value)}" for key, value in keywords.items()]
    if text is not None:
        action.append(text)
    return f"{' '.join(parts)}{separator}{' '.join(action)}"
