"""The HTTP control API (pop3mock.admin) against a live POP3Server, over loopback."""

from __future__ import annotations

import json
import poplib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from admin_helpers import ApiClient
from pop3mock import ConfigurationError, POP3Server, lazy_fake_messages
from pop3mock.admin import AdminServer, openapi_document

RAW = b"From: a@example.test\r\nSubject: hello there\r\n\r\nBody line\r\n"


@pytest.fixture
def pop() -> Iterator[POP3Server]:
    server = POP3Server(users={"alice": "secret"})
    server.mailbox("alice").add(b"Subject: configured\r\n\r\none\r\n")
    server.faults.add_spec("NOOP once: error configured")
    with server:
        yield server


@pytest.fixture
def admin(pop: POP3Server) -> Iterator[AdminServer]:
    with AdminServer(pop) as served:
        yield served


@pytest.fixture
def api(admin: AdminServer) -> Iterator[ApiClient]:
    with ApiClient(admin.url) as client:
        yield client


def login(pop: POP3Server, user: str = "alice", password: str = "secret") -> poplib.POP3:
    client = poplib.POP3(pop.host, pop.port, timeout=10)
    client.user(user)
    client.pass_(password)
    return client


# -- routes -----------------------------------------------------------------------------------


def test_health_names_the_pop3_ports(pop: POP3Server, api: ApiClient) -> None:
    body = api.get("/health")
    assert body == {
        "status": "serving",
        "host": "127.0.0.1",
        "port": pop.port,
        "tls_port": None,
        "url": pop.url,
    }


def test_users_added_listed_and_removed(pop: POP3Server, api: ApiClient) -> None:
    reply = api.call(
        "POST", "/users", {"name": "bob", "password": "pw", "messages": [RAW.decode()]}
    )
    assert reply.status == 201, reply
    assert reply.json()["name"] == "bob"
    assert reply.json()["uids"] == list(pop.mailbox("bob").uids)
    users = api.get("/users")["users"]
    assert [u["name"] for u in users] == ["alice", "bob"]
    assert "secret" not in json.dumps(users) and "pw" not in json.dumps(users)
    client = login(pop, "bob", "pw")
    assert client.stat()[0] == 1
    client.quit()
    assert api.call("POST", "/users", {"name": "bob", "password": "x"}).status == 409
    assert api.call("DELETE", "/users/bob").json() == {"deleted": "bob"}
    assert "bob" not in pop.users
    with pytest.raises(poplib.error_proto):
        login(pop, "bob", "pw")


def test_fake_maildrop_is_the_seeded_generator(pop: POP3Server, api: ApiClient) -> None:
    reply = api.call("POST", "/users", {"name": "carol", "password": "pw", "fake": 5, "seed": 7})
    assert reply.json()["uids"] == list(lazy_fake_messages(5, seed=7).uids)
    more = api.call("POST", "/users/carol/messages", {"fake": 2, "seed": 8}).json()["uids"]
    assert more == list(lazy_fake_messages(2, seed=8).uids)
    assert len(pop.mailbox("carol")) == 7


def test_mailbox_shows_what_clients_did(pop: POP3Server, api: ApiClient) -> None:
    api.call("POST", "/users/alice/messages", RAW, content_type="message/rfc822")
    client = login(pop)
    client.retr(2)
    client.dele(1)
    client.quit()
    box = api.get("/users/alice/mailbox")
    uid = pop.mailbox("alice").uids[0]
    assert box["count"] == 1 and box["size"] == len(RAW)
    assert box["messages"] == [
        {"number": 1, "uid": uid, "size": len(RAW), "subject": "hello there"}
    ]
    assert len(box["deleted"]) == 1
    assert box["retrieved"] == {uid: 1}
    assert (box["locked"], box["logins"]) == (False, 1)
    raw = api.call("GET", f"/users/alice/messages/{uid}")
    assert (raw.status, raw.body, raw.headers["Content-Type"]) == (200, RAW, "message/rfc822")
    # A deleted message can still be read back by uid.
    assert api.call("GET", f"/users/alice/messages/{box['deleted'][0]}").status == 200
    assert api.call("GET", "/users/alice/messages/nope").status == 404
    assert api.call("DELETE", "/users/alice/messages").json() == {"removed": 1}
    assert api.get("/users/alice/mailbox")["count"] == 0


def test_new_mail_shows_in_the_next_session_not_the_open_one(
    pop: POP3Server, api: ApiClient
) -> None:
    client = login(pop)
    assert client.stat() == (1, len(pop.mailbox("alice").messages[0].data))
    uids = api.call("POST", "/users/alice/messages", {"messages": [RAW.decode()]}).json()["uids"]
    assert client.stat()[0] == 1  # numbers fixed at login
    # Emptying or resetting a maildrop a session holds is refused, and changes nothing.
    assert api.call("DELETE", "/users/alice/messages").status == 409
    reply = api.call("POST", "/reset")
    assert reply.status == 409 and reply.json()["locked"] == ["alice"]
    client.quit()
    client = login(pop)
    assert client.stat()[0] == 2
    assert client.uidl(2).split()[-1].decode() == uids[0]
    client.quit()


def test_faults_added_fired_counted_and_removed(pop: POP3Server, api: ApiClient) -> None:
    listed = api.get("/faults")["faults"]
    assert [(f["description"], f["configured"]) for f in listed] == [
        ("NOOP once -> error configured", True)
    ]
    added = api.call("POST", "/faults", {"spec": "RETR 1 once: error [SYS/TEMP] busy"})
    assert added.status == 201
    rule = added.json()
    client = login(pop)
    with pytest.raises(poplib.error_proto, match="busy"):
        client.retr(1)
    client.quit()
    counts = {f["id"]: (f["matched"], f["fired"]) for f in api.get("/faults")["faults"]}
    assert counts[rule["id"]] == (1, 1)
    assert api.call("DELETE", f"/faults/{rule['id']}").status == 200
    assert api.call("DELETE", f"/faults/{rule['id']}").status == 404
    assert api.call("DELETE", "/faults").json() == {"deleted": 1}
    assert len(pop.faults) == 0


@pytest.mark.slow
def test_a_bad_fault_spec_gets_the_message_of_the_command_line(api: ApiClient) -> None:
    import subprocess
    import sys

    spec = "RETR 1 twice: error"
    reply = api.call("POST", "/faults", {"spec": spec})
    assert reply.status == 400
    error = reply.json()["error"]
    cli = subprocess.run(
        [sys.executable, "-m", "pop3mock", "serve", "--port", "0", "--fault", spec],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert cli.returncode == 2
    assert cli.stderr.strip().endswith(error)
    assert "\n" not in error


def test_journal_sessions_commands_wait_and_verify(pop: POP3Server, api: ApiClient) -> None:
    client = login(pop)
    client.retr(1)
    client.quit()
    assert api.get("/journal/wait?sessions_ended=1&timeout=5") == {"sessions_ended": 1}
    sessions = api.get("/journal/sessions")
    assert sessions["cursor"] == 1
    assert sessions["sessions"][0]["commands"] == ["USER alice", "PASS ***", "RETR 1", "QUIT"]
    assert api.get("/journal/sessions?since=1")["sessions"] == []
    commands = api.get("/journal/commands?verb=PASS")["commands"]
    assert [(c["line"], c["args"]) for c in commands] == [("PASS ***", ["***"])]
    assert api.get("/journal/commands?user=nobody")["commands"] == []
    assert api.call("POST", "/journal/verify", {"command": "RETR", "args": ["1"], "count": 1})
    ok = api.call("POST", "/journal/verify", {"commands": ["USER alice", "PASS", "RETR 1"]})
    assert ok.status == 200, ok
    missed = api.call("POST", "/journal/verify", {"command": "RETR", "args": [2]})
    assert missed.status == 409
    with pytest.raises(AssertionError) as caught:
        pop.journal.assert_command("RETR", 2)
    assert missed.json()["message"] == str(caught.value)
    assert "Near misses" in missed.json()["message"]
    order = api.call("POST", "/journal/verify", {"commands": ["USER alice", "RETR 1"]})
    with pytest.raises(AssertionError) as caught:
        pop.journal.assert_commands(["USER alice", "RETR 1"])
    assert (order.status, order.json()["message"]) == (409, str(caught.value))
    late = api.call("GET", "/journal/wait?sessions_ended=2&timeout=0")
    assert late.status == 408
    assert late.json()["sessions_ended"] == 1
    assert "secret" not in late.body.decode()
    assert api.get("/journal/violations")["violations"] == []


def test_violations_are_listed(pop: POP3Server, api: ApiClient) -> None:
    with socket.create_connection((pop.host, pop.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"STAT\r\nQUIT\r\n")
        reader.readline()
        reader.readline()
    api.get("/journal/wait?sessions_ended=1")
    found = api.get("/journal/violations")
    assert found["violations"][0]["command"] == "STAT"
    assert found["report"] == pop.journal.violation_report()


def test_reset_goes_back_to_the_configuration(pop: POP3Server, api: ApiClient) -> None:
    configured = pop.mailbox("alice").uids
    api.call("POST", "/users/alice/messages", RAW, content_type="message/rfc822")
    api.call("POST", "/users", {"name": "dave", "password": "pw"})
    api.call("POST", "/faults", {"spec": "STAT: error nope"})
    client = login(pop)
    with pytest.raises(poplib.error_proto):
        client.noop()  # the configured rule fires
    client.dele(1)
    client.quit()
    api.call("DELETE", "/users/alice")
    assert api.call("POST", "/reset").json() == {"reset": True}
    assert sorted(pop.users) == ["alice"]
    box = pop.mailbox("alice")
    assert box.uids == configured and box.deleted_uids == () and box.logins == 0
    client = login(pop)
    assert client.stat()[0] == 1
    client.quit()
    faults = api.get("/faults")["faults"]
    assert [(f["description"], f["fired"], f["configured"]) for f in faults] == [
        ("NOOP once -> error configured", 0, True)
    ]
    # The journal was emptied (the session above is still open: it shows once it ends).
    assert all(s["user"] == "alice" for s in api.get("/journal/sessions")["sessions"])


def test_metrics_in_prometheus_text_format(pop: POP3Server, api: ApiClient) -> None:
    client = login(pop)
    client.list()
    client.quit()
    api.get("/journal/wait?sessions_ended=1")
    reply = api.call("GET", "/metrics")
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    lines = reply.body.decode().splitlines()
    assert "pop3mock_sessions_total 1" in lines
    assert "pop3mock_sessions_active 0" in lines
    assert 'pop3mock_commands_total{verb="LIST"} 1' in lines
    sent = sum(c.bytes_sent for c in pop.journal.commands)
    sent += pop.journal.sessions[0].greeting_size
    assert f"pop3mock_bytes_sent_total {sent}" in lines
    for line in lines:
        assert line.startswith("# ") or line.split(" ")[-1].isdigit(), line


def test_openapi_document_lists_every_route(api: ApiClient) -> None:
    from pop3mock.admin._routes import ROUTES

    document = api.get("/openapi.json")
    assert document == openapi_document()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == set(ROUTES)
    for path, methods in ROUTES.items():
        listed = {m.upper() for m in document["paths"][path] if m != "parameters"}
        assert listed == (set(methods) or {"GET"}), path


# -- bad input changes nothing -------------------------------------------------------------


def _state(pop: POP3Server) -> object:
    return (
        {n: (b.uids, b.password) for n, b in pop.users.items()},
        [r.describe() for r in pop.faults.rules],
        len(pop.journal.sessions),
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/users", b"{not json", 400, "body"),
        ("POST", "/users", [1, 2], 400, "body"),
        ("POST", "/users", {"password": "x"}, 400, "name"),
        ("POST", "/users", {"name": 5, "password": "x"}, 400, "name"),
        ("POST", "/users", {"name": "a b", "password": "x"}, 400, "name"),
        ("POST", "/users", {"name": "my password", "password": "x"}, 400, "name"),
        ("POST", "/users", {"name": "e", "password": "x\ny"}, 400, "password"),
        ("POST", "/users", {"name": "e", "password": "x", "fake": -1}, 400, "fake"),
        ("POST", "/users", {"name": "e", "password": "x", "fake": True}, 400, "fake"),
        ("POST", "/users", {"name": "e", "password": "x", "messages": [""]}, 400, "messages"),
        ("POST", "/users", {"name": "e", "password": "x", "colour": 1}, 400, "colour"),
        ("POST", "/users/alice/messages", {}, 400, "messages"),
        ("POST", "/users/alice/messages", {"seed": 1}, 400, "seed"),
        ("POST", "/users/nobody/messages", {"fake": 1}, 404, None),
        ("GET", "/users/nobody/mailbox", None, 404, None),
        ("GET", "/users/alice/mailbox?limit=0", None, 400, "limit"),
        ("DELETE", "/users/nobody", None, 404, None),
        ("POST", "/faults", {"spec": 3}, 400, "spec"),
        ("POST", "/faults", {"spec": "RETR: explode"}, 400, "spec"),
        ("DELETE", "/faults/99", None, 404, None),
        ("GET", "/journal/wait", None, 400, "sessions_ended"),
        ("GET", "/journal/wait?sessions_ended=1&timeout=x", None, 400, "timeout"),
        ("GET", "/journal/sessions?since=-1", None, 400, "since"),
        ("POST", "/journal/verify", {"command": "RETR", "args": [None]}, 400, "args"),
        ("POST", "/journal/verify", {"commands": "USER"}, 400, "commands"),
        ("POST", "/journal/verify", {}, 400, "command"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    pop: POP3Server,
    api: ApiClient,
    method: str,
    path: str,
    body: object,
    status: int,
    field: str | None,
) -> None:
    before = _state(pop)
    reply = api.call(method, path, body, content_type="application/json" if body else None)
    assert reply.status == status, reply
    error = reply.json()
    assert "\n" not in error["error"]
    assert error.get("field") == field
    assert _state(pop) == before


def test_wrong_method_and_unknown_route(api: ApiClient) -> None:
    reply = api.call("PUT", "/users")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, POST"
    reply = api.call("GET", "/nowhere")
    assert reply.status == 404
    assert "/journal/verify" in reply.json()["routes"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(pop: POP3Server) -> None:
    with AdminServer(pop, max_body=1000) as admin:
        before = _state(pop)
        with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
            # Headers only: a server that waited for the body would never answer.
            sock.sendall(
                b"POST /users/alice/messages HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: message/rfc822\r\nContent-Length: 1000000000\r\n\r\n"
            )
            answer = sock.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"Connection: close" in answer
        with socket.create_connection(("127.0.0.1", admin.port), timeout=10) as sock:
            # A client that asks first gets the refusal, not "100 Continue".
            sock.sendall(
                b"POST /users/alice/messages HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Type: message/rfc822\r\nContent-Length: 1001\r\n\r\n"
            )
            assert sock.makefile("rb").read().startswith(b"HTTP/1.1 413 ")
        with ApiClient(admin.url) as api:
            chunked = api.call(
                "POST",
                "/users/alice/messages",
                b"",
                headers={"Transfer-Encoding": "chunked", "Content-Type": "message/rfc822"},
            )
            assert chunked.status == 411
            assert api.call("POST", "/users/alice/messages", RAW, content_type="x/y").status == 415
        assert _state(pop) == before


def test_token_required_and_compared(pop: POP3Server) -> None:
    with AdminServer(pop, token="s3cret") as admin:
        with ApiClient(admin.url) as anonymous:
            reply = anonymous.call("GET", "/users")
            assert (reply.status, reply.json()) == (401, {"error": "unauthorized"})
            assert reply.headers["WWW-Authenticate"] == "Bearer"
            # Unknown routes tell nothing either.
            assert anonymous.call("GET", "/nowhere").status == 401
        with ApiClient(admin.url, token="wrong") as wrong:
            assert wrong.call("GET", "/health").status == 401
        with ApiClient(admin.url, token="s3cret") as right:
            assert right.call("GET", "/health").status == 200


def test_a_non_loopback_host_without_token_is_refused_before_binding(pop: POP3Server) -> None:
    with pytest.raises(ConfigurationError, match="admin token"):
        AdminServer(pop, "0.0.0.0")
    with pytest.raises(ConfigurationError, match="admin token"):
        AdminServer(pop, "192.0.2.1")
    with pytest.raises(ConfigurationError, match="admin token: a non-empty"):
        AdminServer(pop, token="two words")


def test_passwords_never_appear_in_replies(pop: POP3Server, api: ApiClient) -> None:
    api.call("POST", "/users", {"name": "erin", "password": "hunter2xyz", "token": "tok9876"})
    client = login(pop, "erin", "hunter2xyz")
    client.quit()
    bad = poplib.POP3(pop.host, pop.port, timeout=10)
    bad.user("erin")
    with pytest.raises(poplib.error_proto):
        bad.pass_("wrongpass123")
    bad.quit()
    api.call("POST", "/faults", {"spec": "PASS hunter2xyz: error nope"})
    api.get("/journal/wait?sessions_ended=2")
    bodies = [
        api.call("GET", path).body
        for path in (
            "/users",
            "/users/erin/mailbox",
            "/faults",
            "/journal/sessions",
            "/journal/commands",
            "/journal/violations",
            "/metrics",
        )
    ]
    bodies.append(api.call("POST", "/journal/verify", {"command": "PASS", "count": 0}).body)
    bodies.append(api.call("POST", "/faults", {"spec": "PASS hunter2xyz x: boom"}).body)
    for body in bodies:
        for secret in (b"hunter2xyz", b"wrongpass123", b"tok9876"):
            assert secret not in body, body


# -- threads: concurrency and shutdown ------------------------------------------------------


@pytest.mark.slow
def test_admin_calls_beside_pop3_sessions_lose_and_repeat_nothing(
    pop: POP3Server, api: ApiClient
) -> None:
    """Mail added while sessions retrieve and delete: each message is served exactly once."""
    users = ("alice", "bob")
    pop.mailbox("alice").purge()
    pop.faults.clear()
    api.call("POST", "/users", {"name": "bob", "password": "secret"})
    served: dict[str, list[str]] = {user: [] for user in users}
    errors: list[BaseException] = []
    done = threading.Event()

    def fetch(user: str) -> None:
        try:
            while True:
                finished = done.is_set()
                client = login(pop, user)
                for number, uid in (line.split() for line in client.uidl()[1]):
                    client.retr(int(number))
                    client.dele(int(number))
                    served[user].append(uid.decode())
                client.quit()
                if finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    added: dict[str, list[str]] = {user: [] for user in users}
    workers = [threading.Thread(target=fetch, args=(user,)) for user in users]
    for worker in workers:
        worker.start()
    for n in range(100):
        user = users[n % 2]
        raw = f"Subject: {n}\r\n\r\nbody {n}\r\n"
        reply = api.call("POST", f"/users/{user}/messages", {"messages": [raw]})
        added[user] += reply.json()["uids"]
        api.get(f"/users/{user}/mailbox")
        api.get("/journal/commands?verb=RETR")
        api.get("/faults")
    done.set()
    for worker in workers:
        worker.join(30)
        assert not worker.is_alive()
    assert errors == []
    for user in users:
        assert sorted(served[user]) == sorted(added[user])
        assert len(set(served[user])) == len(served[user])


@pytest.mark.slow
def test_stop_with_open_connections_and_long_polls_in_a_loop(pop: POP3Server) -> None:
    for _ in range(100):
        admin = AdminServer(pop).start()
        idle = socket.create_connection(("127.0.0.1", admin.port), timeout=10)
        waiting = socket.create_connection(("127.0.0.1", admin.port), timeout=10)
        waiting.sendall(
            b"GET /journal/wait?sessions_ended=99&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        with ApiClient(admin.url) as api:
            assert api.call("GET", "/health").status == 200
        admin.stop()
        idle.close()
        waiting.close()


def test_copies_of_one_message_get_suffixed_uids_again_after_a_reset(
    pop: POP3Server, api: ApiClient
) -> None:
    def post() -> str:
        reply = api.call("POST", "/users/alice/messages", RAW, content_type="message/rfc822")
        return str(reply.json()["uids"][0])

    first = [post() for _ in range(3)]
    assert first[1:] == [f"{first[0]}.2", f"{first[0]}.3"]
    api.call("POST", "/reset")
    assert [post() for _ in range(2)] == first[:2]


def test_wait_counts_the_sessions_the_journal_forgot() -> None:
    with POP3Server(users={"alice": "secret"}, journal_keep=1) as pop, AdminServer(pop) as admin:
        for _ in range(3):
            login(pop).quit()
        with ApiClient(admin.url) as api:
            assert api.get("/journal/wait?sessions_ended=3") == {"sessions_ended": 3}
            late = api.call("GET", "/journal/wait?sessions_ended=4&timeout=0")
            assert (late.status, late.json()["sessions_ended"]) == (408, 3)


def test_long_polls_end_with_the_sessions_they_wait_for_in_a_loop(
    pop: POP3Server, admin: AdminServer, api: ApiClient
) -> None:
    """A long-poll is woken when sessions end (not by each command), and the journal's
    count decides: after a reset it counts from zero again, even for a wait that began
    before it; several waits at once each end when their count is reached."""
    for _ in range(30):
        api.call("POST", "/reset")
        login(pop).quit()
        assert api.get("/journal/wait?sessions_ended=1") == {"sessions_ended": 1}
        replies: dict[int, Any] = {}
        waiters = [
            threading.Thread(target=_long_poll, args=(admin, count, replies)) for count in (2, 3)
        ]
        for thread in waiters:
            thread.start()
        assert api.call("POST", "/reset").status == 200  # before or after the waits began
        for _ in range(3):
            login(pop).quit()
        for thread in waiters:
            thread.join()
        assert replies[3].json() == {"sessions_ended": 3}
        assert replies[2].status == 200
        assert replies[2].json()["sessions_ended"] in (2, 3)


def _long_poll(admin: AdminServer, count: int, replies: dict[int, Any]) -> None:
    with ApiClient(admin.url) as waiter:
        replies[count] = waiter.call("GET", f"/journal/wait?sessions_ended={count}")


def test_a_long_poll_that_times_out_says_how_long_it_waited(api: ApiClient) -> None:
    late = api.call("GET", "/journal/wait?sessions_ended=5&timeout=0.05")
    assert late.status == 408
    assert late.json()["error"] == "waited 0.05 s for 5 ended sessions (ended: 0, open: 0)"
