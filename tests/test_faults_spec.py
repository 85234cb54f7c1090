"""The fault text syntax: one to one with the Python calls, round trips, clear errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pop3mock import ConfigurationError
from pop3mock.faults._faultset import CORRUPTIONS, FaultSet, Rule, RuleBuilder, parse_spec
from pop3mock.faults._lexicon import render_value


def on(*args: Any, **kwargs: Any) -> RuleBuilder:
    return FaultSet(seed=0).on(*args, **kwargs)


# (spec as a user writes it, the same rule in Python, the canonical spec)
EXAMPLES: list[tuple[str, Callable[[], Rule], str]] = [
    (
        "RETR 2: error [SYS/TEMP] storage offline",
        lambda: on("RETR", 2).error("[SYS/TEMP] storage offline"),
        "RETR 2: error [SYS/TEMP] storage offline",
    ),
    (
        "RETR #3: disconnect after_bytes=1000",
        lambda: on("RETR").nth(3).disconnect(after_bytes=1000),
        "RETR #3: disconnect after_bytes=1000",
    ),
    ("greeting: delay 2.0", lambda: on("greeting").delay(2.0), "greeting: delay 2.0"),
    ("greeting: delay 2", lambda: on("greeting").delay(2), "greeting: delay 2.0"),
    (
        "LIST once: corrupt size",
        lambda: on("LIST").once().corrupt("size"),
        "LIST once: corrupt size",
    ),
    (
        "PASS user=bob: error [IN-USE] locked",
        lambda: on("PASS", user="bob").error("[IN-USE] locked"),
        "PASS user=bob: error [IN-USE] locked",
    ),
    ("connect: reset", lambda: on("connect").reset(), "connect: reset"),
    (
        "RETR p=0.3: error",
        lambda: on("RETR").probability(0.3).error(),
        "RETR p=0.3: error [SYS/TEMP] Fault injected.",
    ),
    (
        "retr 02 : error code=SYS/PERM gone",
        lambda: on("RETR", 2).error("gone", code="SYS/PERM"),
        "RETR 2: error [SYS/PERM] gone",
    ),
    ("DELE: lie", lambda: on("DELE").lie(), "DELE: ok"),
    ("DELE: ok deleted", lambda: on("DELE").ok("deleted"), "DELE: ok deleted"),
    (
        r'STAT: reply_raw "OK lots\r\n"',
        lambda: on("STAT").reply_raw(b"OK lots\r\n"),
        r'STAT: reply_raw "OK lots\r\n"',
    ),
    (
        "RETR: delay 0.1 0.3 then=close",
        lambda: on("RETR").delay(0.1, 0.3, then="close"),
        "RETR: delay 0.1 0.3 then=close",
    ),
    ("RETR: bandwidth 10000", lambda: on("RETR").bandwidth(10_000), "RETR: bandwidth 10000"),
    ("LIST: dribble 3 0.01", lambda: on("LIST").dribble(3, 0.01), "LIST: dribble 3 0.01"),
    ("LIST: dribble", lambda: on("LIST").dribble(), "LIST: dribble 1 0.0"),
    (
        "RETR 1: disconnect after_lines=3",
        lambda: on("RETR", 1).disconnect(after_lines=3),
        "RETR 1: disconnect after_lines=3",
    ),
    (
        "QUIT: reset after_reply=true",
        lambda: on("QUIT").reset(after_reply=True),
        "QUIT: reset after_reply=true",
    ),
    ("RETR: hang", lambda: on("RETR").hang(), "RETR: hang"),
    (
        "RETR: hang close_after=0.5 after_bytes=10",
        lambda: on("RETR").hang(0.5, after_bytes=10),
        "RETR: hang 0.5 after_bytes=10",
    ),
    (
        "STAT times=2 state=transaction: corrupt stat_count delta=-1",
        lambda: on("STAT", state="TRANSACTION").times(2).corrupt("stat_count", delta=-1),
        "STAT times=2 state=TRANSACTION: corrupt stat_count delta=-1",
    ),
    (
        r'LIST: corrupt trailing_data data="+OK\r\n" then=hang',
        lambda: on("LIST").corrupt("trailing_data", data=b"+OK\r\n", then="hang"),
        r'LIST: corrupt trailing_data data="+OK\r\n" then=hang',
    ),
    (
        "* session=2 #4 always: delay 0.5",
        lambda: on("*", session=2).nth(4).always().delay(0.5),
        "* #4 always session=2: delay 0.5",
    ),
    (
        'USER "once": error then=close "then=close is the text"',
        lambda: on("USER", "once").error("then=close is the text", then="close"),
        'USER "once": error then=close "then=close is the text"',
    ),
    (
        'PASS "pass word:1": error',
        lambda: on("PASS", "pass word:1").error(),
        'PASS "pass word:1": error [SYS/TEMP] Fault injected.',
    ),
    ('RETR: error ""', lambda: on("RETR").error(""), 'RETR: error ""'),
    ("RETR: error [AUTH]", lambda: on("RETR").error("[AUTH]"), "RETR: error [AUTH]"),
    (
        'NOOP: error he said "hi',
        lambda: on("NOOP").error('he said "hi'),
        'NOOP: error he said "hi',
    ),
    (
        "greeting: corrupt no_timestamp",
        lambda: on("greeting").corrupt("no_timestamp"),
        "greeting: corrupt no_timestamp",
    ),
]


@pytest.mark.parametrize(("spec", "python", "canonical"), EXAMPLES)
def test_spec_is_the_python_call(spec: str, python: Callable[[], Rule], canonical: str) -> None:
    """Each spec makes exactly the rule its Python form makes, and renders canonically."""
    rule = parse_spec(spec)
    assert rule == python()
    assert str(rule) == canonical
    assert parse_spec(canonical) == rule


def test_add_spec_adds_and_returns_the_rule() -> None:
    """FaultSet.add_spec is parse_spec plus add (the name the CLI and the marker call)."""
    faults = FaultSet(seed=0)
    rule = faults.add_spec("RETR 2: error [SYS/TEMP] storage offline")
    assert faults.rules == [rule]
    assert rule.describe() == "RETR 2 -> error [SYS/TEMP] storage offline"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("RETR error", "expected 'TARGET [match...]: ACTION [options...]'"),
        (": error", "no target before ':'"),
        ("RETR:", "no action after ':'"),
        ("RETR: explode", "unknown action 'explode'"),
        ("FETCH 1: error", "unknown fault target 'FETCH'"),
        ("RETR abc: error", "RETR abc: the argument must be a message number"),
        ("RETR 0: error", "RETR 0: the argument must be a message number"),
        ("RETR colour=red: error", "unknown match option 'colour'"),
        ("RETR user=a user=b: error", "user= given twice"),
        ("RETR #x: error", "'x': an integer"),
        ("RETR times=two: error", "'two': an integer"),
        ("RETR p=lots: error", "'lots': a number"),
        ("RETR p=2: error", "probability 2.0"),
        ("RETR: delay", "'delay' needs seconds"),
        ("RETR: delay soon", "'soon': a number"),
        ("RETR: delay 1 2 3", "unexpected '3'"),
        ("RETR: delay seconds=1 2", "seconds= given twice"),
        ("RETR: disconnect 5", "unexpected '5' in 'disconnect'"),
        ("RETR: disconnect after_reply=yes", "'yes': true or false"),
        ("RETR: corrupt", "'corrupt' needs kind"),
        ("RETR: corrupt scramble", "unknown corruption 'scramble'"),
        ("LIST 2: corrupt no_terminator", "'LIST 2' is answered with one line"),
        ("RETR: reply_raw", "'reply_raw' needs data"),
        ('RETR: reply_raw "\\q"', "unknown escape \\q"),
        ('RETR: reply_raw "\\xZZ"', "bad escape \\xZZ"),
        ('RETR: error "unterminated', "unterminated quoted string"),
        ('RETR: error "closed" then text', "text after the closing quote"),
        ('USER "ab: error', "unterminated quoted string"),
        ("connect: error", "'connect' comes before any reply"),
        ("RETR: error text=a b", "text= given twice"),
    ],
)
def test_bad_specs_are_rejected_with_the_spec_and_the_problem(spec: str, message: str) -> None:
    """A bad spec raises ConfigurationError quoting the spec and naming the problem."""
    with pytest.raises(ConfigurationError) as info:
        parse_spec(spec)
    assert f"fault spec {spec!r}: " in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("spec", "secret"),
    [
        ("PASS hunter2 onc: error [AUTH] x", "hunter2"),
        ('PASS "my s3cret" once: nonsense', "s3cret"),
        ("AUTH PLAIN AGJvYgBwdw== once: frob", "AGJvYgBwdw"),
        ("APOP alice 0123456789abcdef0123456789abcdef p=2: error x", "0123456789abcdef"),
        ("USER | PASS hunter2 onc: error x", "hunter2"),
    ],
)
def test_a_bad_spec_on_a_credential_does_not_show_it(spec: str, secret: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_spec(spec)
    assert secret not in str(refused.value)
    target = "USER|PASS" if "|" in spec else spec.split()[0]  # bars joined, as parsed
    assert str(refused.value).startswith(f"fault spec '{target} ***:")


def test_a_bad_spec_is_not_added() -> None:
    """add_spec adds nothing when the spec is rejected."""
    faults = FaultSet(seed=0)
    with pytest.raises(ConfigurationError):
        faults.add_spec("RETR 0: error")
    assert faults.rules == []


def test_non_string_spec() -> None:
    """Only text is a spec."""
    with pytest.raises(ConfigurationError, match="a fault spec is a str"):
        parse_spec(b"RETR: error")  # type: ignore[arg-type]


# -- property tests --------------------------------------------------------------------------

# An independent table of what each target takes (the oracle for generated rules).
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "connect": (),
    "greeting": (),
    "*": (),
    "USER": ("word",),
    "PASS": ("line",),
    "APOP": ("word", "word"),
    "AUTH": ("mech", "word"),
    "CAPA": (),
    "STLS": (),
    "UTF8": (),
    "LANG": ("word",),
    "QUIT": (),
    "STAT": (),
    "LIST": ("number",),
    "RETR": ("number",),
    "DELE": ("number",),
    "NOOP": (),
    "RSET": (),
    "TOP": ("number", "count"),
    "UIDL": ("number",),
    "LAST": (),
}
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"))
LINE = TEXT.filter(bool)
WORD = st.text(st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1).filter(
    lambda s: not any(c.isspace() for c in s)
)
ARG = {
    "number": st.integers(1, 10**12),
    "count": st.integers(0, 10**6),
    "word": WORD,
    "mech": st.sampled_from(["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]),
    "line": LINE,
}
SECONDS = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
THEN = st.none() | st.sampled_from(["close", "reset", "hang"])
CODE = st.none() | st.sampled_from(["SYS/TEMP", "SYS/PERM", "IN-USE", "LOGIN-DELAY", "AUTH"])
COUNT = st.none() | st.integers(1, 10**6)
CUTS = ("disconnect", "reset", "hang")


@st.composite
def actions(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    word = draw(
        st.sampled_from(
            ["error", "ok", "lie", "reply_raw", "delay", "bandwidth", "dribble", *CUTS, "corrupt"]
        )
    )
    then = {"then": draw(THEN)}
    if word == "error":
        return word, (draw(TEXT),), {"code": draw(CODE), **then}
    if word == "ok":
        return word, (draw(TEXT),), then
    if word == "lie":
        return word, (), {}
    if word == "reply_raw":
        return word, (draw(st.binary()),), then
    if word == "delay":
        low = draw(SECONDS)
        return word, (low, draw(st.none() | st.floats(low, 2e6))), then
    if word == "bandwidth":
        return word, (draw(st.integers(1, 10**9)),), then
    if word == "dribble":
        return word, (draw(st.integers(1, 10**6)), draw(SECONDS)), then
    cut = draw(st.sampled_from(["after_bytes", "after_lines", "after_reply", None]))
    keywords: dict[str, Any] = {}
    if cut == "after_reply":
        keywords[cut] = True
    elif cut is not None:
        keywords[cut] = draw(st.integers(0, 10**6))
    if word == "hang":
        return word, (draw(st.none() | SECONDS),), keywords
    if word in ("disconnect", "reset"):
        return word, (), keywords
    kind = draw(st.sampled_from(CORRUPTIONS))
    extra: dict[str, Any] = {}
    if kind in ("size", "stat_count"):
        extra["delta"] = draw(st.none() | st.integers(-(10**6), 10**6).filter(bool))
    elif kind in ("long_line", "garbage"):
        extra["length"] = draw(COUNT)
    elif kind == "trailing_data":
        extra["data"] = draw(st.none() | st.binary(min_size=1))
    return word, (kind,), {**extra, **then}


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    target = draw(st.sampled_from(sorted(ARGUMENTS)))
    kinds = ARGUMENTS[target]
    args = [draw(ARG[kind]) for kind in kinds[: draw(st.integers(0, len(kinds)))]]
    early = target in ("connect", "greeting")
    builder = FaultSet(seed=0).on(
        target,
        *args,
        user=None if early else draw(st.none() | WORD.filter(lambda s: " " not in s)),
        session=draw(st.none() | st.integers(1, 10**6)),
        state=draw(st.none() | st.sampled_from(["AUTHORIZATION", "TRANSACTION", "transaction"])),
    )
    # At most one call of each kind: a second one is a ConfigurationError (tested apart).
    how_many = draw(st.none() | st.sampled_from(["times", "once", "always"]))
    steps = [step for step in ("nth", how_many, "p") if step and draw(st.booleans())]
    for step in draw(st.permutations(steps)):
        if step == "nth":
            builder.nth(draw(st.integers(1, 10**6)))
        elif step == "times":
            builder.times(draw(st.integers(1, 10**6)))
        elif step == "p":
            builder.probability(draw(st.floats(0, 1)))
        else:
            getattr(builder, step)()
    word, args_, keywords = draw(actions())
    try:
        rule: Rule = getattr(builder, word)(*args_, **keywords)
    except ConfigurationError:
        assume(False)  # e.g. a multi-line corruption on a one-line command
        raise
    return rule


@pytest.mark.slow
@given(rules())
def test_render_then_parse_is_the_same_rule(rule: Rule) -> None:
    """parse(render(rule)) == rule, and rendering is canonical (a fixed point)."""
    spec = rule.spec()
    again = parse_spec(spec)
    assert again == rule
    assert again.spec() == spec
    assert FaultSet(seed=0).add_spec(spec) == rule


@pytest.mark.slow
@given(st.text(max_size=80))
def test_any_text_parses_or_raises_configuration_error(text: str) -> None:
    """The parser never fails with anything but ConfigurationError; what it accepts renders to
    a spec that parses to the same rule."""
    try:
        rule = parse_spec(text)
    except ConfigurationError:
        return
    assert parse_spec(rule.spec()) == rule


@pytest.mark.slow
@given(
    st.sampled_from(["RETR", "RETR 1", "* user=a", "greeting", "LIST once"]),
    st.sampled_from(["error", "ok", "delay", "hang", "corrupt", "reply_raw", "disconnect"]),
    st.text(max_size=40),
)
def test_action_text_fuzz(head: str, word: str, tail: str) -> None:
    """Arbitrary option and text after a valid action word: a rule or ConfigurationError."""
    try:
        rule = parse_spec(f"{head}: {word} {tail}")
    except ConfigurationError:
        return
    assert parse_spec(rule.spec()) == rule


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("RETR once times=3: error", "once and times=3 both say how many times it fires"),
        ("RETR times=2 always: error", "times=2 and always both say"),
        ("RETR always once: error", "always and once both say"),
        ("RETR #2 #5: error", "#2 and #5 both say which match it fires first"),
        ("RETR nth=2 #5: error", "nth=2 and #5 both say"),
        ("RETR p=0.1 probability=0.5: error", "p=0.1 and probability=0.5 both say the chance"),
    ],
)
def test_contradictory_counts_in_a_spec_are_refused(spec: str, message: str) -> None:
    """Two words for the same count: the spec names both in its own words."""
    with pytest.raises(ConfigurationError) as info:
        parse_spec(spec)
    assert f"fault spec {spec!r}: {message}" in str(info.value)


@pytest.mark.parametrize(
    ("spec", "moved", "quoted"),
    [
        ("QUIT: ok bye then=reset", "'ok then=reset bye'", """'ok "bye then=reset"'"""),
        ("RETR: error [SYS/TEMP] down then=close", "'error then=close [SYS/TEMP] down'", None),
        ("STAT: reply_raw +OK 3 then=hang", "'reply_raw then=hang +OK 3'", None),
        ("RETR: error gone code=SYS/PERM", "'error code=SYS/PERM gone'", None),
        ("RETR: error gone after_bytes=3", "'error after_bytes=3 gone'", None),
        ("RETR: ok fine then=", "'ok then= fine'", None),
    ],
)
def test_a_keyword_after_the_text_is_refused(spec: str, moved: str, quoted: str | None) -> None:
    """A text ending in KEY=VALUE is a keyword in the wrong place: the error says where it
    goes and how to quote the text if it is meant."""
    with pytest.raises(ConfigurationError) as info:
        parse_spec(spec)
    assert "keywords go before the text" in str(info.value)
    assert moved in str(info.value)
    if quoted is not None:
        assert f"quote it: {quoted}" in str(info.value)


def test_keyword_look_in_a_text_is_quoted_and_round_trips() -> None:
    """A quoted text may end in KEY=VALUE; a rule made in Python renders such a text quoted;
    words that are not keywords, or not at the end, stay plain."""
    rule = parse_spec('QUIT: ok "bye then=reset"')
    assert rule == on("QUIT").ok("bye then=reset")
    assert rule.action.then is None  # type: ignore[attr-defined]
    assert str(rule) == 'QUIT: ok "bye then=reset"'
    assert parse_spec(str(rule)) == rule
    for text in ("x=1 is fine", "see then=close here", "bye colour=red"):
        plain = parse_spec(f"NOOP: ok {text}")
        assert plain == on("NOOP").ok(text)
        assert str(plain) == f"NOOP: ok {text}"
    assert parse_spec("QUIT: ok then=reset bye") == on("QUIT").ok("bye", then="reset")


# -- one rule for several commands -----------------------------------------------------------

COMMANDS = sorted(t for t in ARGUMENTS if t.isupper())


def test_a_rule_on_several_commands_in_text_and_python() -> None:
    from pop3mock.faults._faultset import FaultPoint

    python = on(("RETR", "TOP"), 3).error("[SYS/TEMP] busy")
    for spec in ("RETR|TOP 3: error [SYS/TEMP] busy", "retr | top 3: error [SYS/TEMP] busy"):
        assert parse_spec(spec) == python
    assert on("RETR|TOP", 3).error("[SYS/TEMP] busy") == python
    assert python.target == "RETR|TOP"
    assert python.targets == ("RETR", "TOP")
    assert str(python) == "RETR|TOP 3: error [SYS/TEMP] busy"
    assert python.describe() == "RETR|TOP 3 -> error [SYS/TEMP] busy"
    # fetchmail's TOP n 99999999 matches as RETR n does; other messages and commands do not.
    assert python.matches(FaultPoint("TOP", ("3", "99999999")))
    assert python.matches(FaultPoint("RETR", ("03",)))
    assert not python.matches(FaultPoint("RETR", ("4",)))
    assert not python.matches(FaultPoint("LIST", ("3",)))
    # The order given is kept: a rule says what its author wrote.
    assert on(["TOP", "RETR"]).error().target == "TOP|RETR"
    assert on(("RETR",)).error().target == "RETR"
    # Credentials stay masked when any named command carries them.
    assert parse_spec("USER|APOP bob once: error x").describe() == "USER|APOP bob once -> error x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("RETR|TOP 3 0: error", "RETR takes at most 1 argument(s)"),
        (
            "RETR|USER 3: error",
            "the first argument is a message number for RETR, one word for USER",
        ),
        ("RETR|RETR: error", "RETR named twice"),
        ("RETR|greeting: error", "'greeting' is not a command"),
        ("*|RETR: error", "'*' is not a command"),
        ("RETR|: error", "a command on each side of '|'"),
        ("RETR|FETCH: error", "unknown fault target 'FETCH'"),
        ("LIST|TOP 3: corrupt size", "corrupt 'size' changes LIST and STAT replies, not 'TOP'"),
        ("RETR|NOOP 1: error", "'NOOP' takes no arguments"),
    ],
)
def test_several_commands_whose_arguments_differ_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        parse_spec(spec)
    assert message in str(refused.value)


def test_python_refuses_the_same_as_the_text() -> None:
    with pytest.raises(ConfigurationError, match="first argument is a message number for RETR"):
        on(("RETR", "USER"), 3)
    with pytest.raises(ConfigurationError, match="unknown fault target"):
        on(())  # type: ignore[arg-type]


# No deadline: a pause of the shared machine is not a failure of the parser.
@pytest.mark.slow
@settings(deadline=None)
@given(
    st.lists(st.sampled_from(COMMANDS), min_size=2, max_size=4, unique=True),
    st.integers(0, 2),
    st.data(),
)
def test_several_commands_build_exactly_when_their_arguments_agree(
    verbs: list[str], count: int, data: st.DataObject
) -> None:
    """Oracle: the rule exists iff every command takes `count` arguments of the same kinds;
    then it round-trips through its text, and matches each of its commands and no other."""
    from pop3mock.faults._faultset import FaultPoint

    kinds = [ARGUMENTS[verb][:count] for verb in verbs]
    agree = all(len(k) == count for k in kinds) and len(set(kinds)) == 1
    args = [data.draw(ARG[kind]) for kind in kinds[0]] if agree else ["1"] * count
    spelled = data.draw(st.sampled_from(["|", " | ", "| ", " |"])).join(
        data.draw(st.sampled_from([verb, verb.lower()])) for verb in verbs
    )
    if not agree:
        with pytest.raises(ConfigurationError):
            on(tuple(verbs), *args)
        return
    rule = on(tuple(verbs), *args).error("x")
    assert rule.targets == tuple(verbs)
    assert parse_spec(rule.spec()) == rule
    # As written by hand: any case, spaces around the bars or not.
    written = " ".join([spelled, *(render_value(a) for a in args)])
    assert parse_spec(f"{written}: error x") == rule
    point_args = tuple(str(a) for a in args)
    for verb in COMMANDS:
        assert rule.matches(FaultPoint(verb, point_args)) == (verb in verbs)
