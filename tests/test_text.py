"""`pop3mock.protocol._text`: the one escaping function and the one masking rule, on their own."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock.protocol._text import escape, escape_bytes, escape_json, mask, masked
from test_shown_text import unsafe

# -- the one escaping function ------------------------------------------------------------


@pytest.mark.slow
@given(st.binary())
def test_escaped_text_of_any_bytes_has_no_control_character(data: bytes) -> None:
    shown = escape_bytes(data)
    assert unsafe(shown) == []
    assert escape(shown) == shown  # idempotent: printing an escaped text again is safe


@given(st.text())
def test_escaped_text_of_any_string_has_no_control_character(text: str) -> None:
    shown = escape(text)
    assert unsafe(shown) == []
    assert escape(shown) == shown
    if not unsafe(text):
        assert shown == text  # nothing else is touched


@pytest.mark.slow
@given(st.text(), st.lists(st.text(), max_size=4), st.booleans())
def test_a_masked_command_has_no_control_character(
    verb: str, args: list[str], credential: bool
) -> None:
    assert unsafe(mask(verb, args, credential=credential)) == []


@pytest.mark.slow
@given(st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=4))
def test_json_escaping_keeps_the_value_and_shows_no_control_character(
    value: dict[str, str],
) -> None:
    text = escape_json(json.dumps(value, ensure_ascii=False))
    assert unsafe(text) == []
    assert json.loads(text) == value


def test_escapes_are_the_usual_python_ones() -> None:
    assert escape("a\tb\r\n\x00\x1b\x7f\x9b\u202e\ufeffé") == (
        "a\\tb\\r\\n\\x00\\x1b\\x7f\\x9b\\u202e\\ufeffé"
    )


def test_sasl_lines_and_apop_digests_are_masked() -> None:
    assert masked("", ["dXNlcg=="], credential=True) == ("***", ())
    assert mask("APOP", ["alice", "c4c9334bac560ecc979e58001b3e22fb"]) == "APOP alice ***"
    assert mask("AUTH", ["PLAIN", "AGFsaWNlAHB3"]) == "AUTH PLAIN ***"
    assert mask("\x00PASS", ["pw"]) == "\\x00PASS ***"
    assert mask("PASS\tPW", []) == "PASS ***"
    assert mask("NOOP", []) == "NOOP"
    assert mask("", []) == ""
    assert mask("QUIT", [], credential=True) == "QUIT"
    assert mask("user", ["bob"], credential=True) == "user ***"
    assert mask("hunter2", [], credential=True) == "***"
    assert mask("QU\u0130T", [], credential=True) == "***"  # not ASCII: not a command name


def test_every_layer_uses_the_one_rule_not_a_copy() -> None:
    # The masking and escaping rules are written once; each module that prints client text
    # or masks a credential imports them.
    from pop3mock.cli import _journal_file as cli_journal
    from pop3mock.cli import _run as cli
    from pop3mock.faults import _parser as fault_spec
    from pop3mock.faults import _rules as fault_rules
    from pop3mock.journal import _records as journal
    from pop3mock.protocol import _session as protocol
    from pop3mock.protocol import _text
    from pop3mock.server import _conversation as server

    assert protocol.garbled_secret is _text.garbled_secret
    assert protocol.mask_verb is _text.mask_verb
    assert fault_rules.masked_arguments is _text.masked_arguments
    assert fault_spec.secret_command is _text.secret_command
    assert journal.mask is _text.mask
    assert journal.escape is cli.escape is _text.escape
    assert cli_journal.masked is _text.masked
    assert server.credential_line is protocol.credential_line is _text.credential_line
    assert journal.mask("PASS", ["pw"]) == _text.mask("PASS", ["pw"]) == "PASS ***"


def test_masked_arguments_show_what_the_command_shows() -> None:
    from pop3mock.protocol._text import masked_arguments, secret_command

    assert masked_arguments(["PASS"], ["a", "b"]) == ("***",)
    assert masked_arguments(["APOP"], ["alice", "digest"]) == ("alice", "***")
    assert masked_arguments(["APOP"], ["alice"]) == ("alice",)
    # A rule on several commands shows the fewest of theirs.
    assert masked_arguments(["AUTH", "PASS"], ["PLAIN", "x"]) == ("***",)
    assert masked_arguments(["RETR"], ["1"]) == ("1",)
    assert secret_command({"RETR", "APOP"}) and not secret_command({"USER", "RETR"})
