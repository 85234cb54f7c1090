from __future__ import annotations

import email.message
import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock import ConfigurationError, LazyMaildrop, LazyMessage, Message
from pop3mock.maildrop._message import normalize_crlf, stuff


def unstuff(wire: bytes) -> bytes:
    lines = wire.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\rb\r", b"a\r\nb\r\n"),
        (b"a\r\nb\nc\rd", b"a\r\nb\r\nc\r\nd\r\n"),
        (b"no final newline", b"no final newline\r\n"),
        (b"", b""),
        (b"\r\n", b"\r\n"),
    ],
)
def test_normalize_crlf(raw: bytes, expected: bytes) -> None:
    assert normalize_crlf(raw) == expected


def test_message_size_counts_crlf_and_appended_line_end() -> None:
    msg = Message.of(b"Subject: x\n\nbody without newline")
    assert msg.data == b"Subject: x\r\n\r\nbody without newline\r\n"
    assert msg.size == len(msg.data)


def test_stuffing_of_dot_lines() -> None:
    msg = Message.of(b".first\r\nmid\r\n.\r\n..two\r\n . space\r\n")
    assert msg.wire == b"..first\r\nmid\r\n..\r\n...two\r\n . space\r\n"


def test_from_str_and_email_message() -> None:
    em = email.message.EmailMessage()
    em["Subject"] = "Grüße"
    em.set_content("Hällo\n")
    msg = Message.of(em)
    assert b"\r\n" in msg.data
    assert b"\n" not in msg.data.replace(b"\r\n", b"")
    assert Message.of("Subject: ü\n\nä").data == "Subject: ü\r\n\r\nä\r\n".encode()


def test_uid_is_stable_and_valid() -> None:
    a = Message.of(b"Subject: a\r\n\r\nx\r\n")
    b = Message.of(b"Subject: a\n\nx\n")
    assert a.uid == b.uid
    assert 1 <= len(a.uid) <= 70
    assert all(0x21 <= ord(c) <= 0x7E for c in a.uid)


@pytest.mark.parametrize("uid", ["", "has space", "x" * 71, "tab\there", "é"])
def test_invalid_uid_is_rejected(uid: str) -> None:
    with pytest.raises(ConfigurationError, match="uid"):
        Message.of(b"x", uid=uid)


def test_unsupported_input_type() -> None:
    with pytest.raises(ConfigurationError, match="cannot make a message from int"):
        Message.of(42)  # type: ignore[arg-type]


def test_top_lines() -> None:
    msg = Message.of(b"H: 1\r\nH2: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n")
    assert msg.top(0) == b"H: 1\r\nH2: 2\r\n\r\n"
    assert msg.top(2) == b"H: 1\r\nH2: 2\r\n\r\nb1\r\n..b2\r\n"
    assert msg.top(99) == msg.wire


def test_top_without_blank_line_sends_whole_message_as_headers() -> None:
    msg = Message.of(b"H: 1\r\nH2: 2\r\n")
    assert msg.top(0) == msg.wire


def test_top_of_a_message_without_header_fields() -> None:
    """C-068, C-069: the first line is the blank line; the body lines follow it."""
    msg = Message.of(b"\r\nbody 1\r\nbody 2\r\n")
    assert msg.top(0) == b"\r\n"
    assert msg.top(1) == b"\r\nbody 1\r\n"
    assert msg.top(5) == msg.wire


@pytest.mark.parametrize(
    "make",
    [
        lambda uid: Message(b"x\r\n", uid),
        lambda uid: LazyMessage(uid, 3, lambda: Message.of(b"x\r\n")),
        lambda uid: LazyMaildrop(["fine", uid], [3, 3], lambda n: Message.of(b"x\r\n")),
    ],
    ids=["Message", "LazyMessage", "LazyMaildrop"],
)
@pytest.mark.parametrize("uid", ["has space", "", "x" * 71, "caf\u00e9", "a\nb", "tab\there"])
def test_every_way_to_make_a_message_refuses_an_invalid_uid(
    make: Callable[[str], object], uid: str
) -> None:
    """C-078: a unique-id is 1 to 70 characters in 0x21-0x7E, however it is given."""
    with pytest.raises(ConfigurationError, match="invalid uid"):
        make(uid)


def test_lazy_sizes_are_whole_numbers() -> None:
    with pytest.raises(ConfigurationError, match="invalid size -1"):
        LazyMessage("u", -1, lambda: Message.of(b""))
    with pytest.raises(ConfigurationError, match=r"invalid size 1\.5"):
        LazyMaildrop(["a", "b"], [1, 1.5], lambda n: Message.of(b""))  # type: ignore[list-item]


def test_lazy_message_loads_once_and_checks_size() -> None:
    calls = []

    def load() -> Message:
        calls.append(1)
        return Message.of(b"abc\r\n")

    lazy = LazyMessage("uid1", 5, load)
    assert not lazy.loaded
    assert lazy.message.data == b"abc\r\n"
    assert lazy.message.uid == "uid1"
    assert len(calls) == 1
    wrong = LazyMessage("uid2", 99, load)
    with pytest.raises(RuntimeError, match="announced 99 octets"):
        _ = wrong.message


def test_lazy_message_loads_once_when_threads_race_for_it() -> None:
    entered, release = threading.Event(), threading.Event()
    calls = []

    def load() -> Message:
        calls.append(threading.current_thread().name)
        entered.set()
        assert release.wait(10)
        return Message.of(b"abc\r\n")

    lazy = LazyMessage("uid1", 5, load)
    got: list[Message] = []
    first = threading.Thread(target=lambda: got.append(lazy.message), name="first")
    first.start()
    assert entered.wait(10)  # the first thread is inside load()
    others = [threading.Thread(target=lambda: got.append(lazy.message)) for _ in range(4)]
    for thread in others:
        thread.start()
    release.set()
    for thread in (first, *others):
        thread.join(10)
    assert calls == ["first"]
    assert len(got) == 5 and all(m is got[0] for m in got)


def test_lazy_message_whose_loader_failed_tries_again() -> None:
    outcomes = iter([OSError("disk gone"), Message.of(b"abc\r\n")])

    def load() -> Message:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    lazy = LazyMessage("uid1", 5, load)
    with pytest.raises(OSError, match="disk gone"):
        _ = lazy.message
    assert not lazy.loaded
    assert lazy.message.data == b"abc\r\n"


@pytest.mark.slow
@given(st.binary(max_size=300))
def test_normalized_data_has_only_crlf_and_stuffing_round_trips(raw: bytes) -> None:
    msg = Message.of(raw)
    data = msg.data
    assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r")
    assert data == b"" or data.endswith(b"\r\n")
    assert unstuff(msg.wire) == data
    # Stuffing leaves no line that is a lone "." (which would end the reply early).
    assert b"\r\n.\r\n" not in b"\r\n" + msg.wire
    assert msg.size == len(data)


@pytest.mark.slow
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=20))
def test_top_is_a_prefix_of_the_message(raw: bytes, lines: int) -> None:
    msg = Message.of(raw)
    top = msg.top(lines)
    assert msg.wire.startswith(top)
    assert top == stuff(unstuff(top))


def test_a_retr_reply_is_kept_per_message_for_the_last_key() -> None:
    msg = Message.of(b"Subject: x\r\n\r\n.dot line\r\n")
    assert msg.kept_reply("{size} octets") is None
    reply = object()
    msg.keep_reply("{size} octets", reply)
    assert msg.kept_reply("{size} octets") is reply  # the same object, in any session
    assert msg.kept_reply("".join(["{size}", " octets"])) is reply  # an equal text is one
    assert msg.kept_reply("message follows") is None  # another RETR text: not this reply
    other = object()
    msg.keep_reply("message follows", other)
    assert msg.kept_reply("message follows") is other
    assert msg.kept_reply("{size} octets") is None  # only the last one is kept


def test_a_big_message_does_not_keep_its_retr_reply() -> None:
    from pop3mock.maildrop._message import REPLY_KEPT_UP_TO

    small = Message.of(b"x" * (REPLY_KEPT_UP_TO - 2) + b"\r\n")
    small.keep_reply("k", "reply")
    assert small.kept_reply("k") == "reply"
    big = Message.of(b"x" * REPLY_KEPT_UP_TO + b"\r\n")
    big.keep_reply("k", "reply")
    assert big.kept_reply("k") is None  # a second copy of a big message is not kept


def test_threads_keeping_retr_replies_always_read_their_own() -> None:
    msg = Message.of(b"Subject: x\r\n\r\nbody\r\n")
    keys = [str(n) for n in range(4)]
    wrong: list[object] = []
    start = threading.Barrier(4)

    def ask(key: str) -> None:
        start.wait()
        for _ in range(2000):
            kept = msg.kept_reply(key)
            if kept is None:
                msg.keep_reply(key, ("reply", key))
            elif kept != ("reply", key):
                wrong.append(kept)

    threads = [threading.Thread(target=ask, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
