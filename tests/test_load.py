"""Many concurrent sessions on one server, and the connection limit.

The CI size (100 concurrent sessions) fits a 2-core machine in a couple of seconds;
`pytest --pop3-full-load` runs 500.
"""

from __future__ import annotations

import gc
import poplib
import threading
import tracemalloc
from collections import Counter

import pytest

from helpers import RawClient, open_sockets, server_threads
from pop3mock import POP3Server

# Load: hundreds of concurrent sessions and connection bursts.
pytestmark = pytest.mark.slow

PASSWORD = "load-pass"
PER_USER = 3


def messages_of(user: int) -> list[bytes]:
    """Distinct messages per user; the last one is larger than one 64 KiB socket read."""
    return [
        b"Subject: %d.%d\r\nX-Id: %d.%d\r\n\r\n%s"
        % (user, n, user, n, ((b"%d.%d " % (user, n)).ljust(998, b"~") + b"\r\n") * (1 + n * 40))
        for n in range(PER_USER)
    ]


def fetch_and_delete(server: POP3Server, user: str, barrier: threading.Barrier) -> list[bytes]:
    client = poplib.POP3(server.host, server.port, timeout=60)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        barrier.wait(timeout=60)  # every session is logged in at the same time
        count, _ = client.stat()
        got = []
        for number in range(1, count + 1):
            _, lines, _ = client.retr(number)
            got.append(b"".join(line + b"\r\n" for line in lines))
            client.dele(number)
        client.quit()
        return got
    finally:
        client.close()


def test_concurrent_sessions_each_fetch_and_delete_their_own_mail(
    request: pytest.FixtureRequest,
) -> None:
    sessions = 500 if request.config.getoption("--pop3-full-load") else 100
    threads_before, sockets_before = server_threads(), open_sockets()
    users = {f"user{i}": PASSWORD for i in range(sessions)}
    with POP3Server(users=users, idle_timeout=120) as server:
        expected = {}
        for i in range(sessions):
            expected[f"user{i}"] = messages_of(i)
            server.mailbox(f"user{i}").add(*expected[f"user{i}"])
        barrier = threading.Barrier(sessions)
        results: dict[str, list[bytes]] = {}
        errors: list[BaseException] = []

        def run(user: str) -> None:
            try:
                results[user] = fetch_and_delete(server, user, barrier)
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()

        clients = [threading.Thread(target=run, args=(user,)) for user in users]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        assert errors == []
        server.journal.wait_for(sessions_ended=sessions, timeout=60)
    server.check()
    # Every message delivered exactly once, to its own user, and deleted.
    delivered = Counter(m for got in results.values() for m in got)
    assert sum(delivered.values()) == sessions * PER_USER
    assert set(delivered.values()) == {1}
    assert results == expected
    for user, mailbox in server.users.items():
        assert len(mailbox) == 0 and not mailbox.locked
        assert [m.data for m in mailbox.deleted] == expected[user]
        assert set(mailbox.retrieved.values()) == {1}
    ends = Counter(s.end_reason for s in server.journal.sessions)
    assert ends == {"quit": sessions}
    assert server.journal.count("RETR") == server.journal.count("DELE") == sessions * PER_USER
    assert server_threads() - threads_before == set()
    assert open_sockets() - sockets_before == set()


def test_a_burst_of_connections_larger_than_a_small_listen_backlog() -> None:
    # Opened back to back, faster than connection threads start: they wait in the listen
    # queue. A queue of 128 overflowed here, and an overflowed connection of a protocol where
    # the server speaks first either waited for SYN-ACK retries or, with SYN cookies, never
    # got its greeting at all.
    burst = 400
    with POP3Server(users={"alice": PASSWORD}) as server:
        clients = [RawClient(server.host, server.port, timeout=60) for _ in range(burst)]
        for client in clients:
            assert client.line().startswith(b"+OK")
        assert clients[-1].cmd("USER alice").startswith(b"+OK")
        assert clients[-1].cmd(f"PASS {PASSWORD}").startswith(b"+OK")
        assert clients[-1].cmd("QUIT").startswith(b"+OK")
        for client in clients:
            client.close()
        server.journal.wait_for(sessions_ended=burst, timeout=60)
    server.check()


def test_beyond_max_connections_the_answer_is_sys_temp() -> None:
    with POP3Server(users={"alice": PASSWORD}, max_connections=3) as server:
        held = [RawClient(server.host, server.port) for _ in range(3)]
        for client in held:
            assert client.line().startswith(b"+OK")  # accepted and counted
        for _ in range(5):
            extra = RawClient(server.host, server.port)
            assert extra.read_all().startswith(b"-ERR [SYS/TEMP] ")  # then closed
            extra.close()
        assert len(server.journal.sessions) == 3  # refused ones are not sessions
        held.pop().close()
        server.journal.wait_for(sessions_ended=1)
        again = RawClient(server.host, server.port)
        assert again.line().startswith(b"+OK")  # room again
        assert again.cmd("USER alice").startswith(b"+OK")
        assert again.cmd(f"PASS {PASSWORD}").startswith(b"+OK")
        assert again.cmd("QUIT").startswith(b"+OK")
        for client in [*held, again]:
            client.close()
    server.check()


def test_beyond_max_connections_the_implicit_tls_port_closes_before_the_handshake() -> None:
    import poplib
    import ssl

    from pop3mock.server import tls

    with POP3Server(users={"alice": PASSWORD}, implicit_tls=True, max_connections=1) as server:
        held = RawClient(server.host, server.port)
        assert held.line().startswith(b"+OK")
        assert server.tls_port is not None
        with pytest.raises((ssl.SSLError, OSError)) as refused:  # EOF in the handshake
            poplib.POP3_SSL(server.host, server.tls_port, context=tls.client_context(), timeout=10)
        assert not isinstance(refused.value, TimeoutError)
        held.close()
        server.journal.wait_for(sessions_ended=1)
        client = poplib.POP3_SSL(
            server.host, server.tls_port, context=tls.client_context(), timeout=10
        )
        client.user("alice")
        client.pass_(PASSWORD)
        client.quit()
    server.check()


def test_a_burst_over_max_connections_is_served_or_refused_never_failed() -> None:
    limit, clients = 8, 40
    users = {f"u{i}": PASSWORD for i in range(clients)}
    with POP3Server(users=users, max_connections=limit) as server:
        for i in range(clients):
            server.mailbox(f"u{i}").add(*messages_of(i))
        outcome: dict[str, str] = {}
        start = threading.Barrier(clients)

        def run(user: str) -> None:
            start.wait(timeout=60)
            try:
                client = poplib.POP3(server.host, server.port, timeout=60)
            except poplib.error_proto as exc:
                refused = exc.args[0].startswith(b"-ERR [SYS/TEMP] ")
                outcome[user] = "refused" if refused else repr(exc)
                return
            client.user(user)
            client.pass_(PASSWORD)
            for number in range(1, PER_USER + 1):
                client.retr(number)
                client.dele(number)
            client.quit()
            outcome[user] = "served"

        threads = [threading.Thread(target=run, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        served = [u for u, result in outcome.items() if result == "served"]
        refused = [u for u, result in outcome.items() if result == "refused"]
        assert len(served) + len(refused) == clients, outcome
        assert len(served) >= limit
        server.journal.wait_for(sessions_ended=len(served), timeout=60)
    server.check()
    assert len(server.journal.sessions) == len(served)
    for user in served:
        assert len(server.mailbox(user)) == 0
    for user in refused:  # a refused client changed nothing
        assert len(server.mailbox(user)) == PER_USER and server.mailbox(user).logins == 0


def test_a_long_running_server_does_not_grow_with_finished_connections() -> None:
    # Bursts wider than the pool of idle connection threads: the extra threads end with their
    # connection. What the server keeps per connection, apart from its journal (cleared
    # here), must not add up.
    rounds, width = 60, 40
    with POP3Server(users={"alice": PASSWORD}) as server:

        def burst() -> None:
            clients = [RawClient(server.host, server.port) for _ in range(width)]
            for client in clients:
                assert client.line().startswith(b"+OK")
                client.close()

        for _ in range(3):  # warm up: the pool of idle threads fills
            burst()
        server.journal.wait_for(sessions_ended=3 * width)
        server.journal.clear()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for done in range(1, rounds + 1):
                burst()
                server.journal.wait_for(sessions_ended=done * width)
            server.journal.clear()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    server.check()
    sessions = rounds * width
    # Keeping every finished connection thread cost about 700 octets each (1.7 MB here).
    assert grown < 1 << 20, (
        f"{grown} octets kept after {sessions} sessions ({grown // sessions}/session)"
    )
