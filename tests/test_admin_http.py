"""HTTP/1.1 as the control API speaks it, over loopback with raw sockets: keep-alive,
pipelining, HTTP/1.0, Expect, and every malformed or oversized request refused with a JSON
error that closes the connection."""

from __future__ import annotations

import email.utils
import json
import socket
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from pop3mock import POP3Server
from pop3mock.admin import AdminServer

MESSAGE = b"Subject: hi\r\n\r\nHello\r\n"


@pytest.fixture
def pop() -> Iterator[POP3Server]:
    with POP3Server(users={"alice": "secret"}) as server:
        yield server


@pytest.fixture
def admin(pop: POP3Server) -> Iterator[AdminServer]:
    with AdminServer(pop) as served:
        yield served


class Answer:
    def __init__(self, status_line: bytes, fields: dict[str, str], body: bytes) -> None:
        self.version, status, self.phrase = status_line.decode().split(" ", 2)
        self.status = int(status)
        self.fields = fields
        self.body = body

    def json(self) -> dict[str, object]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def read_answer(reader: BinaryIO, *, head_only: bool = False) -> Answer:
    status_line = reader.readline().rstrip(b"\r\n")
    assert status_line, "the connection closed before a reply"
    fields: dict[str, str] = {}
    while line := reader.readline().rstrip(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        fields[name.lower()] = value.strip()
    length = 0 if head_only else int(fields.get("content-length", "0"))
    return Answer(status_line, fields, reader.read(length))


def exchange(admin: AdminServer, data: bytes, count: int = 1) -> tuple[list[Answer], bytes]:
    """Send `data`, read `count` replies, then whatever comes until the server closes."""
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        sock.sendall(data)
        reader = sock.makefile("rb")
        answers = [read_answer(reader) for _ in range(count)]
        sock.shutdown(socket.SHUT_WR)
        return answers, reader.read()


def refused(admin: AdminServer, data: bytes) -> Answer:
    """The one reply to `data`, after which the server closed the connection."""
    (answer,), rest = exchange(admin, data)
    assert rest == b""
    assert answer.fields["connection"] == "close"
    assert "\n" not in str(answer.json()["error"])
    return answer


def test_keep_alive_and_pipelining(pop: POP3Server, admin: AdminServer) -> None:
    post = (
        b"POST /users/alice/messages HTTP/1.1\r\nHost: x\r\nContent-Type: message/rfc822\r\n"
        b"Content-Length: %d\r\n\r\n" % len(MESSAGE) + MESSAGE
    )
    # Two requests in one segment, and an empty line before the second (RFC 9112 2.2).
    answers, rest = exchange(admin, post + b"\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", 2)
    assert [a.status for a in answers] == [201, 200]
    assert answers[0].json()["uids"] == list(pop.mailbox("alice").uids)
    assert "connection" not in answers[1].fields
    assert rest == b""  # the client ended the connection, the server followed


def test_http_1_0_closes_unless_asked_to_keep_alive(admin: AdminServer) -> None:
    (answer,), rest = exchange(admin, b"GET /health HTTP/1.0\r\n\r\n")
    assert (answer.version, answer.status, answer.fields["connection"]) == (
        "HTTP/1.1",
        200,
        "close",
    )
    assert rest == b""
    kept = b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    answers, _ = exchange(admin, kept * 2, 2)
    assert [a.fields["connection"] for a in answers] == ["keep-alive", "keep-alive"]


def test_date_field_and_no_body_for_head(admin: AdminServer) -> None:
    (answer,), _ = exchange(admin, b"GET /health HTTP/1.1\r\n\r\n")
    assert email.utils.parsedate_to_datetime(answer.fields["date"]).tzname() == "UTC"
    assert answer.fields["cache-control"] == "no-store"
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        sock.sendall(b"HEAD /health HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n")
        reader = sock.makefile("rb")
        head = read_answer(reader, head_only=True)
        assert (head.status, head.fields["allow"]) == (405, "GET")
        assert int(head.fields["content-length"]) > 0
        # No body came: the next octets are the next reply.
        assert read_answer(reader).status == 200


def test_field_names_in_any_case_and_folded_values(pop: POP3Server) -> None:
    with AdminServer(pop, token="s3cret") as admin:
        request = (
            b"POST /users/alice/messages HTTP/1.1\r\nAUTHORIZATION: Bearer\r\n s3cret\r\n"
            b"content-TYPE: Message/RFC822\r\ncontent-length: %d\r\n\r\n" % len(MESSAGE)
        )
        (answer,), _ = exchange(admin, request + MESSAGE)
        assert answer.status == 201, answer.body
        assert len(pop.mailbox("alice")) == 1


def test_expect_100_continue(admin: AdminServer) -> None:
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        sock.sendall(
            b"POST /users/alice/messages HTTP/1.1\r\nExpect: 100-continue\r\n"
            b"Content-Type: message/rfc822\r\nContent-Length: %d\r\n\r\n" % len(MESSAGE)
        )
        reader = sock.makefile("rb")
        assert reader.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.readline() == b"\r\n"
        sock.sendall(MESSAGE)
        assert read_answer(reader).status == 201
    answer = refused(
        admin, b"POST /users/alice/messages HTTP/1.1\r\nExpect: magic\r\nContent-Length: 1\r\n\r\n"
    )
    assert answer.status == 417


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /health", 400),
        (b"GET /health HTTP/1.1 extra", 400),
        (b"GET health HTTP/1.1", 400),
        (b'GET /a"b HTTP/1.1 x"y', 400),
        (b"G(T /health HTTP/1.1", 400),
        (b"GET /health HTTP/2.0", 505),
    ],
)
def test_a_malformed_request_line_gets_json_and_a_close(
    admin: AdminServer, request_line: bytes, status: int
) -> None:
    answer = refused(admin, request_line + b"\r\nHost: x\r\n\r\n")
    assert answer.status == status
    assert answer.fields["content-type"] == "application/json; charset=utf-8"


def test_oversized_heads_are_refused_before_they_end(admin: AdminServer) -> None:
    # Neither head ends: a server waiting for the blank line would never answer.
    assert refused(admin, b"GET /" + b"a" * 70_000).status == 414
    assert refused(admin, b"GET / HTTP/1.1\r\nX: " + b"v" * 70_000).status == 431
    many = b"".join(b"X-%d: v\r\n" % n for n in range(101))
    assert refused(admin, b"GET /health HTTP/1.1\r\n" + many + b"\r\n").status == 431


@pytest.mark.parametrize("length", [b"ten", b"5\r\nContent-Length: 6", b"-5", b"5, 6"])
def test_an_invalid_content_length(pop: POP3Server, admin: AdminServer, length: bytes) -> None:
    answer = refused(
        admin,
        b"POST /users/alice/messages HTTP/1.1\r\nContent-Type: message/rfc822\r\n"
        b"Content-Length: " + length + b"\r\n\r\n" + MESSAGE,
    )
    assert (answer.status, answer.json()["field"]) == (400, "Content-Length")
    assert len(pop.mailbox("alice")) == 0


def test_a_body_without_content_length_or_cut_short(pop: POP3Server, admin: AdminServer) -> None:
    # Without Content-Length there is no body: the message is refused as empty.
    (answer,), _ = exchange(
        admin, b"POST /users/alice/messages HTTP/1.1\r\nContent-Type: message/rfc822\r\n\r\n"
    )
    assert (answer.status, answer.json()["field"]) == (400, "body")
    # A body that ends before its Content-Length: refused, and the connection closed.
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        sock.sendall(
            b"POST /users/alice/messages HTTP/1.1\r\nContent-Type: message/rfc822\r\n"
            b"Content-Length: 1000\r\n\r\n" + MESSAGE
        )
        sock.shutdown(socket.SHUT_WR)
        reader = sock.makefile("rb")
        answer = read_answer(reader)
        assert (answer.status, answer.fields["connection"]) == (400, "close")
        assert reader.read() == b""
    assert len(pop.mailbox("alice")) == 0


def test_a_client_that_leaves_mid_head_gets_no_reply(pop: POP3Server, admin: AdminServer) -> None:
    for partial in (b"GET /hea", b"GET /health HTTP/1.1\r\nHost: x\r\n"):
        with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
            sock.sendall(partial)
            sock.shutdown(socket.SHUT_WR)
            assert sock.makefile("rb").read() == b""
    (answer,), _ = exchange(admin, b"GET /health HTTP/1.1\r\n\r\n")
    assert answer.status == 200
    pop.check()


@pytest.mark.slow
def test_an_idle_connection_is_closed(pop: POP3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit is kept by the kernel (SO_RCVTIMEO): one second here instead of 120.
    monkeypatch.setattr("pop3mock.admin._server.IDLE_LIMIT", 1)
    with AdminServer(pop) as admin:
        with socket.create_connection(("127.0.0.1", admin.port), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n\r\n")
            reader = sock.makefile("rb")
            assert read_answer(reader).status == 200
            assert reader.read() == b""  # closed by the server, without a reply
        with socket.create_connection(("127.0.0.1", admin.port), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # a head that never ends
            assert sock.makefile("rb").read() == b""


def test_a_request_sent_again_is_answered_anew(pop: POP3Server, admin: AdminServer) -> None:
    """The API keeps the heads and targets it has read, to read a repeated request faster;
    each request is still answered from the state of that moment, by its own method."""
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    post = (
        b"POST /users/alice/messages HTTP/1.1\r\nContent-Type: message/rfc822\r\n"
        b"Content-Length: %d\r\n\r\n" % len(MESSAGE) + MESSAGE
    )
    wrong = b"PUT /users/alice/messages HTTP/1.1\r\n\r\n"
    answers, _ = exchange(admin, (health + post) * 3 + wrong + health, 8)
    assert [a.status for a in answers] == [200, 201] * 3 + [405, 200]
    assert [a.json()["uids"] for a in answers[1:6:2]] == [[u] for u in pop.mailbox("alice").uids]
    assert answers[6].fields["allow"] == "DELETE, POST"
    # The repeated GET /health follows the server: serving, then stopped.
    with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        sock.sendall(health)
        assert read_answer(reader).json()["status"] == "serving"
        pop.stop()
        sock.sendall(health)
        stopped = read_answer(reader)
        assert (stopped.status, stopped.json()["status"]) == (503, "stopped")


def test_more_distinct_requests_than_the_api_keeps(admin: AdminServer) -> None:
    # Over the number of heads and targets kept (256): every one is read on its own.
    heads = [b"GET /users/n%d/mailbox HTTP/1.1\r\nX-N: %d\r\n\r\n" % (n, n) for n in range(300)]
    answers, _ = exchange(admin, b"".join(heads) * 2, 600)
    assert {a.status for a in answers} == {404}
    assert [a.json()["error"] for a in answers] == [f"no user 'n{n}'" for n in range(300)] * 2


def test_a_kept_request_still_needs_the_token(pop: POP3Server) -> None:
    with AdminServer(pop, token="s3cret") as admin:
        right = b"GET /health HTTP/1.1\r\nAuthorization: Bearer s3cret\r\n\r\n"
        wrong = b"GET /health HTTP/1.1\r\nAuthorization: Bearer s3cre\r\n\r\n"
        answers, _ = exchange(admin, (right + wrong) * 2, 4)
        assert [a.status for a in answers] == [200, 401, 200, 401]
