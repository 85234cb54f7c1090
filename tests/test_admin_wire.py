"""The control API's HTTP/1.1 reader and writer, without sockets (pop3mock.admin._wire)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock.admin._http import ApiError, Reply, json_reply
from pop3mock.admin._wire import (
    MAX_FIELDS,
    MAX_HEAD,
    MAX_LINE,
    Head,
    head_end,
    parse_head,
    render,
    skip_blank_lines,
)


def refused(data: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_head(data)
    return caught.value


def test_a_request_head() -> None:
    head = parse_head(
        b"POST /users/alice/messages?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: message/rfc822\r\nContent-Length: 12\r\n\r\n"
    )
    assert (head.method, head.target, head.version) == (
        "POST",
        "/users/alice/messages?x=1",
        (1, 1),
    )
    assert head.fields == {
        "host": "127.0.0.1",
        "content-type": "message/rfc822",
        "content-length": "12",
    }
    assert head.content_length == 12
    assert head.keep_alive


def test_field_names_are_case_insensitive_and_values_trimmed() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\ncOnTeNt-TyPe:  \tapplication/json \t\r\n\r\n")
    assert head.get("content-type") == "application/json"


def test_folded_fields_are_joined_with_one_space() -> None:
    head = parse_head(
        b"GET / HTTP/1.1\r\nX-Long: one\r\n  two\r\n\tthree\r\nAuthorization: Bearer\r\n tok\r\n\r\n"
    )
    assert head.fields == {"x-long": "one two three", "authorization": "Bearer tok"}
    assert refused(b"GET / HTTP/1.1\r\n folded: first\r\n\r\n").status == 400


def test_repeated_fields_are_joined_and_content_lengths_must_agree() -> None:
    head = parse_head(b"GET / HTTP/1.1\r\nAccept: a\r\naccept: b\r\n\r\n")
    assert head.get("accept") == "a, b"
    same = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
    assert same.content_length == 5
    for lengths in (b"5\r\nContent-Length: 6", b"5, 6", b"-1", b"x", b"", b"\xd9\xa3"):
        error = refused(b"POST / HTTP/1.1\r\nContent-Length: " + lengths + b"\r\n\r\n")
        assert (error.status, error.extra["field"]) == (400, "Content-Length")


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET /", 400),
        (b"GET", 400),
        (b"GET / HTTP/1.1 extra", 400),
        (b"G(T / HTTP/1.1", 400),
        (b"GET / HTTP/one", 400),
        (b"GET / http/1.1", 400),
        (b"GET health HTTP/1.1", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/0.9", 505),
    ],
)
def test_a_malformed_request_line(line: bytes, status: int) -> None:
    error = refused(line + b"\r\nHost: x\r\n\r\n")
    assert error.status == status
    assert "\n" not in error.message


def test_lenient_where_the_rfc_allows() -> None:
    # Bare LF line ends, runs of white space in the request line, HTTP/1.0, absolute form.
    head = parse_head(b"GET  /health \t HTTP/1.0\nHost: x\n\n")
    assert (head.target, head.version, head.keep_alive) == ("/health", (1, 0), False)
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive
    assert parse_head(b"GET http://h:1/health HTTP/1.1\r\n\r\n").target == "http://h:1/health"
    assert parse_head(b"GET //health HTTP/1.1\r\n\r\n").target == "/health"


def test_malformed_fields_never_show_their_value() -> None:
    for line in (b"Authorization Bearer s3cret", b"Auth orization: Bearer s3cret"):
        error = refused(b"GET / HTTP/1.1\r\n" + line + b"\r\n\r\n")
        assert error.status == 400 and "s3cret" not in error.message
    error = refused(b"GET / HTTP/1.1\r\nAuthorization: Bearer s3\x00cret\r\n\r\n")
    assert error.status == 400 and "s3" not in error.message


def test_the_limits() -> None:
    fields = b"".join(b"X-%d: v\r\n" % n for n in range(MAX_FIELDS))
    assert len(parse_head(b"GET / HTTP/1.1\r\n" + fields + b"\r\n").fields) == MAX_FIELDS
    too_many = b"GET / HTTP/1.1\r\n" + fields + b"X-Last: v\r\n\r\n"
    assert refused(too_many).status == 431
    # Head not ended yet: refused as soon as it cannot fit any more.
    line = b"GET /" + b"a" * (MAX_LINE - 5)
    assert head_end(line + b"\r") == -1
    with pytest.raises(ApiError) as caught:
        head_end(line + b"a\r")
    assert caught.value.status == 414
    huge = b"GET / HTTP/1.1\r\n" + b"X: " + b"v" * MAX_HEAD
    with pytest.raises(ApiError) as caught:
        head_end(huge)
    assert caught.value.status == 431
    assert head_end(b"GET / HTTP/1.1\r\nX: v\r\n") == -1


def test_blank_lines_before_a_request_are_skipped() -> None:
    data = bytearray(b"\r\n\n\r\nGET / HTTP/1.1\r\n\r\n")
    skip_blank_lines(data)
    assert data == b"GET / HTTP/1.1\r\n\r\n"
    assert head_end(data) == len(data)


def test_a_reply_in_one_piece() -> None:
    reply = json_reply(405, {"error": "no"}, {"Allow": "GET"})
    data = render(reply, date="Mon, 07 Dec 2026 06:00:00 GMT", close=True)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"HTTP/1.1 405 Method Not Allowed",
        b"Date: Mon, 07 Dec 2026 06:00:00 GMT",
        b"Content-Type: application/json; charset=utf-8",
        b"Content-Length: 15",
        b"Cache-Control: no-store",
        b"Allow: GET",
        b"Connection: close",
    ]
    assert json.loads(body) == {"error": "no"}
    raw = render(Reply(200, b"x", "message/rfc822"), date="d", close=False, body=False)
    assert raw.endswith(b"Content-Length: 1\r\nCache-Control: no-store\r\n\r\n")
    kept = render(reply, date="d", close=False, keep_alive_10=True)
    assert b"\r\nConnection: keep-alive\r\n\r\n" in kept


# -- properties ----------------------------------------------------------------------------

_TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~", min_size=1, max_size=12)  # fmt: skip
_WORD = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=10)
_VALUE = st.lists(_WORD, max_size=4).map(" ".join)
_PATH = st.text("abcdefghijklmnopqrstuvwxyz0123456789/%?=&-._~", max_size=30).map(lambda p: "/" + p)


@pytest.mark.slow
@given(
    method=_TOKEN,
    path=_PATH,
    minor=st.integers(0, 9),
    fields=st.lists(st.tuples(_TOKEN, _VALUE, st.booleans()), max_size=12),
    bare_lf=st.booleans(),
)
def test_what_a_client_writes_is_what_is_read(
    method: str,
    path: str,
    minor: int,
    fields: list[tuple[str, str, bool]],
    bare_lf: bool,
) -> None:
    """Any head (names in any case, values folded at a space or not, CRLF or bare LF) is
    read back as written: lower-case names, repeated fields joined, values trimmed."""
    end = "\n" if bare_lf else "\r\n"
    lines = [f"{method} {path} HTTP/1.{minor}"]
    expected: dict[str, str] = {}
    for name, value, fold in fields:
        if name.lower() == "content-length":
            continue
        if fold and " " in value:
            first, _, rest = value.partition(" ")
            lines.append(f"{name}:{first}{end}\t {rest}")
        else:
            lines.append(f"{name}: {value} ")
        key = name.lower()
        expected[key] = f"{expected[key]}, {value}" if key in expected else value
    data = (end.join(lines) + end + end).encode("latin-1")
    assert head_end(data) == len(data)
    head = parse_head(data)
    assert (head.method, head.version) == (method, (1, minor))
    assert head.target == ("/" + path.lstrip("/") if path.startswith("//") else path)
    assert dict(head.fields) == expected
    # CRLF heads are read by one regular expression when they can be; the same head with
    # bare LF line ends is read field by field, and must come out the same.
    assert parse_head(data.replace(b"\r\n", b"\n")) == head


def _read(data: bytes) -> Head | ApiError:
    try:
        end = head_end(data)
        return parse_head(data[:end] if end >= 0 else data + b"\r\n\r\n")
    except ApiError as exc:
        return exc


@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_with_a_status(data: bytes) -> None:
    read = _read(data)
    if isinstance(read, ApiError):
        assert read.status in (400, 414, 431, 505)
        assert "\n" not in read.message
        # The reply is JSON, whatever the request held.
        assert isinstance(json.loads(read.reply().body)["error"], str)
    else:
        assert read.method
        assert read.target.startswith("/") or "://" in read.target


@given(
    secret=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=4, max_size=20).map(
        lambda s: "Zq" + s
    ),
    how=st.sampled_from(
        [
            "Authorization Bearer {}",
            "Authorization: Bearer {}\x00",
            "Auth orization: Bearer {}",
            "Authorization: Bearer {}\r\nBroken",
        ]
    ),
)
def test_a_refusal_never_quotes_a_credential(secret: str, how: str) -> None:
    data = "GET / HTTP/1.1\r\n" + how.format(secret) + "\r\n\r\n"
    error = refused(data.encode("latin-1"))
    assert error.status == 400
    assert secret not in error.message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=_JSON)
def test_a_json_reply_is_compact_utf8_json(value: object) -> None:
    """The encoder the API builds once writes what json.dumps writes with the same options."""
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"
    reply = json_reply(200, value)
    assert reply.body == expected.encode("utf-8")
