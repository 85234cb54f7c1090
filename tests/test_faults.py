"""Fault rules without sockets: matching, counting, seeded draws, rejection, compiled steps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pop3mock import ConfigurationError, UnfiredFaultError
from pop3mock.faults._faultset import (
    Corrupt,
    Delay,
    Disconnect,
    Error,
    FaultPlan,
    FaultPoint,
    FaultSet,
    Rule,
    RuleBuilder,
)
from pop3mock.protocol._steps import Close, Hang, Paced, Reset, Send, Sleep, sent_bytes

LISTING = b"+OK 3 messages\r\n1 120\r\n2 300\r\n3 45\r\n.\r\n"
UIDS = b"+OK\r\n1 aaa\r\n2 bbb\r\n3 ccc\r\n.\r\n"
DOTTY = b"+OK 30 octets\r\nSubject: x\r\n\r\n..leading\r\n..\r\nend\r\n.\r\n"
GREETING = b"+OK pop3mock ready. <123.1.1700000000@pop3mock.localhost>\r\n"


def retr(n: int = 1, *, user: str = "alice", session: int = 1) -> FaultPoint:
    return FaultPoint("RETR", (str(n),), user, session, "TRANSACTION")


def fire(faults: FaultSet, point: FaultPoint) -> FaultPlan:
    plan = faults.plan(point)
    assert plan is not None, f"no rule fired at {point}"
    return plan


# -- matching --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "point", "expected"),
    [
        (lambda f: f.on("RETR"), retr(7), True),
        (lambda f: f.on("retr"), retr(7), True),
        (lambda f: f.on("RETR"), FaultPoint("DELE", ("7",)), False),
        (lambda f: f.on("RETR", 2), retr(2), True),
        (lambda f: f.on("RETR", 2), FaultPoint("RETR", ("002",)), True),
        (lambda f: f.on("RETR", "2"), retr(3), False),
        (lambda f: f.on("RETR", 2), FaultPoint("RETR", ()), False),
        (lambda f: f.on("RETR", 2), FaultPoint("RETR", ("two",)), False),
        (lambda f: f.on("TOP", 1), FaultPoint("TOP", ("1", "5")), True),
        (lambda f: f.on("TOP", 1, 5), FaultPoint("TOP", ("1", "6")), False),
        (lambda f: f.on("AUTH", "plain"), FaultPoint("AUTH", ("PLAIN", "AGJvYgBwdw==")), True),
        (lambda f: f.on("PASS", "s3cret word"), FaultPoint("PASS", ("s3cret word",)), True),
        (lambda f: f.on("RETR", user="bob"), retr(user="bob"), True),
        (lambda f: f.on("RETR", user="bob"), retr(user="alice"), False),
        (lambda f: f.on("RETR", session=2), retr(session=2), True),
        (lambda f: f.on("RETR", session=2), retr(session=1), False),
        (lambda f: f.on("RETR", state="transaction"), retr(), True),
        (lambda f: f.on("RETR", state="AUTHORIZATION"), retr(), False),
        (lambda f: f.on("*"), FaultPoint("NOOP"), True),
        (lambda f: f.on("*"), FaultPoint("greeting"), False),
        (lambda f: f.on("*"), FaultPoint("connect"), False),
        (lambda f: f.on("Greeting"), FaultPoint("greeting"), True),
        (lambda f: f.on("connect"), FaultPoint("greeting"), False),
    ],
)
def test_matching(
    make: Callable[[FaultSet], RuleBuilder], point: FaultPoint, expected: bool
) -> None:
    """A rule matches on target, leading arguments (numbers by value), user, session, state."""
    rule = make(FaultSet(seed=1)).delay(1)
    assert rule.matches(point) == expected


def firing_pattern(faults: FaultSet, points: int, session: int = 1) -> list[bool]:
    return [faults.plan(retr(session=session)) is not None for _ in range(points)]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda b: b, [True] * 6),
        (lambda b: b.once(), [True, False, False, False, False, False]),
        (lambda b: b.times(2), [True, True, False, False, False, False]),
        (lambda b: b.nth(3), [False, False, True, False, False, False]),
        (lambda b: b.nth(3).times(2), [False, False, True, True, False, False]),
        (lambda b: b.times(2).nth(3), [False, False, True, True, False, False]),
        (lambda b: b.nth(3).always(), [False, False, True, True, True, True]),
        (lambda b: b.always().nth(3), [False, False, True, True, True, True]),
    ],
)
def test_counting(make: Callable[[RuleBuilder], RuleBuilder], expected: list[bool]) -> None:
    """nth is the first occurrence that may fire; once/times/always say how often."""
    faults = FaultSet(seed=1)
    make(faults.on("RETR")).error()
    assert firing_pattern(faults, 6) == expected


def test_every_matching_rule_counts_the_occurrence_the_first_one_fires() -> None:
    """A rule's nth counts matching commands even when an earlier rule fired instead."""
    faults = FaultSet(seed=1)
    first = faults.on("RETR").once().error("first")
    third = faults.on("RETR").nth(3).error("third")
    plans = [faults.plan(retr()) for _ in range(4)]
    assert [p.replace if p else None for p in plans] == [
        b"-ERR first\r\n",
        None,
        b"-ERR third\r\n",
        None,
    ]
    assert (faults.fired(first), faults.fired(third)) == (1, 1)
    assert (faults.matched(first), faults.matched(third)) == (4, 4)


def test_probability_pattern_is_fixed_by_the_seed() -> None:
    """The same seed gives the same pattern; another seed another one; p=0.5 hits and misses."""
    patterns = []
    for seed in (7, 7, 8):
        faults = FaultSet(seed=seed)
        faults.on("RETR").probability(0.5).error()
        patterns.append(firing_pattern(faults, 40))
    assert patterns[0] == patterns[1]
    assert patterns[0] != patterns[2]
    assert True in patterns[0] and False in patterns[0]


def test_each_session_has_its_own_stream() -> None:
    """Session 2 sees the same pattern whether or not session 1 drew numbers before it."""
    alone = FaultSet(seed=3)
    alone.on("RETR").probability(0.5).error()
    busy = FaultSet(seed=3)
    busy.on("RETR").probability(0.5).error()
    firing_pattern(busy, 25, session=1)
    assert firing_pattern(alone, 25, session=2) == firing_pattern(busy, 25, session=2)


def test_probability_zero_never_fires_one_always() -> None:
    """p=0 disables a rule (for parametrised tests); p=1 is the default."""
    faults = FaultSet(seed=1)
    faults.on("RETR").probability(0).error()
    assert firing_pattern(faults, 5) == [False] * 5
    faults.clear()
    faults.on("RETR").probability(1).error()
    assert firing_pattern(faults, 5) == [True] * 5


def test_seed_property_and_repr() -> None:
    """Without a seed one is picked and shown; setting it restarts the streams."""
    faults = FaultSet()
    assert isinstance(faults.seed, int)
    assert f"seed={faults.seed}" in repr(faults)
    faults.on("RETR").probability(0.5).error()
    faults.seed = 11
    first = firing_pattern(faults, 20)
    faults.seed = 11
    assert first == firing_pattern(faults, 20)


# -- rejection when added --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: f.on("XTND").error(), "unknown fault target 'XTND'"),
        (lambda f: f.on("RETR", "abc").error(), "RETR abc: the argument must be a message number"),
        (lambda f: f.on("RETR", 0).error(), "RETR 0: the argument must be a message number"),
        (lambda f: f.on("RETR", -1).error(), "RETR -1"),
        (lambda f: f.on("TOP", 1, "x").error(), "TOP x: the argument must be a line count"),
        (lambda f: f.on("RETR", 1, 2).error(), "RETR takes at most 1 argument"),
        (lambda f: f.on("STAT", 1).error(), "'STAT' takes no arguments"),
        (lambda f: f.on("greeting", 1).error(), "'greeting' takes no arguments"),
        (lambda f: f.on("USER", "two words").error(), "a client never sends that"),
        (lambda f: f.on("RETR", True).error(), "give a str or an int"),
        (lambda f: f.on("RETR").nth(0).error(), "nth=0"),
        (lambda f: f.on("RETR").times(0).error(), "times=0"),
        (lambda f: f.on("RETR").probability(1.5).error(), "probability 1.5"),
        (lambda f: f.on("RETR").probability(-0.1).error(), "probability -0.1"),
        (lambda f: f.on("RETR").probability(0).once().error(), "probability 0 never fires"),
        (lambda f: f.on("RETR", state="UPDATE").error(), "state='UPDATE'"),
        (lambda f: f.on("RETR", session=0).error(), "session=0"),
        (lambda f: f.on("greeting", user="bob").delay(1), "comes before any login"),
        (lambda f: f.on("connect", state="TRANSACTION").reset(), "never matches"),
        (lambda f: f.on("greeting", session=2).nth(2).delay(1), "a session has one 'greeting'"),
        (lambda f: f.on("RETR").corrupt("scramble"), "unknown corruption 'scramble'"),
        (lambda f: f.on("LIST", 2).corrupt("no_terminator"), "'LIST 2' is answered with one line"),
        (lambda f: f.on("STAT").corrupt("unstuffed"), "'STAT' is answered with one line"),
        (lambda f: f.on("UIDL", 1).corrupt("duplicate_uid"), "answered with one line"),
        (lambda f: f.on("RETR").corrupt("size"), "changes LIST and STAT replies"),
        (lambda f: f.on("*").corrupt("stat_count"), "not '*'"),
        (lambda f: f.on("LIST").corrupt("no_timestamp"), "changes greeting replies"),
        (lambda f: f.on("RETR").corrupt("no_terminator", delta=1), "takes no delta"),
        (lambda f: f.on("LIST").corrupt("size", delta=0), "delta=0"),
        (lambda f: f.on("RETR").corrupt("long_line", length=0), "length=0"),
        (lambda f: f.on("RETR").corrupt("trailing_data", data=b""), "non-empty bytes"),
        (lambda f: f.on("connect").corrupt("garbage"), "'connect' comes before any reply"),
        (lambda f: f.on("connect").error(), "'connect' comes before any reply"),
        (lambda f: f.on("connect").bandwidth(10), "'connect' comes before any reply"),
        (lambda f: f.on("connect").disconnect(after_bytes=3), "no reply to send part of"),
        (lambda f: f.on("RETR").error("two\r\nlines"), "cannot contain a line end"),
        (lambda f: f.on("RETR").error("[AUTH] x", code="IN-USE"), "two response codes"),
        (lambda f: f.on("RETR").error("x", code="SYS TEMP"), "response code 'SYS TEMP'"),
        (lambda f: f.on("RETR").reply_raw("text"), "give bytes"),
        (lambda f: f.on("RETR").error(then="explode"), "then='explode'"),
        (lambda f: f.on("RETR").delay(-1), "seconds must be 0 or a number of seconds from 0.001"),
        (lambda f: f.on("RETR").delay(float("nan")), "seconds must be 0 or a number of seconds"),
        (lambda f: f.on("RETR").delay(0.3, 0.1), "the range is empty"),
        (lambda f: f.on("RETR").bandwidth(0), "bytes_per_second=0"),
        (lambda f: f.on("RETR").dribble(0), "chunk=0"),
        (lambda f: f.on("RETR").reset(after_bytes=3, after_reply=True), "give only one of"),
        (lambda f: f.on("RETR").hang(-2), "seconds must be 0 or a number of seconds"),
    ],
)
def test_rules_that_can_never_work_are_rejected(
    make: Callable[[FaultSet], Rule], message: str
) -> None:
    """Each impossible rule raises ConfigurationError naming the problem, and is not added."""
    faults = FaultSet(seed=1)
    with pytest.raises(ConfigurationError, match=None) as info:
        make(faults)
    assert message in str(info.value)
    assert faults.rules == []


def test_rule_is_a_frozen_value_validated_on_construction() -> None:
    """Rules made directly are checked too, and cannot be changed afterwards."""
    with pytest.raises(ConfigurationError, match="write it as 'RETR'"):
        Rule(target="retr", action=Error("x"))
    rule = Rule(target="RETR", action=Error("x"), args=("2",))
    with pytest.raises(AttributeError):
        rule.nth = 3  # type: ignore[misc]
    assert rule == Rule(target="RETR", action=Error("x"), args=("2",))
    faults = FaultSet(seed=1)
    assert rule is faults.add(rule)
    with pytest.raises(ConfigurationError, match="not a fault Rule"):
        faults.add("RETR: error")  # type: ignore[arg-type]


# -- compiled steps --------------------------------------------------------------------------


def compiled(make: Callable[[RuleBuilder], Rule], wire: bytes, point: FaultPoint) -> list[object]:
    faults = FaultSet(seed=5)
    make(faults.on(point.target))
    return list(fire(faults, point).steps(wire))


WIRE = b"+OK 20 octets\r\nSubject: hi\r\n\r\nbody\r\n.\r\n"


@pytest.mark.parametrize(
    ("make", "replace", "steps"),
    [
        (
            lambda b: b.error("[SYS/TEMP] storage offline"),
            b"-ERR [SYS/TEMP] storage offline\r\n",
            [Send(b"-ERR [SYS/TEMP] storage offline\r\n")],
        ),
        (
            lambda b: b.error("locked", code="IN-USE", then="close"),
            b"-ERR [IN-USE] locked\r\n",
            [Send(b"-ERR [IN-USE] locked\r\n"), Close()],
        ),
        (lambda b: b.error(""), b"-ERR\r\n", [Send(b"-ERR\r\n")]),
        (lambda b: b.lie(), b"+OK\r\n", [Send(b"+OK\r\n")]),
        (lambda b: b.ok("fine", then="reset"), b"+OK fine\r\n", [Send(b"+OK fine\r\n"), Reset()]),
        (lambda b: b.reply_raw(b"OK ready"), b"OK ready", [Send(b"OK ready")]),
        (lambda b: b.delay(2.0), None, [Sleep(2.0), Send(WIRE)]),
        (lambda b: b.delay(0, then="hang"), None, [Send(WIRE), Hang(None)]),
        (lambda b: b.bandwidth(1000), None, [Paced(WIRE, 50, 0.05)]),
        (lambda b: b.bandwidth(10), None, [Paced(WIRE, 1, 0.1)]),
        (lambda b: b.dribble(3, 0.01), None, [Paced(WIRE, 3, 0.01)]),
        (lambda b: b.disconnect(), b"", [Close()]),
        (lambda b: b.disconnect(after_bytes=0), b"", [Close()]),
        (lambda b: b.disconnect(after_bytes=7), None, [Send(WIRE[:7]), Close()]),
        (lambda b: b.disconnect(after_lines=2), None, [Send(WIRE[:28]), Close()]),
        (lambda b: b.disconnect(after_lines=99), None, [Send(WIRE), Close()]),
        (lambda b: b.disconnect(after_reply=True), None, [Send(WIRE), Close()]),
        (lambda b: b.reset(), b"", [Reset()]),
        (lambda b: b.reset(after_bytes=1000), None, [Send(WIRE), Reset()]),
        (lambda b: b.hang(), b"", [Hang(None)]),
        (lambda b: b.hang(0.5, after_lines=1), None, [Send(b"+OK 20 octets\r\n"), Hang(0.5)]),
        (lambda b: b.corrupt("no_terminator", then="close"), None, [Send(WIRE[:-3]), Close()]),
    ],
)
def test_actions_compile_to_steps(
    make: Callable[[RuleBuilder], Rule], replace: bytes | None, steps: list[object]
) -> None:
    """Each action is a replacement (the command is skipped) and/or steps over the reply."""
    faults = FaultSet(seed=5)
    make(faults.on("RETR"))
    plan = fire(faults, retr())
    assert plan.replace == replace
    assert plan.steps(replace if replace is not None else WIRE) == steps


def test_delay_range_is_a_seeded_uniform_draw() -> None:
    """delay(lo, hi) sleeps a seeded amount in [lo, hi]; the same seed, the same amounts."""
    runs = []
    for _ in range(2):
        faults = FaultSet(seed=9)
        faults.on("RETR").delay(0.1, 0.3)
        runs.append([fire(faults, retr()).steps(WIRE)[0] for _ in range(20)])
    assert runs[0] == runs[1]
    seconds = [step.seconds for step in runs[0] if isinstance(step, Sleep)]
    assert len(seconds) == 20 and all(0.1 <= s <= 0.3 for s in seconds)
    assert len(set(seconds)) > 1
    assert Delay(0.1, 0.3).compile(WIRE, draw=0.0) == [Sleep(0.1), Send(WIRE)]


def test_greeting_and_connect_steps() -> None:
    """Greeting faults change the greeting; connect faults act before it (nothing to send)."""
    greeting, connect = FaultPoint("greeting"), FaultPoint("connect")
    delayed = compiled(lambda b: b.delay(2.0), GREETING, greeting)
    assert delayed == [Sleep(2.0), Send(GREETING)]
    assert compiled(lambda b: b.hang(), GREETING, greeting) == [Hang(None)]
    refused = compiled(lambda b: b.error("[SYS/TEMP] maintenance"), GREETING, greeting)
    assert refused == [Send(b"-ERR [SYS/TEMP] maintenance\r\n")]
    plain = compiled(lambda b: b.corrupt("no_timestamp"), GREETING, greeting)
    assert plain == [Send(b"+OK pop3mock ready.\r\n")]
    assert compiled(lambda b: b.reset(), b"", connect) == [Reset()]
    assert compiled(lambda b: b.delay(1.5), b"", connect) == [Sleep(1.5)]


def test_plans_are_pure() -> None:
    """Compiling a plan twice gives the same steps (the server compiles it for the journal and
    to send); everything random was drawn when the rule fired."""
    faults = FaultSet(seed=4)
    faults.on("RETR").corrupt("garbage", length=30)
    plan = fire(faults, retr())
    first = plan.steps(WIRE)
    assert first == plan.steps(WIRE)
    assert len(sent_bytes(first)) == 32


# -- corruptions: pure functions on wire bytes -----------------------------------------------


@pytest.mark.parametrize(
    ("action", "wire", "expected"),
    [
        (Corrupt("size"), LISTING, b"+OK 3 messages\r\n1 121\r\n2 301\r\n3 46\r\n.\r\n"),
        (Corrupt("size", delta=-200), LISTING, b"+OK 3 messages\r\n1 0\r\n2 100\r\n3 0\r\n.\r\n"),
        (Corrupt("size", delta=5), b"+OK 2 320\r\n", b"+OK 2 325\r\n"),
        (Corrupt("size"), b"-ERR no such message\r\n", b"-ERR no such message\r\n"),
        (Corrupt("stat_count"), b"+OK 3 465\r\n", b"+OK 4 465\r\n"),
        (Corrupt("stat_count", delta=-1), b"+OK 3 465\r\n", b"+OK 2 465\r\n"),
        (Corrupt("no_terminator"), LISTING, LISTING[:-3]),
        (Corrupt("no_terminator"), b"+OK\r\n.\r\n", b"+OK\r\n"),
        (Corrupt("no_terminator"), b"-ERR no\r\n", b"-ERR no\r\n"),
        (Corrupt("cr_terminator"), LISTING, LISTING[:-3] + b".\r"),
        (Corrupt("cr_terminator"), b"+OK\r\n.\r\n", b"+OK\r\n.\r"),
        (Corrupt("cr_terminator"), b"-ERR no\r\n", b"-ERR no\r\n"),
        (
            Corrupt("unstuffed"),
            DOTTY,
            b"+OK 30 octets\r\nSubject: x\r\n\r\n.leading\r\n.\r\nend\r\n.\r\n",
        ),
        (
            Corrupt("double_stuffed"),
            DOTTY,
            b"+OK 30 octets\r\nSubject: x\r\n\r\n...leading\r\n...\r\nend\r\n.\r\n",
        ),
        (Corrupt("bare_lf"), b"+OK\r\nA\r\n.\r\n", b"+OK\nA\n.\n"),
        (Corrupt("long_line", length=12), b"+OK\r\n", b"+OK xxxxxxxx\r\n"),
        (Corrupt("long_line", length=3), b"+OK fine\r\n", b"+OK fine\r\n"),
        (Corrupt("long_line", length=5), b"+OK\r\nA\r\n.\r\n", b"+OK\r\nxxxxx\r\nA\r\n.\r\n"),
        (Corrupt("trailing_data"), LISTING, LISTING + b"+OK unexpected line after the reply\r\n"),
        (Corrupt("trailing_data", data=b"junk"), LISTING, LISTING + b"junk"),
        (Corrupt("trailing_data"), b"-ERR no\r\n", b"-ERR no\r\n"),
        (Corrupt("duplicate_uid"), UIDS, b"+OK\r\n1 aaa\r\n2 aaa\r\n3 ccc\r\n.\r\n"),
        (Corrupt("duplicate_uid"), b"+OK\r\n1 aaa\r\n.\r\n", b"+OK\r\n1 aaa\r\n.\r\n"),
        (Corrupt("no_timestamp"), GREETING, b"+OK pop3mock ready.\r\n"),
    ],
)
def test_corruptions(action: Corrupt, wire: bytes, expected: bytes) -> None:
    """Each corruption is a pure function of the reply's bytes."""
    assert action.apply(wire) == expected


def test_changing_uids_depend_on_the_session() -> None:
    """UIDs differ per session, stay valid (<= 70 printable octets) and keep their numbers."""
    action = Corrupt("changing_uid")
    one, two = action.apply(UIDS, session=1), action.apply(UIDS, session=2)
    assert one == b"+OK\r\n1 aaa.1\r\n2 bbb.1\r\n3 ccc.1\r\n.\r\n"
    assert one != two
    assert action.apply(b"+OK 2 bbb\r\n", session=2) == b"+OK 2 bbb.2\r\n"
    long = b"+OK 1 " + b"u" * 70 + b"\r\n"
    changed = action.apply(long, session=123456789).split()[2]
    assert len(changed) == 70 and changed.isascii()


def test_garbage_is_seeded_noise_on_one_line() -> None:
    """Garbage: `length` octets, no CR/LF inside, never starting like a status, then CRLF."""
    action = Corrupt("garbage", length=500)
    noise = action.apply(WIRE, draw=0.25)
    assert noise == action.apply(b"anything", draw=0.25)
    assert noise != action.apply(WIRE, draw=0.5)
    assert len(noise) == 502 and noise.endswith(b"\r\n")
    assert b"\r" not in noise[:-2] and b"\n" not in noise[:-2]
    assert noise[:1] not in (b"+", b"-", b".")


def test_long_line_default_exceeds_poplib_limit() -> None:
    """The default over-long line is longer than poplib's 2048-octet _MAXLINE."""
    out = Corrupt("long_line").apply(WIRE)
    assert max(len(line) for line in out.split(b"\r\n")) > 2048


# -- check and unfired -----------------------------------------------------------------------


def test_unfired_reports_counted_rules_with_the_seed() -> None:
    """check() names once/times/nth rules that fell short, how often they matched, the seed."""
    faults = FaultSet(seed=4242)
    faults.on("RETR").nth(3).disconnect(after_bytes=1000)
    faults.on("LIST").times(2).corrupt("size")
    faults.on("DELE").error()  # always: never expected
    faults.on("STAT").once().error()
    faults.plan(retr())
    faults.plan(FaultPoint("LIST"))
    faults.plan(FaultPoint("STAT"))
    assert faults.unfired() == [
        "RETR #3 -> disconnect after_bytes=1000  (fired 0 of 1, matched 1)",
        "LIST times=2 -> corrupt size  (fired 1 of 2, matched 1)",
    ]
    with pytest.raises(UnfiredFaultError, match="fault seed 4242") as info:
        faults.check()
    assert "RETR #3 -> disconnect after_bytes=1000" in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_nth_always_rule_must_fire_at_least_once() -> None:
    """A rule from the n-th occurrence on is reported if that occurrence never came."""
    faults = FaultSet(seed=1)
    faults.on("RETR").nth(2).always().error()
    faults.plan(retr())
    assert (faults.unfired()) == [
        "RETR #2 always -> error [SYS/TEMP] Fault injected.  (fired 0 of 1, matched 1)"
    ]
    faults.plan(retr())
    faults.check()


def test_clear_drops_rules_and_counts() -> None:
    """After clear() nothing fires and nothing is reported."""
    faults = FaultSet(seed=1)
    faults.on("RETR").once().error()
    faults.clear()
    assert not faults and len(faults) == 0
    assert faults.plan(retr()) is None
    faults.check()


def test_plan_names_the_rule_for_the_journal() -> None:
    """The plan carries the rule's text form, which the journal records."""
    faults = FaultSet(seed=1)
    faults.on("RETR", 2).error("[SYS/TEMP] storage offline")
    assert fire(faults, retr(2)).rule == "RETR 2 -> error [SYS/TEMP] storage offline"
    assert faults.plan(retr(1)) is None


def test_disconnect_before_the_reply_skips_the_command() -> None:
    """Nothing of the reply is sent: the plan replaces it with nothing (no UPDATE for QUIT)."""
    assert Disconnect().replacement() == b""
    assert Disconnect(after_bytes=5).replacement() is None


# -- credentials in descriptions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "secret", "shown"),
    [
        (lambda f: f.on("PASS", "my secret").once().error("[AUTH] nope"), "my secret", "PASS ***"),
        (
            lambda f: f.on("APOP", "bob", "c4c9334bac560ecc").once().error(),
            "c4c9334bac",
            "APOP bob ***",
        ),
        (
            lambda f: f.on("AUTH", "plain", "AGJvYgBodW50ZXIy").once().error(),
            "AGJvYgBo",
            "AUTH PLAIN ***",
        ),
    ],
)
def test_descriptions_mask_credentials(
    make: Callable[[FaultSet], Rule], secret: str, shown: str
) -> None:
    """describe(), repr(), a plan's rule and unfired()/check() show *** for the credential;
    str(rule) stays the spec, which parses back to the same rule."""
    faults = FaultSet(seed=3)
    rule = make(faults)
    for text in (rule.describe(), repr(rule), *faults.unfired()):
        assert secret not in text
        assert shown in text
    with pytest.raises(UnfiredFaultError) as info:
        faults.check()
    assert secret not in str(info.value)
    assert shown in str(info.value)
    assert secret in str(rule)
    plan = fire(faults, FaultPoint(rule.target, rule.args))
    assert secret not in plan.rule and secret not in repr(plan)
    assert plan.rule.startswith(shown)


def test_a_rule_without_credential_arguments_is_described_in_full() -> None:
    """PASS/APOP/AUTH rules that name no credential lose nothing in the description."""
    faults = FaultSet(seed=3)
    assert faults.on("PASS", user="bob").error().describe().startswith("PASS user=bob -> ")
    assert faults.on("APOP", "bob").error().describe().startswith("APOP bob -> ")
    assert faults.on("AUTH", "plain").error().describe().startswith("AUTH PLAIN -> ")


# -- contradictory counts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda b: b.once().times(3), "once() and times(3) both say how many times it fires"),
        (lambda b: b.times(2).times(3), "times(2) and times(3)"),
        (lambda b: b.always().once(), "always() and once()"),
        (lambda b: b.nth(2).always().times(4), "always() and times(4)"),
        (lambda b: b.nth(2).nth(5), "nth(2) and nth(5) both say which match it fires first"),
        (lambda b: b.probability(0.2).probability(0.5), "probability(0.2) and probability(0.5)"),
    ],
)
def test_a_second_count_of_the_same_kind_is_refused(
    make: Callable[[RuleBuilder], RuleBuilder], message: str
) -> None:
    """A second call that would override the first raises, naming both; nothing is added."""
    faults = FaultSet(seed=0)
    with pytest.raises(ConfigurationError) as info:
        make(faults.on("RETR")).error()
    assert message in str(info.value)
    assert faults.rules == []


def test_counts_of_different_kinds_combine() -> None:
    """nth with times/once/always and a probability is one rule, in any order."""
    faults = FaultSet(seed=0)
    rule = faults.on("RETR").times(2).probability(0.5).nth(3).error()
    assert (rule.nth, rule.times, rule.probability) == (3, 2, 0.5)
    assert faults.on("RETR").always().nth(2).error().times is None
