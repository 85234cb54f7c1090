"""Generated maildrops: valid MIME, every shape, labelled malformed ones, determinism, laziness."""

from __future__ import annotations

import codecs
import email.message
import email.policy
import hashlib
import os
import poplib
import re
import subprocess
import sys
from collections.abc import Iterable
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import RawClient
from pop3mock import (
    ConfigurationError,
    LazyMaildrop,
    Message,
    MessageFactory,
    POP3Server,
    fake_messages,
    lazy_fake_messages,
)
from pop3mock.fake._factory import MALFORMED_KINDS, SHAPES

# Small sizes keep the suite fast (the stdlib parser is the slow part); the shapes and
# encodings are the same at any size.
SMALL = {
    "text_size": (1_500, 6_000),
    "attachment_size": (200, 8_000),
    "large_size": (10_000, 30_000),
}


def parse(data: bytes) -> email.message.EmailMessage:
    msg = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def problems(data: bytes) -> list[str]:
    """Every defect the stdlib parser reports, in any part or header, after decoding bodies."""
    found = []
    for part in parse(data).walk():
        for name, value in part.items():
            found += [f"{name}: {defect!r}" for defect in value.defects]
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if part.get_content_maintype() == "text":
                charset = part.get_content_charset("us-ascii")
                try:
                    payload.decode(charset)
                except (LookupError, UnicodeDecodeError) as exc:
                    found.append(f"{part.get_content_type()}: {exc!r}")
        found += [repr(defect) for defect in part.defects]
    return found


def line_problems(data: bytes) -> list[str]:
    found = []
    if not data.endswith(b"\r\n"):
        found.append("no final CRLF")
    if not data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r"):
        found.append("a bare CR or LF")
    long = [len(line) for line in data.split(b"\r\n") if len(line) > 998]
    if long:
        found.append(f"lines over 998 octets: {long}")
    return found


def header_block(data: bytes) -> bytes:
    return data[: data.index(b"\r\n\r\n")]


def sample(seeds: Iterable[int], count: int, **options: object) -> list[Message]:
    out = []
    for seed in seeds:
        out += fake_messages(count, seed=seed, **{**SMALL, **options})  # type: ignore[arg-type]
    return out


@pytest.mark.slow
def test_every_clean_message_parses_without_defects() -> None:
    messages = sample(range(4), 45, malformed=0.1)
    clean = [m for m in messages if "malformed" not in m.flags]
    assert len(clean) > 140
    for message in clean:
        assert problems(message.data) == [], (message, message.flags)
        assert line_problems(message.data) == [], message
        parsed = parse(message.data)
        for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
            assert parsed[name] is not None, (name, message)
        assert message.size == len(message.data)


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_has_its_structure(shape: str) -> None:
    messages = sample([11], 12, shapes={shape: 1})
    for message in messages:
        assert shape in message.flags
        assert problems(message.data) == []
        parsed = parse(message.data)
        types = [p.get_content_type() for p in parsed.walk()]
        if shape == "plain":
            assert types == ["text/plain"]
        elif shape == "html":
            assert types == ["text/html"]
            assert "</html>" in parsed.get_content()
        elif shape == "alternative":
            assert types == ["multipart/alternative", "text/plain", "text/html"]
        elif shape == "attachment":
            assert types[0] == "multipart/mixed"
            assert any(p.get_filename() for p in parsed.walk())
        elif shape == "inline_image":
            assert "multipart/related" in types
            html = next(p for p in parsed.walk() if p.get_content_type() == "text/html")
            images = [p for p in parsed.walk() if p.get_content_maintype() == "image"]
            assert images
            for image in images:
                assert image["Content-Disposition"].startswith("inline")
                assert "cid:" + image["Content-ID"].strip("<>") in html.get_content()
        elif shape == "forward":
            assert "message/rfc822" in types
            assert str(parsed["Subject"]).startswith(("Fwd: ", "Re: "))
            inner = next(p for p in parsed.walk() if p.get_content_type() == "message/rfc822")
            assert inner.get_content()["Message-ID"]
        else:
            attachment = next(p for p in parsed.walk() if p.get_filename())
            assert len(attachment.get_payload(decode=True)) > 5_000


@pytest.mark.slow
def test_generated_maildrops_cover_what_clients_meet() -> None:
    messages = sample(range(3), 50, non_ascii=0.6)
    raw_headers = [header_block(m.data) for m in messages]
    parts = [p for m in messages for p in parse(m.data).walk() if not p.is_multipart()]
    texts = [p for p in parts if p.get_content_maintype() == "text"]

    def has(charset_prefix: str, cte: str) -> bool:
        return any(
            p.get_content_charset("").startswith(charset_prefix)
            and p["Content-Transfer-Encoding"] == cte
            for p in texts
        )

    # Non-ASCII names and subjects as RFC 2047 encoded-words, B and Q, UTF-8 and legacy.
    assert any(b"=?utf-8?B?" in h or b"=?UTF-8?B?" in h for h in raw_headers)
    assert any(re.search(rb"=\?(utf|UTF)-8\?Q\?", h) for h in raw_headers)
    assert any(re.search(rb"=\?(iso|ISO|koi|KOI|windows|WINDOWS)", h) for h in raw_headers)
    decoded = [str(parse(m.data)["From"]) + str(parse(m.data)["Subject"]) for m in messages]
    assert any(not text.isascii() for text in decoded)
    # Bodies: UTF-8 and ISO-8859 in 8bit, quoted-printable and base64.
    for charset in ("utf-8", "iso-8859"):
        for cte in ("8bit", "quoted-printable", "base64"):
            assert has(charset, cte), (charset, cte)
    assert has("us-ascii", "7bit")
    # Long lines, lines starting with '.', attachments of several types, RFC 2231 names.
    assert any(max(map(len, m.data.split(b"\r\n"))) > 500 for m in messages)
    assert any(b"\r\n.\r\n" in m.data or b"\r\n.." in m.data for m in messages)
    kinds = {p.get_content_type() for p in parts if p.get_filename()}
    assert {"application/pdf", "image/png", "image/jpeg", "text/csv"} <= kinds
    assert any(b"filename*" in m.data for m in messages)
    assert any("reply" in m.flags for m in messages)


@pytest.mark.slow
def test_replies_thread_to_earlier_messages() -> None:
    messages = list(fake_messages(100, seed=5, replies=0.6, **SMALL))
    ids: dict[str, int] = {}
    replies = 0
    for n, message in enumerate(messages):
        parsed = parse(message.data)
        if "reply" in message.flags:
            replies += 1
            parent = parsed["In-Reply-To"].strip("<>")
            refs = str(parsed["References"]).split()
            assert refs[-1] == parsed["In-Reply-To"]
            assert parent in ids and ids[parent] < n  # answers a message already delivered
            assert str(parsed["Subject"]).startswith("Re: ")
            assert 1 <= len(refs) <= 8
        else:
            assert parsed["In-Reply-To"] is None
        ids[parsed["Message-ID"].strip("<>")] = n
    assert replies > 30


@pytest.mark.slow
def test_recipient_and_locale_knobs() -> None:
    owner = "Alice Example <alice@example.org>"
    for message in fake_messages(20, seed=2, recipient=owner, locale="de_DE", **SMALL):
        parsed = parse(message.data)
        assert "alice@example.org" in str(parsed["To"])
        assert b"for <alice@example.org>" in message.data
    german = MessageFactory(seed=2, locale="de_DE", non_ascii=0.0, shapes={"plain": 1}, **SMALL)
    text = " ".join(parse(german.message(i).data).get_content() for i in range(10))
    assert any(word in text for word in ("Hallo", "Liebe", "Guten Tag"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_messages_are_labelled_and_broken_as_labelled(kind: str) -> None:
    messages = sample([3], 30, malformed=1.0, malformed_kinds=(kind,))
    labelled = [m for m in messages if f"malformed:{kind}" in m.flags]
    assert len(labelled) >= 10
    for message in messages:
        labels = {f for f in message.flags if f.startswith("malformed:")}
        assert ("malformed" in message.flags) == bool(labels)
        if not labels:  # too small to carry the fault: then it is a clean message
            assert problems(message.data) == [] and line_problems(message.data) == []
    for message in labelled:
        data = message.data
        parsed = parse(data)
        if kind == "bad-charset":
            text = next(p for p in parsed.walk() if p.get_content_maintype() == "text")
            with pytest.raises(LookupError):
                codecs.lookup(text.get_content_charset())
        elif kind == "missing-date":
            assert parsed["Date"] is None
        elif kind == "bare-lf":
            assert re.search(rb"[^\r]\n", data)
            assert not re.search(rb"[^\r]\n\.", data)  # never a dot after a bare LF
        elif kind == "8bit-header":
            assert not header_block(data).isascii()
        elif kind == "overlong-line":
            assert max(map(len, data.split(b"\r\n"))) > 998
        else:
            assert problems(data), message  # unterminated multipart, bad base64 padding


@pytest.mark.slow
def test_malformed_share_follows_the_knob() -> None:
    assert not any("malformed" in m.flags for m in sample([1], 60))
    share = sum("malformed" in m.flags for m in sample([1], 200, malformed=0.25))
    assert 25 <= share <= 75


@pytest.mark.slow
def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    def run(seed: int) -> list[tuple[str, bytes, frozenset[str]]]:
        factory = MessageFactory(seed=seed, malformed=0.2, **SMALL)  # type: ignore[arg-type]
        return [(m.uid, m.data, m.flags) for m in factory.messages(40)]

    assert run(0) == run(0)
    assert run(0) != run(1)
    other = run(1)
    assert not {uid for uid, _, _ in run(0)} & {uid for uid, _, _ in other}
    # Message n does not depend on how many messages were asked for, or on the order.
    factory = MessageFactory(seed=0, malformed=0.2, **SMALL)  # type: ignore[arg-type]
    assert factory.message(33).data == run(0)[33][1]
    assert [m.data for m in factory.messages(5, start=30)] == [d for _, d, _ in run(0)[30:35]]


GENERATE = """
import hashlib, sys
from pop3mock import MessageFactory
factory = MessageFactory(seed=0, malformed=0.2, text_size=(1500, 6000),
                         attachment_size=(200, 8000), large_size=(10000, 30000))
digest = hashlib.sha256()
for message in factory.messages(30):
    digest.update(message.uid.encode() + message.data + repr(sorted(message.flags)).encode())
print(digest.hexdigest())
"""


@pytest.mark.slow
def test_independent_processes_generate_the_same_bytes() -> None:
    # Another interpreter with other hash randomisation: nothing may depend on str hashes.
    digest = hashlib.sha256()
    factory = MessageFactory(seed=0, malformed=0.2, **SMALL)  # type: ignore[arg-type]
    for message in factory.messages(30):
        digest.update(message.uid.encode() + message.data + repr(sorted(message.flags)).encode())
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", GENERATE], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == digest.hexdigest()


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=-(2**70), max_value=2**70), st.integers(0, 10**9))
def test_any_seed_and_index_gives_a_message_of_the_announced_size(seed: int, index: int) -> None:
    factory = MessageFactory(seed=seed, malformed=0.1, **SMALL)  # type: ignore[arg-type]
    message = factory.message(index)
    assert message.size == factory.size(index)
    assert message.uid == factory.uid(index)
    if "malformed" not in message.flags:
        assert problems(message.data) == []
        assert line_problems(message.data) == []


def unstuff(reply: bytes) -> bytes:
    body = reply[reply.index(b"\r\n") + 2 : -3]  # between the status line and ".\r\n"
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in body.split(b"\r\n"))


@pytest.mark.slow
def test_retr_round_trip_gives_the_same_bytes() -> None:
    messages = list(fake_messages(40, seed=4, malformed=0.25, **SMALL))
    assert any("malformed:bare-lf" in m.flags for m in messages)
    with POP3Server(users={"alice": "pw"}) as server:
        server.mailbox("alice").add(*messages)
        with RawClient(server.host, server.port) as raw:
            raw.line()
            raw.cmd("USER alice")
            raw.cmd("PASS pw")
            for n, message in enumerate(messages, 1):
                raw.send(b"RETR %d\r\n" % n)
                assert unstuff(raw.multiline()) == message.data, (n, message.flags)
            raw.cmd("QUIT")
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("pw")
        for n, message in enumerate(messages, 1):
            if "malformed:bare-lf" in message.flags:
                continue  # poplib splits lines on LF; the raw client above checked it
            _, lines, octets = client.retr(n)
            assert b"".join(line + b"\r\n" for line in lines) == message.data
            assert octets == message.size
        client.quit()
    server.check()


@pytest.mark.parametrize("seed", [0, 9, 2**40])
def test_generated_columns_pass_the_checks_they_skip(seed: int) -> None:
    # The generator's maildrops are made without LazyMaildrop's checks: they must pass them.
    drop = lazy_fake_messages(3_000, seed=seed)
    checked = LazyMaildrop(drop.uids, drop.sizes, lambda n: drop[n].message)
    assert checked.uids == drop.uids and checked.total_size == drop.total_size
    assert len(set(drop.uids)) == len(drop.uids)


@pytest.mark.slow
def test_lazy_maildrop_of_100000_answers_without_building_bodies() -> None:
    messages = lazy_fake_messages(100_000, seed=9)
    assert isinstance(messages, LazyMaildrop) and len(messages) == 100_000
    with POP3Server() as server:
        server.add_user("big", "pw", messages)
        client = poplib.POP3(server.host, server.port, timeout=30)
        client.user("big")
        client.pass_("pw")
        assert client.stat() == (100_000, sum(m.size for m in messages))
        _, listing, _ = client.list()
        assert len(listing) == 100_000
        assert listing[77_776] == b"77777 %d" % messages[77_776].size
        _, uids, _ = client.uidl()
        assert uids[5] == b"6 " + messages[5].uid.encode()
        assert [n for n, m in enumerate(messages) if m.loaded] == []
        _, lines, octets = client.retr(54_321)
        assert [n for n, m in enumerate(messages) if m.loaded] == [54_320]
        expected = MessageFactory(seed=9).message(54_320)
        assert b"".join(line + b"\r\n" for line in lines) == expected.data
        assert octets == expected.size == messages[54_320].size
        client.quit()
    server.check()


@pytest.mark.slow
def test_lazy_and_eager_are_the_same_maildrop() -> None:
    factory = MessageFactory(seed=21, malformed=0.1, **SMALL)  # type: ignore[arg-type]
    lazy = factory.lazy(300)
    eager = list(factory.messages(20))
    assert [m.uid for m in lazy[:20]] == [m.uid for m in eager]
    assert [m.size for m in lazy[:20]] == [m.size for m in eager]
    assert [lazy[n].message.data for n in (0, 7, 19)] == [eager[n].data for n in (0, 7, 19)]
    assert lazy[299].message.flags == factory.message(299).flags
    assert [m.uid for m in factory.lazy(10, start=290)] == [m.uid for m in lazy[290:]]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"shapes": {"pie": 1}}, "unknown message shapes"),
        ({"shapes": {"plain": 0}}, "at least one > 0"),
        ({"text_size": (100, 200)}, "text_size"),
        ({"attachment_size": (5_000, 1_000)}, "attachment_size"),
        ({"malformed": 1.5}, "malformed"),
        ({"replies": -0.1}, "replies"),
        ({"malformed_kinds": ("typo",)}, "malformed_kinds"),
        ({"locale": "xx_YY"}, "unknown Faker locale"),
        ({"other_locales": ("de_DE", "zz")}, "unknown Faker locale"),
        ({"recipient": "nobody"}, "recipient"),
    ],
)
def test_bad_knobs_are_configuration_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        MessageFactory(**options)  # type: ignore[arg-type]


def test_count_and_index_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError, match="count"):
        fake_messages(-1)
    with pytest.raises(ConfigurationError, match="count"):
        lazy_fake_messages(-5)
    with pytest.raises(ConfigurationError, match="index"):
        MessageFactory().message(-1)
    with pytest.raises(ConfigurationError, match="start"):
        MessageFactory().lazy(3, start=-1)


def test_lazy_slices_across_plan_blocks_match_message_by_message() -> None:
    factory = MessageFactory(seed=4, malformed=0.2)
    for start, count in [(0, 0), (0, 1), (255, 2), (250, 600), (1_000, 256)]:
        lazy = factory.lazy(count, start=start)
        assert [(m.uid, m.size) for m in lazy] == [
            (factory.uid(i), factory.size(i)) for i in range(start, start + count)
        ]


LAZY_WITHOUT_FAKER = """
import sys
from pop3mock import lazy_fake_messages
messages = lazy_fake_messages(1000, seed=3)
print("faker" in sys.modules, sum(m.size for m in messages) > 0)
messages[5].message
print("faker" in sys.modules)
"""


@pytest.mark.slow
def test_a_lazy_maildrop_does_not_load_faker_until_a_body_is_built() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_WITHOUT_FAKER], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True", "True"]
