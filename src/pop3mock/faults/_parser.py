"""The parser of the fault text syntax (docs/faults.md): `parse_spec` turns one line into a
`Rule`, through the same `RuleBuilder` calls as the Python form.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from pop3mock.errors import ConfigurationError
from pop3mock.faults._lexicon import (
    ACTION_WORDS,
    OPTION_RE,
    base_type,
    find_colon,
    parse_value,
    render_value,
    split_tokens,
    text_value,
    trailing_option,
)
from pop3mock.faults._rules import KEYWORDS, SIGNATURES, AddRule, Rule, RuleBuilder, make_builder
from pop3mock.protocol._text import secret_command

__all__ = ["parse", "parse_spec"]

_MATCH_KEYS = ("user", "session", "state", "times", "nth", "p", "probability")
# What each counting word of a spec says; two words that say the same thing contradict.
_COUNT_KINDS = types.MappingProxyType(
    {
        "nth": "which match it fires first",
        "once": "how many times it fires",
        "always": "how many times it fires",
        "times": "how many times it fires",
        "probability": "the chance it fires",
    }
)


def parse_spec(spec: str) -> Rule:
    """Parse one rule written in the text syntax (docs/faults.md), without adding it.

    >>> str(parse_spec("retr 2 : error [SYS/TEMP]  storage offline"))
    'RETR 2: error [SYS/TEMP]  storage offline'
    """
    return parse(spec, None)


def parse(spec: str, add: AddRule | None) -> Rule:
    if not isinstance(spec, str):
        raise ConfigurationError(f"a fault spec is a str, not {spec!r}")
    try:
        colon = find_colon(spec)
        if colon < 0:
            raise ConfigurationError("expected 'TARGET [match...]: ACTION [options...]'")
        builder = _parse_match(spec[:colon], add)
        return _parse_action(spec[colon + 1 :], builder)
    except ConfigurationError as exc:
        shown, problem = _without_credentials(spec, str(exc))
        raise ConfigurationError(f"fault spec {shown!r}: {problem}") from None


def _without_credentials(spec: str, problem: str) -> tuple[str, str]:
    """The spec and the problem fit to print: a rule on PASS, APOP or AUTH may hold a
    password before its ':', so what follows the target there is shown as ***."""
    head, colon, action = spec.partition(":")
    words = _join_bars(head.split())
    verbs = set(words[0].upper().split("|")) if words else set()
    if len(words) < 2 or not secret_command(verbs):
        return spec, problem
    # Each word, and what precedes a "=" in it (base64 padding reads as an option), unless
    # that is an option name the message may quote.
    hidden = {w for word in words[1:] for w in (word, word.partition("=")[0])}
    for word in sorted(hidden - set(_MATCH_KEYS) - {""}, key=len, reverse=True):
        problem = problem.replace(word, "***")
    return f"{words[0]} ***{colon}{action}", problem


def _join_bars(tokens: list[str]) -> list[str]:
    """ "RETR | TOP" is the target RETR|TOP: spaces around the bars or not."""
    tokens = list(tokens)
    while len(tokens) > 1 and (tokens[0].endswith("|") or tokens[1].startswith("|")):
        tokens[0] += tokens.pop(1)
    return tokens


def _parse_match(head: str, add: AddRule | None) -> RuleBuilder:
    tokens = [token for _, token in split_tokens(head)]
    if not tokens:
        raise ConfigurationError("no target before ':'")
    tokens = _join_bars(tokens)
    target, args = tokens[0], []
    filters: dict[str, Any] = {}
    counts: list[tuple[str, float | None]] = []
    written: dict[str, str] = {}

    def count(method: str, value: float | None) -> None:
        # Said here in the spec's own words; the builder would name its Python calls.
        kind = _COUNT_KINDS[method]
        if kind in written:
            raise ConfigurationError(
                f"{written[kind]} and {token} both say {kind}: keep one of them"
            )
        written[kind] = token
        counts.append((method, value))

    for token in tokens[1:]:
        key, eq, raw = token.partition("=")
        if token.startswith('"'):
            args.append(parse_value(token, str))
        elif token.startswith("#"):
            count("nth", parse_value(token[1:], int))
        elif token in ("once", "always"):
            count(token, None)
        elif not eq:
            args.append(token)
        elif key not in _MATCH_KEYS:
            raise ConfigurationError(
                f"unknown match option {key!r}: one of {', '.join(_MATCH_KEYS)}"
            )
        elif key in ("times", "nth"):
            count(key, parse_value(raw, int))
        elif key in ("p", "probability"):
            count("probability", parse_value(raw, float))
        elif key in filters:
            raise ConfigurationError(f"{key}= given twice")
        else:
            filters[key] = parse_value(raw, int if key == "session" else str)
    builder = make_builder(
        add,
        target,
        tuple(args),
        filters.get("user"),
        filters.get("session"),
        filters.get("state"),
    )
    for name, value in counts:
        method: Callable[..., RuleBuilder] = getattr(builder, name)
        if value is None:
            method()
        else:
            method(value)
    return builder


def _parse_action(text: str, builder: RuleBuilder) -> Rule:
    tokens = split_tokens(text, free_text=True)
    if not tokens:
        raise ConfigurationError("no action after ':'")
    word = tokens[0][1]
    signature = SIGNATURES.get(word)
    if signature is None:
        raise ConfigurationError(f"unknown action {word!r}: one of {', '.join(ACTION_WORDS)}")
    args: list[Any] = []
    keywords: dict[str, Any] = {}
    i = 1
    while True:
        at_text = signature.text is not None and len(args) == signature.positional.index(
            signature.text
        )
        rest = text[tokens[i][0] :].strip() if i < len(tokens) else ""
        option = OPTION_RE.match(rest)
        if at_text and rest and not (option and option.group(1) in signature.hints):
            name = signature.text or ""
            if name in keywords:
                raise ConfigurationError(f"{name}= given twice")
            if not rest.startswith('"'):
                _check_text_end(word, rest)
            args.append(text_value(rest, signature.hints[name]))
            break
        if i >= len(tokens):
            break
        token = tokens[i][1]
        i += 1
        key, eq, raw = token.partition("=")
        if eq and not token.startswith('"') and key in signature.hints:
            if key in keywords or key in signature.positional[: len(args)]:
                raise ConfigurationError(f"{key}= given twice")
            keywords[key] = parse_value(raw, base_type(signature.hints[key]))
        elif len(args) < len(signature.positional) and not at_text:
            name = signature.positional[len(args)]
            if name in keywords:
                raise ConfigurationError(f"{name}= given twice")
            args.append(parse_value(token, base_type(signature.hints[name])))
        else:
            raise ConfigurationError(f"unexpected {token!r} in {word!r}")
    given = len(args) + sum(1 for name in signature.positional[len(args) :] if name in keywords)
    if given < signature.required:
        missing = signature.positional[len(args) : signature.required]
        raise ConfigurationError(f"{word!r} needs {', '.join(missing)}")
    action: Callable[..., Rule] = getattr(builder, word)
    return action(*args, **keywords)


def _check_text_end(word: str, text: str) -> None:
    # "QUIT: ok bye then=reset" would send "+OK bye then=reset" and never reset: a keyword
    # after the text is almost always a keyword in the wrong place.
    tail = trailing_option(text, KEYWORDS)
    if tail is not None:
        head = text[: text.rindex(tail)].rstrip()
        raise ConfigurationError(
            f"the text {text!r} ends with {tail!r}, but keywords go before the text: "
            f"'{word} {tail} {head}'; to send {text!r} as it is, quote it: "
            f"'{word} {render_value(text)}'"
        )
