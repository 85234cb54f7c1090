"""Scripted maildrops from files and values; several users; inspection and reset end to end."""

from __future__ import annotations

import email.message
import email.policy
import mailbox
import os
import poplib
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import RawClient, curl
from pop3mock import (
    ConfigurationError,
    LazyMessage,
    Mailbox,
    Message,
    POP3Server,
    fake_messages,
    load_messages,
)

ONE = b"From: a@example.org\r\nSubject: one\r\n\r\nfirst\r\n"
TWO = b"From: b@example.org\r\nSubject: two\r\n\r\nsecond\r\n"
THREE = b"From: c@example.org\r\nSubject: three\r\n\r\nthird\r\n"


def subjects(messages: list[Message]) -> list[str]:
    return [str(m.as_email()["Subject"]) for m in messages]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def number_in_order(maildir: Path, keys: list[str]) -> None:
    """Prefix the stdlib's Maildir file names with a counter: delivery order, made explicit.

    (The names start with the delivery time, which is equal for messages added at once.)
    """
    for n, key in enumerate(keys):
        for sub in ("new", "cur"):
            for name in os.listdir(maildir / sub):
                if name.startswith(key):
                    os.rename(maildir / sub / name, maildir / sub / f"{n:04d}{name}")


# -- values ----------------------------------------------------------------------------------


def test_messages_from_values() -> None:
    modern = email.message.EmailMessage()
    modern["Subject"] = "Grüße"
    modern.set_content("Hällo\n")
    legacy = email.message.Message()
    legacy["Subject"] = "legacy"
    legacy.set_payload("old style\n")
    own = Message.of(ONE, uid="fixed-uid", flags=frozenset({"seen", "important"}))
    text = "From: t@example.org\nSubject: text\n\nbody"
    loaded = load_messages([TWO, text, modern, legacy, own, bytearray(THREE)])
    assert subjects(loaded) == ["two", "text", "Grüße", "legacy", "one", "three"]
    assert loaded[1].data == b"From: t@example.org\r\nSubject: text\r\n\r\nbody\r\n"
    assert loaded[4] is own and own.uid == "fixed-uid" and own.flags == {"seen", "important"}
    assert load_messages(ONE)[0].data == ONE  # one message on its own


def test_str_without_line_end_is_a_path() -> None:
    with pytest.raises(ConfigurationError, match=r"no such file or folder.*give bytes or text"):
        load_messages("Subject: looks like a message")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (42, "cannot load messages from int"),
        ([ONE, [TWO, 3.5]], "item 2, item 2: cannot load messages from float"),
        (LazyMessage("u", 5, lambda: Message.of(b"x")), "LazyMessage"),
    ],
)
def test_unsupported_values(value: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        load_messages(value)  # type: ignore[arg-type]


# -- .eml folders and files ------------------------------------------------------------------


def test_eml_folder_in_sorted_file_name_order(tmp_path: Path) -> None:
    write(tmp_path / "b.eml", TWO)
    write(tmp_path / "a.eml", ONE)
    write(tmp_path / "c.EML", THREE)
    write(tmp_path / "notes.txt", b"not a message")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "0.eml", ONE)
    assert subjects(load_messages(tmp_path)) == ["one", "two", "three"]
    assert subjects(load_messages(str(tmp_path))) == ["one", "two", "three"]


def test_single_eml_file_and_mbox_envelope_line(tmp_path: Path) -> None:
    file = write(
        tmp_path / "saved.eml", b"From someone@example.org Sat Jan  3 01:05:34 2024\n" + ONE
    )
    assert [m.data for m in load_messages(file)] == [ONE]


def test_mixed_iterable_of_paths_and_values(tmp_path: Path) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    write(folder / "1.eml", ONE)
    box = mailbox.mbox(tmp_path / "box.mbox")
    box.add(TWO)
    box.close()
    generated = (m for m in [Message.of(THREE)])
    loaded = load_messages([folder, [str(tmp_path / "box.mbox")], generated, ONE])
    assert subjects(loaded) == ["one", "two", "three", "one"]


# -- mbox ------------------------------------------------------------------------------------


def test_mbox_with_flags(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    box = mailbox.mbox(path)
    read = mailbox.mboxMessage(ONE)
    read.set_flags("RA")
    box.add(read)
    box.add(TWO)
    box.add(b"From: d@example.org\nSubject: lf\n\nFrom here on, the body.\nend\n")
    box.close()
    loaded = load_messages(path)
    assert subjects(loaded) == ["one", "two", "lf"]
    assert loaded[0].flags == {"seen", "replied"}
    assert loaded[1].flags == frozenset()
    # The stdlib writer escapes a body line starting with "From "; it is served as stored.
    assert loaded[2].data.endswith(b"\r\n>From here on, the body.\r\nend\r\n")


def test_stdlib_mailbox_objects(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "inbox")
    flagged = mailbox.mboxMessage(TWO)
    flagged.set_flags("F")
    box.add(ONE)
    box.add(flagged)
    loaded = load_messages(box)
    box.close()
    assert subjects(loaded) == ["one", "two"]
    assert loaded[1].flags == {"flagged"}


# -- Maildir ---------------------------------------------------------------------------------


def test_maildir_with_flags_in_delivery_order(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir")
    keys = []
    for data, flags, subdir in ((ONE, "", "new"), (TWO, "S", "cur"), (THREE, "RS", "cur")):
        message = mailbox.MaildirMessage(data)
        message.set_subdir(subdir)
        message.set_flags(flags)
        keys.append(box.add(message))
    number_in_order(tmp_path / "Maildir", keys)
    objects = load_messages(mailbox.Maildir(tmp_path / "Maildir", create=False))
    assert subjects(objects) == ["one", "two", "three"]  # keys sorted
    assert [set(m.flags) for m in objects] == [{"new"}, {"seen"}, {"replied", "seen"}]
    write(tmp_path / "Maildir" / "cur" / ".hidden", b"ignored")
    loaded = load_messages(tmp_path / "Maildir")
    assert subjects(loaded) == ["one", "two", "three"]
    assert [set(m.flags) for m in loaded] == [{"new"}, {"seen"}, {"replied", "seen"}]
    assert [m.data for m in loaded] == [ONE, TWO, THREE]


# Hand-made names in the order they were delivered: microseconds without zero padding, a
# second without an M part (after the timed ones of that second), and names without a second.
DELIVERED = [
    ("new", "99.M999999P1Q1.h"),
    ("new", "100.M797P1Q2.h"),
    ("cur", "100.M62954P1Q3.h:2,S"),
    ("new", "100.M62954P1Q10.h"),
    ("new", "100.M93872P7Q1.h"),
    ("new", "100.4242_1.h"),
    ("new", "101.V801I1e240M5.h"),
    ("new", "1000.M1P1Q11.h"),
    ("new", "notes"),
    ("cur", "z-odd:2,"),
]


@pytest.mark.parametrize("as_object", [False, True], ids=["path", "mailbox.Maildir"])
def test_maildir_served_in_delivery_order(tmp_path: Path, as_object: bool) -> None:
    root = tmp_path / "Maildir"
    mailbox.Maildir(root)
    expected = [
        f"Subject: {name}\r\n\r\nmessage {n}\r\n".encode() for n, (_, name) in enumerate(DELIVERED)
    ]
    for (sub, name), data in reversed(list(zip(DELIVERED, expected, strict=True))):
        write(root / sub / name, data)
    source = mailbox.Maildir(root, create=False) if as_object else root
    with POP3Server() as server:
        server.add_user("alice", "pw", load_messages(source))
        client = login(server, "alice", "pw")
        assert client.stat()[0] == len(DELIVERED)
        served = [retr(client, n) for n in range(1, len(DELIVERED) + 1)]
        client.quit()
    server.check()
    assert served == expected


def test_empty_maildir_is_an_empty_maildrop(tmp_path: Path) -> None:
    mailbox.Maildir(tmp_path / "empty")
    assert load_messages(tmp_path / "empty") == []


# -- errors ----------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nothing-here: no such file or folder"):
        load_messages(tmp_path / "nothing-here")


def test_folder_without_eml_files_and_not_a_maildir(tmp_path: Path) -> None:
    write(tmp_path / "readme.txt", b"hello")
    (tmp_path / "cur").mkdir()  # cur/ without new/ is no Maildir
    with pytest.raises(ConfigurationError, match=r"without \.eml files, and not a Maildir"):
        load_messages(tmp_path)


def test_not_an_mbox(tmp_path: Path) -> None:
    path = write(tmp_path / "mail.txt", ONE)
    with pytest.raises(ConfigurationError, match=r"mail\.txt: not an mbox file.*\*\.eml"):
        load_messages(path)


def test_empty_mbox(tmp_path: Path) -> None:
    path = write(tmp_path / "inbox", b"")
    with pytest.raises(ConfigurationError, match=r"inbox: empty file.*give \[\]"):
        load_messages(path)


def test_mbox_with_an_empty_message_serves_it(tmp_path: Path) -> None:
    path = write(tmp_path / "inbox", b"From a Sat Jan  3 01:05:34 2024\n" + ONE + b"\nFrom b x\n\n")
    first, second = load_messages(path)
    assert (first.data, first.notes) == (ONE, ())
    assert (second.data, second.size, second.notes) == (b"", 0, ("empty",))


# What a client's parser is tested with: served as given (line ends aside), with notes.
UNUSUAL = [
    (b"", b"", ("empty",)),
    (b"\r\n\r\n", b"\r\n\r\n", ("no header fields",)),
    (b"%PDF-1.7\n%\xe2\xe3\n", b"%PDF-1.7\r\n%\xe2\xe3\r\n", ("no header fields",)),
    (b"just some words\r\n", b"just some words\r\n", ("no header fields",)),
    (
        b"Subject: x\nno blank line\n",
        b"Subject: x\r\nno blank line\r\n",
        ("no blank line between headers and body",),
    ),
    (b"Subject: only headers", b"Subject: only headers\r\n", ()),
    (b"Subject: x\r\n folded\r\n\r\nbody\r\n", b"Subject: x\r\n folded\r\n\r\nbody\r\n", ()),
]


@pytest.mark.parametrize(("data", "served", "notes"), UNUSUAL)
def test_eml_file_that_is_not_rfc_5322_is_served_as_given(
    tmp_path: Path, data: bytes, served: bytes, notes: tuple[str, ...]
) -> None:
    write(tmp_path / "a.eml", ONE)
    write(tmp_path / "b.eml", data)
    a, b = load_messages(tmp_path)
    assert (a.data, a.notes) == (ONE, ())
    assert (b.data, b.notes, b.size) == (served, notes, len(served))


@pytest.mark.parametrize(("data", "served", "notes"), UNUSUAL)
def test_python_values_get_the_same_notes(
    data: bytes, served: bytes, notes: tuple[str, ...]
) -> None:
    (message,) = load_messages([data])
    assert (message.data, message.notes) == (served, notes)
    assert Message.of(data).notes == notes


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    write(tmp_path / "a.eml", ONE)
    (tmp_path / "b.eml").symlink_to(tmp_path / "gone.eml")  # listed, but cannot be opened
    with pytest.raises(ConfigurationError, match=r"b\.eml: cannot read: No such file"):
        load_messages(tmp_path)
    (tmp_path / "b.eml").unlink()
    (tmp_path / "b.eml").mkdir()
    with pytest.raises(ConfigurationError, match=r"b\.eml: cannot read: Is a directory"):
        load_messages(tmp_path)


def test_maildir_object_with_an_unreadable_message(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir")
    box.add(ONE)
    key = box.add(TWO)
    # Gone after the object was made, its name still listed: what a message moved away by
    # another program between listing and reading looks like.
    (tmp_path / "Maildir" / "new" / key).unlink()
    (tmp_path / "Maildir" / "new" / key).symlink_to(tmp_path / "elsewhere")
    where = re.escape(f"{tmp_path / 'Maildir'}: message 2 (key '{key}')")
    with pytest.raises(ConfigurationError, match=where + ": cannot read: No such file"):
        load_messages(box)


@pytest.mark.parametrize(
    ("data", "served"),
    # The stdlib writes an empty message as an empty header section: one blank line.
    [(b"", b"\r\n"), (b"just some words\n", b"just some words\r\n")],
)
def test_mbox_object_with_a_message_that_is_not_one_serves_it(
    tmp_path: Path, data: bytes, served: bytes
) -> None:
    box = mailbox.mbox(tmp_path / "obj.mbox")
    box.add(ONE)
    box.add(data)
    box.add(TWO)
    box.flush()
    from_object = load_messages(box)
    box.close()
    # The same file given as a path gives the same messages.
    for messages in (from_object, load_messages(tmp_path / "obj.mbox")):
        assert [m.notes for m in messages] == [(), ("no header fields",), ()]
        assert messages[1].data == served


# -- what the stdlib writes, pop3mock reads back -----------------------------------------------

HEADER = st.tuples(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True),
    st.from_regex(r"[ -~]{0,60}", fullmatch=True).map(str.strip),
)
BODY_LINE = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b".", b"..", b"From the start", b">From quoted", b""]),
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(HEADER, min_size=1, max_size=5))
    body = draw(st.lists(BODY_LINE, max_size=12))
    head = b"".join(f"{name}: {value}".encode() + b"\r\n" for name, value in headers)
    return head + b"\r\n" + b"".join(line + b"\r\n" for line in body)


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(messages(), min_size=1, max_size=4))
def test_stdlib_written_maildrops_round_trip(
    tmp_path_factory: pytest.TempPathFactory, data: list[bytes]
) -> None:
    root = tmp_path_factory.mktemp("roundtrip")
    folder = root / "eml"
    folder.mkdir()
    for n, item in enumerate(data):
        write(folder / f"{n:04d}.eml", item)
    maildir = mailbox.Maildir(root / "Maildir")
    number_in_order(root / "Maildir", [maildir.add(item) for item in data])
    mbox = mailbox.mbox(root / "inbox")
    for item in data:
        mbox.add(item)
    mbox.close()
    assert [m.data for m in load_messages(folder)] == data
    assert [m.data for m in load_messages(root / "Maildir")] == data
    # The stdlib mbox writer turns a body line "From ..." into ">From ..." (mboxo).
    escaped = [item.replace(b"\nFrom ", b"\n>From ") for item in data]
    assert [m.data for m in load_messages(root / "inbox")] == escaped


# -- several users, delivery between sessions, inspection, reset (end to end) ----------------


def login(server: POP3Server, user: str, password: str) -> poplib.POP3:
    client = poplib.POP3(server.host, server.port, timeout=10)
    client.user(user)
    client.pass_(password)
    return client


def retr(client: poplib.POP3, n: int) -> bytes:
    _, lines, _ = client.retr(n)
    return b"".join(line + b"\r\n" for line in lines)


def test_users_with_their_own_maildrops_and_new_mail_between_sessions(tmp_path: Path) -> None:
    write(tmp_path / "1.eml", ONE)
    write(tmp_path / "2.eml", TWO)
    with POP3Server() as server:
        alice = server.add_user("alice", "a-pw", load_messages(tmp_path))
        bob = server.add_user("bob", "b-pw", [THREE])
        carol = server.add_user("carol", "c-pw", fake_messages(3, seed=1))
        server.add_user("dave", "d-pw")
        for name, password, box in (("alice", "a-pw", alice), ("bob", "b-pw", bob)):
            client = login(server, name, password)
            assert client.stat()[0] == len(box)
            assert retr(client, 1) == box.messages[0].data
            client.quit()
        client = login(server, "carol", "c-pw")
        assert client.stat() == (3, sum(m.size for m in carol.messages))
        client.quit()
        client = login(server, "dave", "d-pw")
        assert client.stat() == (0, 0)
        client.quit()

        # Mail delivered while a session is open shows up only in the next session.
        client = login(server, "bob", "b-pw")
        bob.add(ONE, TWO)
        assert client.stat()[0] == 1
        client.quit()
        client = login(server, "bob", "b-pw")
        assert client.stat()[0] == 3
        assert retr(client, 3) == TWO
        _, uids, _ = client.uidl()
        assert [u.split()[1].decode() for u in uids] == list(bob.uids)
        client.quit()
        assert len(alice) == 2  # other users' maildrops are untouched
    server.check()


def test_inspection_after_the_client_ran_and_reset(tmp_path: Path) -> None:
    with POP3Server(users={"alice": "pw"}) as server:
        box = server.mailbox("alice")
        box.add(ONE, TWO, THREE)
        one, two, three = box.uids
        client = login(server, "alice", "pw")
        retr(client, 1)
        retr(client, 1)
        client.top(2, 0)
        client.dele(3)
        client.quit()

        assert box.retrieved == {one: 2, two: 1}
        assert box.uids == (one, two)
        assert [m.data for m in box.messages] == [ONE, TWO]
        assert box.deleted_uids == (three,)
        assert [m.data for m in box.deleted] == [THREE]
        assert box.message(three).data == THREE
        with pytest.raises(KeyError, match="no message with uid"):
            box.message("nope")

        # A dropped connection deletes nothing.
        client = login(server, "alice", "pw")
        client.dele(1)
        client.close()
        server.journal.wait_for(sessions_ended=2)  # the server saw the drop, released the lock
        box.add(ONE)  # delivered after creation: reset keeps it too
        client = login(server, "alice", "pw")
        with pytest.raises(ConfigurationError, match="while a session holds it"):
            box.reset()
        client.quit()

        box.reset()
        assert box.retrieved == {} and box.deleted == () and box.logins == 0
        assert box.uids[:3] == (one, two, three)
        assert len(box) == 4
        client = login(server, "alice", "pw")
        assert client.stat()[0] == 4
        assert retr(client, 3) == THREE
        _, uids, _ = client.uidl()
        assert [u.split()[1].decode() for u in uids] == list(box.uids)
        client.quit()
        assert box.retrieved == {three: 1}
    server.check()


def test_mailbox_built_directly_from_a_source(tmp_path: Path) -> None:
    write(tmp_path / "x.eml", ONE)
    box = Mailbox("erin", "pw", load_messages(tmp_path))
    with POP3Server(users={"erin": box}) as server:
        client = login(server, "erin", "pw")
        assert retr(client, 1) == ONE
        client.quit()
    server.check()


# -- unusual messages on the wire ------------------------------------------------------------


def test_zero_length_and_headerless_messages_over_poplib_and_curl(tmp_path: Path) -> None:
    write(tmp_path / "1.eml", b"")
    write(tmp_path / "2.eml", b"no header at all\n.dot line\n")
    write(tmp_path / "3.eml", ONE)
    messages = load_messages(tmp_path)
    assert [m.notes for m in messages] == [("empty",), ("no header fields",), ()]
    with POP3Server(users={"alice": "pw"}) as server:
        server.mailbox("alice").add(*messages)
        uids = server.mailbox("alice").uids
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        client.pass_("pw")
        assert client.list()[1] == [b"1 0", b"2 29", f"3 {len(ONE)}".encode()]
        assert client.list(1) == b"+OK 1 0"
        # RFC 1939: "+OK" and at once the terminating "." (C-104).
        assert client.retr(1)[1:] == ([], 0)
        assert client.top(1, 0)[1] == []
        assert client.retr(2)[1] == [b"no header at all", b".dot line"]
        # No blank line: the whole message counts as headers for TOP.
        assert client.top(2, 0)[1] == [b"no header at all", b".dot line"]
        assert client.uidl(1) == f"+OK 1 {uids[0]}".encode()
        client.quit()
        with RawClient(server.host, server.port) as raw:
            raw.greet()
            raw.cmd("USER alice")
            raw.cmd("PASS pw")
            raw.send(b"RETR 1\r\nTOP 1 0\r\n")
            assert raw.multiline() == b"+OK 0 octets\r\n.\r\n"
            assert raw.multiline().endswith(b"\r\n.\r\n")
            assert raw.buf == b""

        url, login = server.url, ("-u", "alice:pw")
        # curl (7.88) takes the status line's CRLF for the body's last line end and prints
        # it; the wire is "+OK" then "." (above).
        for request in ((f"{url}/1",), (f"{url}/", "-X", "TOP 1 0")):
            result = curl(*request, *login)
            assert (result.returncode, result.stdout) in ((0, b""), (0, b"\r\n"))
        assert curl(f"{url}/2", *login).stdout == messages[1].data
        listing = curl(f"{url}/", *login)
        assert listing.stdout.split(b"\r\n")[0] == b"1 0"
        uidl = curl(f"{url}/", *login, "-X", "UIDL")
        assert uidl.stdout.split(b"\r\n")[0] == f"1 {uids[0]}".encode()
    server.check()


# -- what cannot be read safely: not a regular file, too big ---------------------------------


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    write(tmp_path / "0.eml", ONE)
    os.mkfifo(tmp_path / "1.eml")  # opening it blocking would wait for a writer forever
    with pytest.raises(ConfigurationError, match=r"1\.eml: cannot read: a FIFO \(named pipe\)"):
        load_messages(tmp_path)
    os.mkfifo(tmp_path / "inbox")
    with pytest.raises(ConfigurationError, match=r"inbox: cannot read: a FIFO"):
        load_messages(tmp_path / "inbox")
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    key = maildir.add(ONE)
    os.unlink(tmp_path / "Maildir" / "new" / key)
    os.mkfifo(tmp_path / "Maildir" / "new" / key)
    for source in (tmp_path / "Maildir", maildir):
        with pytest.raises(ConfigurationError, match=r"cannot read: a FIFO"):
            load_messages(source)


def test_a_link_to_a_device_is_refused_a_link_to_a_file_is_read(tmp_path: Path) -> None:
    write(tmp_path / "real", ONE)
    (tmp_path / "eml").mkdir()
    (tmp_path / "eml" / "1.eml").symlink_to(tmp_path / "real")
    assert load_messages(tmp_path / "eml")[0].data == ONE
    (tmp_path / "eml" / "2.eml").symlink_to("/dev/zero")  # would read until MemoryError
    with pytest.raises(ConfigurationError, match=r"2\.eml: cannot read: a character device"):
        load_messages(tmp_path / "eml")


def test_the_size_limit_per_message(tmp_path: Path) -> None:
    write(tmp_path / "a.eml", ONE)
    assert load_messages(tmp_path, max_message_size=len(ONE))[0].data == ONE
    too_big = re.escape(
        f"{tmp_path / 'a.eml'}: {len(ONE)} octets, more than the limit of {len(ONE) - 1} "
        "octets per message"
    )
    with pytest.raises(ConfigurationError, match=too_big):
        load_messages(tmp_path, max_message_size=len(ONE) - 1)
    for bad in (0, -1, True, 1.5, "10"):
        with pytest.raises(ConfigurationError, match="max_message_size="):
            load_messages(tmp_path, max_message_size=bad)  # type: ignore[arg-type]


def test_the_size_limit_in_an_mbox_and_mailbox_objects(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "inbox")
    box.add(ONE)
    box.add(ONE + b"x" * 100 + b"\r\n")
    box.flush()
    assert len(load_messages(tmp_path / "inbox", max_message_size=200)) == 2
    for source in (tmp_path / "inbox", box):
        with pytest.raises(ConfigurationError, match=r"message 2.*limit of 100 octets"):
            load_messages(source, max_message_size=100)
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(ONE + b"x" * 100)
    for source in (tmp_path / "Maildir", maildir):
        with pytest.raises(ConfigurationError, match=r"limit of 100 octets per message"):
            load_messages(source, max_message_size=100)


def test_a_file_longer_than_its_size_on_disk_is_read_to_its_end_within_the_limit(
    tmp_path: Path,
) -> None:
    # A /proc file says size 0 and holds more: what a file growing while read looks like.
    status = Path("/proc/self/status")
    if not status.exists():
        pytest.skip("needs Linux /proc (a regular file whose size says 0)")
    (tmp_path / "1.eml").symlink_to(status)
    (message,) = load_messages(tmp_path)
    assert message.data.startswith(b"Name:\t") and message.size > 100
    with pytest.raises(ConfigurationError, match=r"1\.eml: more than the limit of 100 octets"):
        load_messages(tmp_path, max_message_size=100)
