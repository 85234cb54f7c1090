"""What a client sent, as people see it: control characters escaped, credentials masked.

Every printed form (transcripts, str/repr of records, describe(), assertion and violation
messages, `pop3mock serve` stderr and its JSON-lines journal) goes through `pop3mock.protocol._text`;
the data fields keep the exact values.
"""

from __future__ import annotations

import io
import socket
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pop3mock import ClientViolationError, POP3Server
from pop3mock.cli._console import Console as _Console
from pop3mock.cli._journal_file import JournalFile as _JournalFile
from test_cli import TIMEOUT, Served, read_journal

PASSWORD = "Hunter2-secret"
#: Escape, CSI, OSC title, BEL, C1 CSI (U+009B), DEL, RIGHT-TO-LEFT OVERRIDE, FIRST STRONG
#: ISOLATE, BOM, NEL (U+0085).
HOSTILE = "\x1b[2J\x1b]0;pwned\x07|\u009b31m|\x7f|\u202eevil|\u2068x\u2069|\ufeff|\u0085".encode()
_BIDI_AND_INVISIBLE = frozenset("\u061c\u200e\u200f\u2028\u2029\ufeff") | frozenset(
    map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
)


def unsafe(text: str) -> list[str]:
    """The characters of `text` a terminal would obey: C0, DEL, C1, bidi, BOM, surrogates."""
    return [
        ch for ch in text if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_AND_INVISIBLE
    ]


def unsafe_in_lines(text: str) -> list[str]:
    # A multi-line message has its own line ends; within each line there must be none.
    return [ch for line in text.split("\n") for ch in unsafe(line)]


# -- every printed form of a hostile line ---------------------------------------------------


@pytest.fixture
def hostile_session() -> Iterator[POP3Server]:
    """A strict server after a logged-in client sent NOOP with terminal escapes, and an
    unknown verb full of them (echoed by the reply, as Dovecot's text does)."""
    texts = {"unknown_trans": "Unknown command: {verb}"}
    with POP3Server(users={"alice": PASSWORD}, strict=True, texts=texts) as srv:
        with socket.create_connection(srv.address, timeout=TIMEOUT) as sock:
            replies = sock.makefile("rb")
            replies.readline()
            for line in (b"USER alice", b"PASS " + PASSWORD.encode()):
                sock.sendall(line + b"\r\n")
                assert replies.readline().startswith(b"+OK")
            sock.sendall(b"NOOP " + HOSTILE + b"\r\n")
            assert replies.readline().startswith(b"-ERR")
            sock.sendall(b"X" + HOSTILE + b"\r\n")
            assert replies.readline().startswith(b"-ERR Unknown command: X\x1b")
            sock.sendall(b"QUIT\r\n")
            assert replies.readline().startswith(b"+OK")
        srv.journal.wait_for(sessions_ended=1)
        yield srv


def test_every_printed_form_escapes_control_characters(hostile_session: POP3Server) -> None:
    journal = hostile_session.journal
    noop = journal.find("NOOP")[0]
    unknown = journal.commands[3]
    # The data stays exact, for programs.
    assert noop.raw == b"NOOP " + HOSTILE + b"\r\n"
    assert noop.args[0] == HOSTILE.decode().split()[0]
    assert "\x1b" in unknown.reply
    failures = []
    for attempt in (
        lambda: journal.assert_commands(["NOOP", "STAT"]),
        lambda: journal.assert_commands(["STAT"], any_order=True),
        lambda: journal.assert_command("NOOP", "other"),
        lambda: journal.assert_command("NOOP", count=0),
        lambda: journal.wait_for("NOOP", count=9, timeout=0.01),
        hostile_session.check,
    ):
        with pytest.raises((AssertionError, TimeoutError, ClientViolationError)) as info:
            attempt()
        failures.append(str(info.value))
    session = journal.sessions[0]
    printed: dict[str, str] = {
        "str": str(noop),
        "repr": repr(noop),
        "line": noop.line,
        "describe": noop.describe(),
        "describe of the echoing reply": unknown.describe(),
        "transcript": session.transcript(),
        "journal transcript": journal.transcript(),
        "violations": "\n".join(session.violations),
        "Violation": "\n".join(str(v) for v in journal.violations),
        "violation report": journal.violation_report(),
        **{f"failure {n}": text for n, text in enumerate(failures)},
    }
    for name, text in printed.items():
        assert unsafe_in_lines(text) == [], f"{name}: {text[:400]!r}"
    # Escaped, not dropped: what the client sent can still be read.
    assert "\\x1b[2J\\x1b]0;pwned\\x07|\\x9b31m|\\x7f|\\u202eevil" in printed["transcript"]
    assert "C: NOOP \\x1b[2J" in printed["failure 5"]  # ClientViolationError's C: line
    assert "\\x9b" in printed["describe"]
    assert "Unknown command: X\\x1b" in printed["describe of the echoing reply"]


@pytest.mark.slow
def test_serve_strict_stderr_and_the_journal_file_escape_control_characters(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "pop3.jsonl"
    with Served("--strict", "--journal", str(journal), "--user", "alice:pw") as served:
        port = served.port()
        served.until("stop with")
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            replies = sock.makefile("rb")
            replies.readline()
            for line in (b"NOOP " + HOSTILE, b"\xc2\x9b" + HOSTILE, b"QUIT"):
                sock.sendall(line + b"\r\n")
                assert replies.readline().startswith((b"+OK", b"-ERR"))
        status, _, err = served.stop()
    assert status == 0
    assert "strict: session 1: NOOP \\x1b[2J" in err
    assert unsafe_in_lines(err) == []
    text = journal.read_text(encoding="utf-8")
    assert unsafe_in_lines(text) == []
    records = read_journal(journal)
    noop = next(r for r in records if r.get("verb") == "NOOP")
    # JSON escapes keep the value: a program reading the file gets the exact argument.
    assert noop["args"] == [HOSTILE.decode().split()[0], *HOSTILE.decode().split()[1:]]
    assert "\\x1b" in str(noop["command"])


# -- credentials whatever precedes PASS -----------------------------------------------------

#: What a client may put before PASS: a C string's NUL, a TAB, a BOM, a VT, junk, an escape.
PREFIXES = [b"\0", b"\t", "\ufeff".encode(), b"\x0b", b"x", b"\x1b[1m", b"\xff", b"  "]


def _printed_by(srv: POP3Server, extra: list[str]) -> list[str]:
    journal = srv.journal
    failures = []
    for attempt in (
        lambda: journal.assert_commands(["USER alice", "STAT"]),
        lambda: journal.assert_commands(["RETR"], any_order=True),
        lambda: journal.assert_command("PASS", "x", count=3),
        lambda: journal.wait_for("STAT", timeout=0.01),
        srv.check,
    ):
        try:
            attempt()
        except (AssertionError, TimeoutError, ClientViolationError) as exc:
            failures.append(str(exc))
    return [
        repr(journal.commands),
        *(str(c) for c in journal.commands),
        *(c.describe() for c in journal.commands),
        *(s.transcript() for s in journal.sessions),
        *(v for s in journal.sessions for v in s.violations),
        *(str(v) for v in journal.violations),
        journal.violation_report(),
        *failures,
        *extra,
    ]


def _jsonl_of(srv: POP3Server) -> Callable[[], str]:
    """The `--journal` file `pop3mock serve` would write for this server, in memory."""
    out = io.StringIO()
    srv.journal.subscribe(_JournalFile(out, _Console(io.StringIO(), io.StringIO())))
    return out.getvalue


def _login_attempt(prefix: bytes, password: str = PASSWORD) -> list[str]:
    with POP3Server(users={"alice": password}, strict=True) as srv:
        jsonl = _jsonl_of(srv)
        with socket.create_connection(srv.address, timeout=TIMEOUT) as sock:
            sock.recv(1024)
            sock.sendall(b"USER alice\r\n" + prefix + b"PASS " + password.encode() + b"\r\n")
            sock.sendall(b"QUIT\r\n")
            while sock.recv(4096):
                pass
        srv.journal.wait_for(sessions_ended=1)
    return _printed_by(srv, [jsonl()])


def _leaks(printed: list[str], password: str = PASSWORD) -> list[str]:
    forms = {password, password.upper(), password.lower()}
    return [text[:300] for text in printed for form in forms if form in text]


@pytest.mark.parametrize("prefix", PREFIXES, ids=repr)
def test_password_masked_whatever_precedes_pass(prefix: bytes) -> None:
    printed = _login_attempt(prefix)
    assert _leaks(printed) == []
    assert any("***" in text for text in printed)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_no_prefix_before_pass_shows_the_password(prefix: bytes) -> None:
    assert _leaks(_login_attempt(prefix)) == []


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.binary(max_size=12).filter(lambda b: b" " not in b))
def test_no_lines_without_a_space_before_pass_show_the_password(prefix: bytes) -> None:
    # The line after USER is a credential; with line ends in between, PASS is still found
    # wherever it sits in the verb of its own line.
    assert _leaks(_login_attempt(prefix)) == []


def test_the_line_after_user_is_masked_whatever_it_is() -> None:
    # A client that sends its password without a verb (or a pipelining one whose USER was
    # refused) still has it masked: the line after USER is taken for a secret.
    with POP3Server(users={"alice": PASSWORD}) as srv:
        with socket.create_connection(srv.address, timeout=TIMEOUT) as sock:
            sock.recv(1024)
            sock.sendall(f"USER alice\r\n{PASSWORD}\r\nUSER alice\r\nQUIT\r\n".encode())
            while sock.recv(4096):
                pass
        srv.journal.wait_for(sessions_ended=1)
    bare, quit_ = srv.journal.commands[1], srv.journal.commands[3]
    assert bare.credential and bare.line == "***" and bare.secret
    assert bare.raw == PASSWORD.encode() + b"\r\n"  # kept for assertions
    assert "C: ***" in srv.journal.transcript()
    # After USER, a POP3 command's name keeps its verb (its arguments would be masked): the
    # transcript still says what the client did.
    assert quit_.credential and quit_.line == "QUIT"
    assert _leaks(_printed_by(srv, [])) == []
