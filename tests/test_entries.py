"""LazyMaildrop (lazy messages as columns) and Entries (what a session sees), without sockets,
and a mailbox holding a LazyMaildrop through whole sessions with poplib."""

from __future__ import annotations

import poplib
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock import ConfigurationError, LazyMaildrop, LazyMessage, Mailbox, Message, POP3Server
from pop3mock.maildrop._entries import Entries

BODIES = [b"Subject: %d\r\n\r\n%s\r\n" % (i, b"x" * (i * 7)) for i in range(12)]


def drop_of(bodies: list[bytes], prefix: str = "d") -> tuple[LazyMaildrop, list[int]]:
    """A LazyMaildrop of `bodies`, and the list of positions whose bytes were made."""
    messages = [Message.of(b) for b in bodies]
    made: list[int] = []

    def make(position: int) -> Message:
        made.append(position)
        return messages[position]

    uids = [f"{prefix}{i}" for i in range(len(bodies))]
    return LazyMaildrop(uids, [m.size for m in messages], make), made


def test_lazy_maildrop_is_a_sequence_of_stable_lazy_messages() -> None:
    drop, made = drop_of(BODIES[:5])
    assert len(drop) == 5
    assert drop.total_size == sum(Message.of(b).size for b in BODIES[:5])
    assert drop[1] is drop[1] and drop[-1] is drop[4]
    assert isinstance(drop[0], LazyMessage) and drop[0].uid == "d0" and not drop[0].loaded
    assert [m.uid for m in drop[1:3]] == ["d1", "d2"]
    assert drop[2].message.data == Message.of(BODIES[2]).data
    assert made == [2] and drop[2].loaded
    with pytest.raises(IndexError):
        drop[5]
    assert repr(drop).startswith("<LazyMaildrop 5 messages")


def test_lazy_maildrop_needs_a_size_per_uid() -> None:
    with pytest.raises(ConfigurationError, match="one size per uid: 2 uids, 1 sizes"):
        LazyMaildrop(["a", "b"], [10], lambda i: Message.of(b"x"))


def test_threads_asking_for_one_position_get_one_object() -> None:
    drop, _ = drop_of(BODIES)
    barrier = threading.Barrier(8)
    got: list[LazyMessage] = []

    def ask() -> None:
        barrier.wait(10)
        got.append(drop[7])

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(got) == 8 and all(m is got[0] for m in got)


def test_entries_read_columns_without_making_messages() -> None:
    plain = [Message.of(b) for b in BODIES[:3]]
    drop, made = drop_of(BODIES[3:9])
    entries = Entries.of([*plain, drop, Message.of(BODIES[9])])
    assert len(entries) == 10
    assert entries.uids() == [m.uid for m in plain] + [f"d{i}" for i in range(6)] + [
        Message.of(BODIES[9]).uid
    ]
    assert entries.sizes() == [Message.of(b).size for b in BODIES[:10]]
    assert entries.total_size() == sum(Message.of(b).size for b in BODIES[:10])
    assert made == []
    assert entries[4] is drop[1] and entries[-1].data == BODIES[9]
    assert entries[2:4] == (plain[2], drop[0])


def test_entries_without_removes_across_segments() -> None:
    plain = [Message.of(b) for b in BODIES[:3]]
    drop, _ = drop_of(BODIES[3:9])
    entries = Entries.of([*plain, drop])
    left = entries.without([1, 3, 8])
    assert [e.uid for e in left] == [plain[0].uid, plain[2].uid, "d1", "d2", "d3", "d4"]
    assert left.sizes() == [e.size for e in left]
    assert left.total_size() == sum(e.size for e in left)
    assert entries.without([]) is entries


ITEMS = st.lists(st.one_of(st.integers(0, 11), st.lists(st.integers(0, 11), max_size=6)))


@pytest.mark.slow
@given(ITEMS, st.sets(st.integers(0, 40)), st.data())
def test_entries_behave_like_the_list_of_their_entries(
    items: list[int | list[int]], gone: set[int], data: st.DataObject
) -> None:
    # An int is a plain message, a list of ints a LazyMaildrop of those bodies.
    parts: list[Message | LazyMaildrop] = []
    for n, item in enumerate(items):
        if isinstance(item, int):
            parts.append(Message.of(BODIES[item], uid=f"p{n}"))
        else:
            parts.append(drop_of([BODIES[i] for i in item], prefix=f"d{n}.")[0])
    entries = Entries.of(parts)
    flat = [e for part in parts for e in (part if isinstance(part, LazyMaildrop) else [part])]
    assert list(entries) == flat and len(entries) == len(flat)
    assert entries.uids() == [e.uid for e in flat]
    assert entries.sizes() == [e.size for e in flat]
    assert entries.total_size() == sum(e.size for e in flat)
    if flat:
        index = data.draw(st.integers(-len(flat), len(flat) - 1))
        assert entries[index] is flat[index]
    left = entries.without(gone)
    kept = [e for i, e in enumerate(flat) if i not in gone]
    assert list(left) == kept
    assert left.uids() == [e.uid for e in kept] and left.total_size() == sum(e.size for e in kept)
    assert (left + entries).uids() == [e.uid for e in kept + flat]


def login(server: POP3Server) -> poplib.POP3:
    client = poplib.POP3(server.host, server.port, timeout=10)
    client.user("alice")
    client.pass_("pw")
    return client


def test_a_mailbox_holds_a_lazy_maildrop_through_sessions() -> None:
    drop, made = drop_of(BODIES)
    with POP3Server() as server:
        box = server.add_user("alice", "pw", drop)
        box.add(b"Subject: later\r\n\r\nnew\r\n")
        client = login(server)
        assert client.stat() == (13, drop.total_size + len(b"Subject: later\r\n\r\nnew\r\n"))
        _, listing, _ = client.list()
        assert listing[:2] == [b"1 %d" % drop.sizes[0], b"2 %d" % drop.sizes[1]]
        _, uids, _ = client.uidl()
        assert [u.split()[1].decode() for u in uids[:12]] == list(drop.uids)
        assert made == []  # STAT, LIST and UIDL read the columns
        assert b"\r\n".join(client.retr(4)[1]) + b"\r\n" == BODIES[3]
        assert made == [3]
        box.add(b"Subject: during\r\n\r\nx\r\n")  # not seen by the open session
        client.dele(2)
        client.dele(13)
        assert client.stat()[0] == 11
        client.quit()
        assert box.uids[:3] == ("d0", "d2", "d3")
        assert len(box) == 12 and box.deleted_uids[0] == "d1"
        assert box.message("d5").data == BODIES[5]
        assert box.retrieved == {"d3": 1}
        client = login(server)
        assert client.stat()[0] == 12
        assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == BODIES[0]
        client.quit()
        box.reset()
        assert box.uids[:12] == drop.uids and len(box) == 14
    server.check()


def test_the_same_lazy_maildrop_added_twice_gets_new_uids_the_second_time() -> None:
    drop, _ = drop_of(BODIES[:4])
    box = Mailbox("alice", "pw", drop)
    box.add(drop)
    assert len(box) == 8 and len(set(box.uids)) == 8
    assert box.uids[:4] == drop.uids
    assert [m.data for m in box.messages] == [Message.of(b).data for b in BODIES[:4]] * 2


def test_the_pop3_marker_keeps_a_lazy_maildrop_whole() -> None:
    from pop3mock.plugin import build_server

    drop, made = drop_of(BODIES)
    server, _ = build_server({"messages": drop, "users": {"alice": "pw", "bob": "pw"}})
    with server:
        for user in ("alice", "bob"):
            assert server.mailbox(user).uids == drop.uids
        assert drop._made == {}  # no LazyMessage made: the mailboxes hold the columns
        client = login(server)
        assert client.stat() == (12, drop.total_size)
        client.quit()
    server.check()
    assert made == []


def test_plain_gives_one_run_of_plain_entries_as_a_tuple_and_nothing_else() -> None:
    messages = [Message.of(b"Subject: %d\r\n\r\n" % i) for i in range(3)]
    assert Entries().plain() == ()
    assert Entries.of(messages).plain() == tuple(messages)
    lazy, _ = drop_of([b"Subject: lazy\r\n\r\n"])
    assert Entries.of([*messages, lazy]).plain() is None


def test_a_session_retrieves_from_a_maildrop_with_a_lazy_part() -> None:
    lazy, _ = drop_of([b"Subject: lazy %d\r\n\r\n" % i for i in range(2)])
    box = Mailbox("alice", "wonderland", [b"Subject: plain\r\n\r\n", lazy])
    with POP3Server(users={"alice": box}) as server:
        client = poplib.POP3(server.host, server.port)
        client.user("alice")
        client.pass_("wonderland")
        assert client.retr(1)[1] == [b"Subject: plain", b""]
        assert client.retr(3)[1] == [b"Subject: lazy 1", b""]
        assert client.list(3).split()[1:] == [b"3", b"%d" % len(b"Subject: lazy 1\r\n\r\n")]
        client.quit()
