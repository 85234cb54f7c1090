"""LIST and UIDL bodies, which a maildrop keeps from one session to the next while nothing
changes: every change between sessions, and the deletion marks inside one, must show.

Sans-IO sessions, no sockets: the expected listings are worked out from `Mailbox.messages`
and `Mailbox.uids`, independently of the code that makes (and keeps) the listings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock import LazyMaildrop, Mailbox, Message, Response, ServerConfig, Session
from pop3mock.maildrop._entries import Entries

BODIES = [b"Subject: %d\r\n\r\n%s\r\n" % (i, b"x" * (i * 11)) for i in range(8)]


def lazy(prefix: str, count: int) -> LazyMaildrop:
    messages = [
        Message.of(b"Subject: %s %d\r\n\r\nbody\r\n" % (prefix.encode(), i)) for i in range(count)
    ]
    return LazyMaildrop(
        [f"{prefix}{i}" for i in range(count)], [m.size for m in messages], messages.__getitem__
    )


def handle(session: Session, line: str) -> Response:
    response = session.handle(line.encode())
    assert response.status == "+OK", (line, response)
    return response


def body(session: Session, line: str) -> bytes:
    response = handle(session, line)
    assert response.body is not None
    return response.body


def login(box: Mailbox, config: ServerConfig | None = None) -> Session:
    session = Session(config or ServerConfig(), {box.user: box})
    handle(session, f"USER {box.user}")
    handle(session, f"PASS {box.password}")
    return session


def listings(box: Mailbox, *commands: str) -> tuple[str, bytes, bytes]:
    """STAT, LIST and UIDL of a session, after `commands` (say DELE 2), which QUIT then
    commits."""
    session = login(box)
    for command in commands:
        handle(session, command)
    got = handle(session, "STAT").text, body(session, "LIST"), body(session, "UIDL")
    handle(session, "QUIT")
    return got


def expected(box: Mailbox) -> tuple[str, bytes, bytes]:
    """STAT and the listings of the maildrop as it is now, worked out message by message."""
    messages = box.messages
    stat = f"{len(messages)} {sum(m.size for m in messages)}"
    scan = b"".join(b"%d %d\r\n" % (n, m.size) for n, m in enumerate(messages, 1))
    uidl = b"".join(b"%d %s\r\n" % (n, uid.encode()) for n, uid in enumerate(box.uids, 1))
    return stat, scan, uidl


def mailbox() -> Mailbox:
    return Mailbox("alice", "pw", [*BODIES[:3], lazy("d", 3), *BODIES[3:5]])


def nothing(box: Mailbox) -> None:
    return None


def deliver(box: Mailbox, _: object) -> None:
    box.add(BODIES[5])


def deliver_one_at_a_time(box: Mailbox, _: object) -> None:
    for data in BODIES[5:]:
        box.add(data)
        assert listings(box) == expected(box)  # a session in between each


def deliver_lazy(box: Mailbox, _: object) -> None:
    box.add(lazy("e", 2))


def delete(box: Mailbox, _: object = None) -> None:
    listings(box, "DELE 2", "DELE 5")


def reset(box: Mailbox, _: object) -> None:
    box.reset()


def configure_then_change(box: Mailbox) -> Entries:
    configured = box.snapshot()
    deliver(box, None)
    delete(box)
    return configured


def restore(box: Mailbox, configured: object) -> None:
    assert isinstance(configured, Entries)
    box.restore(configured)


def purge(box: Mailbox, _: object) -> None:
    box.purge()


#: What happens to the maildrop first, and the change the next session must see.
CHANGES: dict[str, tuple[Callable[[Mailbox], object], Callable[[Mailbox, object], None]]] = {
    "add": (nothing, deliver),
    "add, a session after each": (nothing, deliver_one_at_a_time),
    "add a lazy maildrop": (nothing, deliver_lazy),
    "DELE then QUIT": (nothing, delete),
    "reset": (delete, reset),
    "restore": (configure_then_change, restore),
    "purge": (nothing, purge),
}


@pytest.mark.parametrize(("first", "change"), CHANGES.values(), ids=CHANGES.keys())
def test_a_change_between_sessions_shows_in_the_next_listings(
    first: Callable[[Mailbox], object], change: Callable[[Mailbox, object], None]
) -> None:
    box = mailbox()
    token = first(box)
    before = listings(box)
    assert before == expected(box)
    assert listings(box) == before  # the kept listings
    change(box, token)
    after = listings(box)
    assert after == expected(box) and after != before
    assert listings(box) == after


def test_a_new_mailbox_under_the_same_user_name_has_its_own_listings() -> None:
    first = mailbox()
    before = listings(first)
    replaced = Mailbox("alice", "pw", BODIES[:2])
    assert listings(replaced) == expected(replaced) != before
    assert listings(first) == before


def test_marks_show_in_the_session_and_rset_brings_the_whole_listing_back() -> None:
    box = mailbox()
    whole = listings(box)
    session = login(box)
    assert (handle(session, "STAT").text, body(session, "LIST"), body(session, "UIDL")) == whole
    handle(session, "DELE 2")
    uids = box.uids
    assert body(session, "LIST").startswith(b"1 %d\r\n3 " % len(BODIES[0]))
    assert body(session, "UIDL").startswith(
        b"1 %s\r\n3 %s\r\n" % (uids[0].encode(), uids[2].encode())
    )
    handle(session, "DELE 7")
    scan = body(session, "LIST")
    assert [line.split()[0] for line in scan.splitlines()] == [b"1", b"3", b"4", b"5", b"6", b"8"]
    uidl = body(session, "UIDL")
    assert uidl.splitlines() == [
        line for line in whole[2].splitlines() if line.split()[0] not in (b"2", b"7")
    ]
    handle(session, "RSET")
    assert (handle(session, "STAT").text, body(session, "LIST"), body(session, "UIDL")) == whole
    handle(session, "QUIT")
    assert listings(box) == whole == expected(box)


def test_mail_delivered_during_a_session_is_not_listed_in_it() -> None:
    box = mailbox()
    session = login(box)
    whole = body(session, "LIST"), body(session, "UIDL")
    box.add(BODIES[6])
    box.add(lazy("late", 2))
    assert (body(session, "LIST"), body(session, "UIDL")) == whole
    handle(session, "DELE 1")
    handle(session, "QUIT")
    assert listings(box) == expected(box)
    assert len(box) == 10 and expected(box)[1].startswith(b"1 %d\r\n" % len(BODIES[1]))


def test_sessions_on_an_unchanged_maildrop_share_one_listing() -> None:
    box = mailbox()
    first = login(box)
    scan, uidl = body(first, "LIST"), body(first, "UIDL")
    handle(first, "QUIT")
    second = login(box)
    assert body(second, "LIST") is scan and body(second, "UIDL") is uidl
    handle(second, "QUIT")


def test_personality_uids_stay_the_same_across_sessions_and_changes() -> None:
    config = ServerConfig(uid_format="dovecot")
    box = mailbox()
    session = login(box, config)
    first = body(session, "UIDL").splitlines()
    handle(session, "DELE 1")
    handle(session, "QUIT")
    box.add(BODIES[7])
    session = login(box, config)
    again = body(session, "UIDL").splitlines()
    handle(session, "QUIT")
    # Each message keeps its wire UID after renumbering; the new one gets the next.
    assert [line.split()[1] for line in again[:-1]] == [line.split()[1] for line in first[1:]]
    assert again[-1].split()[1] not in {line.split()[1] for line in first}


def list_at_once(entries: Entries, barrier: threading.Barrier, got: list[bytes]) -> None:
    barrier.wait(10)
    got.append(entries.scan_listing())


def test_threads_listing_one_fresh_entries_at_once_get_equal_bodies() -> None:
    messages = tuple(Message.of(b) for b in BODIES)
    want = b"".join(b"%d %d\r\n" % (n, m.size) for n, m in enumerate(messages, 1))
    for _ in range(200):
        entries, barrier, got = Entries([messages]), threading.Barrier(4), []
        threads = [
            threading.Thread(target=list_at_once, args=(entries, barrier, got)) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert got == [want] * 4


@given(st.lists(st.integers(0, 40), max_size=60))
def test_entries_extended_run_by_run_is_their_concatenation(runs: list[int]) -> None:
    messages = [Message.of(BODIES[i % len(BODIES)], uid=f"m{i}") for i in range(sum(runs))]
    entries, start = Entries(), 0
    for size in runs:
        entries = entries.extended(messages[start : start + size])
        start += size
    assert list(entries) == messages
    assert entries.uids() == [m.uid for m in messages]
    # Merged runs: the segments stay few when mail comes a little at a time.
    assert len(entries._segments) <= max(1, len(messages)).bit_length()


# A run of plain messages (its length), or a lazy maildrop (a list of one length).
RUNS = st.lists(st.one_of(st.integers(0, 9), st.lists(st.integers(0, 5), min_size=1, max_size=1)))


@given(RUNS, st.data())
def test_listings_carried_over_deliveries_equal_fresh_ones(
    runs: list[int | list[int]], data: st.DataObject
) -> None:
    entries = Entries()
    for n, run in enumerate(runs):
        if isinstance(run, int):
            entries = entries.extended(
                [Message.of(BODIES[i % len(BODIES)], uid=f"m{n}.{i}") for i in range(run)]
            )
        else:
            entries = entries + Entries.of([lazy(f"d{n}.", run[0])])
        # Listed or not before the next delivery: a session may have asked, or not.
        if data.draw(st.booleans()):
            entries.scan_listing(), entries.uid_listing(), entries.total_size()
    fresh = Entries([tuple(entries)])
    assert entries.scan_listing() == fresh.scan_listing()
    assert entries.uid_listing() == fresh.uid_listing()
    assert entries.total_size() == fresh.total_size() == sum(e.size for e in fresh)


def test_a_mailbox_fed_one_message_at_a_time_keeps_few_segments() -> None:
    box = Mailbox("alice", "pw")
    for i in range(1000):
        box.add(Message.of(BODIES[i % len(BODIES)], uid=f"m{i}"))
        entries = box.snapshot()
    assert len(entries) == 1000 and len(entries._segments) <= 10
    assert entries.uids() == [f"m{i}" for i in range(1000)]


UIDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=70)


@given(st.lists(UIDS, max_size=80, unique=True), st.data())
def test_a_view_with_marks_lists_exactly_the_unmarked_messages(
    uids: list[str], data: st.DataObject
) -> None:
    box = Mailbox("alice", "pw", [Message.of(BODIES[i % 8], uid=u) for i, u in enumerate(uids)])
    messages = box.messages
    if data.draw(st.booleans()):
        listings(box)  # the whole listings made before the marks, or not
    view = box.open()
    assert view is not None
    for _ in range(data.draw(st.integers(1, 3))):
        # Marks come in steps, with a listing between: each mark must show. A few marks
        # (the lines cut out of the whole listing) or many (a listing made anew).
        most = data.draw(st.sampled_from([len(uids) // 8, len(uids)]))
        numbers = data.draw(st.sets(st.integers(1, max(1, len(uids))), max_size=most))
        for number in numbers:
            if view.exists(number):
                view.mark_deleted(number)
        listed = [n for n in range(1, len(uids) + 1) if not view.is_deleted(n)]
        assert view.scan_listing() == b"".join(
            b"%d %d\r\n" % (n, messages[n - 1].size) for n in listed
        )
        assert view.uid_listing() == b"".join(
            b"%d %s\r\n" % (n, uids[n - 1].encode()) for n in listed
        )
    view.unmark_all()
    assert (view.scan_listing(), view.uid_listing()) == expected(box)[1:]
    view.release()


@pytest.mark.parametrize(
    "marked", [{1}, {1, 2}, {5, 6}, {40}, {39, 40}, {1, 40}, {10, 20, 30}, {2, 3, 4, 5}]
)
def test_a_few_marks_cut_their_lines_out_of_the_whole_listing(marked: set[int]) -> None:
    # Uids of every length, some of them digits, as a line's number might be taken for one.
    uids = [str(n * 7) if n % 3 else "u" * (n % 70 + 1) + str(n) for n in range(1, 41)]
    box = Mailbox("alice", "pw", [Message.of(BODIES[n % 8], uid=u) for n, u in enumerate(uids)])
    messages = box.messages
    whole = listings(box)
    view = box.open()
    assert view is not None
    for number in sorted(marked):
        view.mark_deleted(number)
    listed = [n for n in range(1, 41) if n not in marked]
    assert view.scan_listing() == b"".join(b"%d %d\r\n" % (n, messages[n - 1].size) for n in listed)
    assert view.uid_listing() == b"".join(b"%d %s\r\n" % (n, uids[n - 1].encode()) for n in listed)
    view.release()
    assert listings(box) == whole
