"""A user's maildrop, the view one POP3 session has of it, and the exclusive lock.

A `Mailbox` outlives sessions: after a client ran, a test looks at what remains, what was
retrieved and what was deleted. A `MaildropView` is what one logged-in session sees: the
messages numbered when it opened (RFC 1939 section 4), its deletion marks, and the commit
that QUIT from TRANSACTION performs. Nothing else ever removes a message.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress
from typing import TypeVar

from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._entries import Entries, Entry, LazyMaildrop, scan_lines, uid_lines
from pop3mock.maildrop._message import LazyMessage, Message, MessageInput

__all__ = ["AssignWireUids", "Entry", "Mailbox", "MaildropView"]

#: How a UID form gives new uids their wire UIDs: (user, new uids, book to fill, wire UIDs
#: already given).
AssignWireUids = Callable[[str, list[str], dict[str, str], set[str]], None]

_T = TypeVar("_T")
# Deletion marks (1 = marked) to the selectors of `itertools.compress` (1 = listed).
_UNMARKED = bytes.maketrans(b"\x00\x01", b"\x01\x00")


class _EntryLog:
    """Entries in delivery order: an immutable head and a list that `add` appends to.

    Appending is O(1), as with a list. `now()` folds what was appended into the head once,
    so that it gives the very same `Entries` until something changes: the sessions in
    between share its octet sum and listings, and a login copies nothing.
    """

    __slots__ = ("head", "tail")

    def __init__(self) -> None:
        self.head = Entries()
        self.tail: list[Entry] = []

    def __len__(self) -> int:
        return len(self.head) + len(self.tail)

    def now(self) -> Entries:
        if self.tail:
            self.head, self.tail = self.head.extended(self.tail), []
        return self.head

    def add_drop(self, drop: LazyMaildrop) -> None:
        self.head = self.now() + Entries.of([drop])

    def replace(self, entries: Entries) -> None:
        self.head, self.tail = entries, []


class Mailbox:
    """One user's maildrop: credentials, messages, and what clients did to them.

    Thread-safe: sessions of several connections and the test itself may use it at once.
    """

    def __init__(
        self,
        user: str,
        password: str,
        messages: Iterable[MessageInput | LazyMessage | LazyMaildrop] = (),
        *,
        token: str | None = None,
    ) -> None:
        if not isinstance(user, str) or not isinstance(password, str):
            raise ConfigurationError(
                f"user {user!r}: the name and the password must be strings, not "
                f"{type(user).__name__} and {type(password).__name__}"
            )
        if not user or any(c in user for c in " \r\n\t\0"):
            raise ConfigurationError(
                f"invalid user name {user!r}: it must be non-empty, without spaces or line ends"
            )
        if any(c in password for c in "\r\n\0"):
            raise ConfigurationError(f"the password of {user!r} contains a line end or NUL")
        self.user = user
        self.password = password
        #: Bearer token for XOAUTH2 / OAUTHBEARER; None means those mechanisms fail for this user.
        self.token = token
        self._lock = threading.Lock()
        self._entries = _EntryLog()
        self._used_uids: set[str] = set()
        self._suffixes: dict[str, int] = {}  # the next suffix to try for a repeated uid
        self._deleted: list[Entry] = []
        self._retrieved: Counter[str] = Counter()
        self._session: MaildropView | None = None
        self._logins = 0
        self._last_login: float | None = None
        # Every message ever delivered, in order: what reset() puts back.
        self._delivered = _EntryLog()
        # Per UID form: the wire UID each uid got, and the wire UIDs given (never reused).
        self._wire: dict[str, tuple[dict[str, str], set[str]]] = {}
        if isinstance(messages, LazyMaildrop):
            self.add(messages)
        else:
            self.add(*messages)

    def __repr__(self) -> str:
        return f"<Mailbox {self.user!r}: {len(self)} messages>"

    # -- content -------------------------------------------------------------------------

    def add(self, *messages: MessageInput | LazyMessage | LazyMaildrop) -> list[str]:
        """Deliver new mail. A session already open does not see it (RFC 1939 section 4).

        A `LazyMaildrop` given as one argument is kept as its columns, not message by message.
        Returns the uids the new messages got (a repeated uid gets a suffix).
        """
        uids: list[str] = []
        for group in _groups(messages):
            if isinstance(group, LazyMaildrop):
                uids += self._add_drop(group)
            else:
                uids += self._add_entries(group)
        return uids

    def _add_entries(self, messages: Sequence[MessageInput | LazyMessage]) -> list[str]:
        # No function call per ready-made entry: a generated maildrop has 100,000 of them.
        entries: list[Entry] = [
            m if isinstance(m, (Message, LazyMessage)) else Message.of(m) for m in messages
        ]
        with self._lock:
            used = self._used_uids
            for i, entry in enumerate(entries):
                if entry.uid in used:
                    entries[i] = entry = self._renamed(entry)
                used.add(entry.uid)
            self._entries.tail += entries
            self._delivered.tail += entries
        return [entry.uid for entry in entries]

    def _add_drop(self, drop: LazyMaildrop) -> list[str]:
        fresh = set(drop.uids)
        with self._lock:
            if len(fresh) == len(drop) and self._used_uids.isdisjoint(fresh):
                self._used_uids |= fresh
                self._entries.add_drop(drop)
                self._delivered.add_drop(drop)
                return list(drop.uids)
        # A uid seen before (the same maildrop added twice): message by message, renamed.
        return self._add_entries(list(drop))

    def _renamed(self, entry: Entry) -> Entry:
        # A UID names one message and is never reused (RFC 1939 section 7, C-081, C-083):
        # identical copies or a re-delivered message get a suffixed UID.
        base = entry.uid[:60]
        # Searching from the last suffix given: the n-th copy of one message costs O(1),
        # not O(n) (a test that delivers the same message many times).
        n = self._suffixes.get(base, 2)
        while f"{base}.{n}" in self._used_uids:
            n += 1
        self._suffixes[base] = n + 1
        uid = f"{base}.{n}"
        if isinstance(entry, Message):
            return Message(entry.data, uid, entry.flags)
        return LazyMessage(uid, entry.size, entry.load, entry.flags)

    def reset(self) -> None:
        """Undo what clients did, for the next test or the next round of one.

        Every message delivered so far (at creation and with add()) is back, in delivery
        order and with the same uids; deletions, retrieval counts and logins are forgotten.
        """
        with self._lock:
            if self._session is not None:
                raise ConfigurationError(
                    f"cannot reset mailbox {self.user!r} while a session holds it"
                )
            self._entries.replace(self._delivered.now())
            self._deleted.clear()
            self._retrieved.clear()
            self._logins = 0
            self._last_login = None

    def wire_uids(self, form: str, uids: Sequence[str], assign: AssignWireUids) -> list[str]:
        """The wire form of `uids` under UID form `form`, kept for the mailbox's life.

        The first time a uid is asked for, `assign(user, new_uids, book, used)` enters its
        wire UID in `book` (and in `used`); each uid keeps the form it got first, across
        sessions and resets. How a form looks is the protocol's business, not the maildrop's.
        """
        with self._lock:
            book, used = self._wire.setdefault(form, ({}, set()))
            new = [uid for uid in uids if uid not in book]
            if new:
                assign(self.user, new, book, used)
            return [book[uid] for uid in uids]

    def snapshot(self) -> Entries:
        """The maildrop now (committed state), as an immutable value for `reset(to=...)`."""
        with self._lock:
            return self._entries.now()

    def restore(self, entries: Entries) -> None:
        """Make `entries` the whole maildrop, as if it had been delivered alone (a control
        API's reset to the configured maildrop): later deliveries, deletions, retrieval
        counts and logins are forgotten, and `reset()` comes back to these entries."""
        with self._lock:
            if self._session is not None:
                raise ConfigurationError(
                    f"cannot reset mailbox {self.user!r} while a session holds it"
                )
            self._entries.replace(entries)
            self._delivered.replace(entries)
            self._used_uids = set(entries.uids())
            self._suffixes.clear()
            self._deleted.clear()
            self._retrieved.clear()
            self._logins = 0
            self._last_login = None

    def purge(self) -> int:
        """Remove every message from the maildrop now; return how many there were.

        Refused while a session holds the maildrop: its numbers are fixed at login.
        """
        with self._lock:
            if self._session is not None:
                raise ConfigurationError(
                    f"cannot empty mailbox {self.user!r} while a session holds it"
                )
            count = len(self._entries)
            self._entries.replace(Entries())
            return count

    @property
    def messages(self) -> tuple[Message, ...]:
        """The messages in the maildrop now (committed state), in order."""
        with self._lock:
            entries = self._entries.now()
        return tuple(e.message for e in entries)

    @property
    def uids(self) -> tuple[str, ...]:
        """The unique-ids of the messages in the maildrop now."""
        with self._lock:
            return tuple(self._entries.now().uids())

    @property
    def deleted(self) -> tuple[Message, ...]:
        """Messages removed by sessions that ended with QUIT, oldest first."""
        with self._lock:
            entries = tuple(self._deleted)
        return tuple(e.message for e in entries)

    @property
    def deleted_uids(self) -> tuple[str, ...]:
        """The unique-ids of the deleted messages (without building lazy ones)."""
        with self._lock:
            return tuple(e.uid for e in self._deleted)

    def message(self, uid: str) -> Message:
        """The message with this unique-id, whether it is still there or was deleted."""
        with self._lock:
            delivered = self._delivered.now()
        try:
            index = delivered.uids().index(uid)
        except ValueError:
            raise KeyError(f"no message with uid {uid!r} in mailbox {self.user!r}") from None
        return delivered[index].message

    @property
    def retrieved(self) -> dict[str, int]:
        """How often each message (by uid) was sent with RETR or TOP."""
        with self._lock:
            return dict(self._retrieved)

    @property
    def locked(self) -> bool:
        """Whether a session holds the maildrop now."""
        return self._session is not None

    @property
    def logins(self) -> int:
        """How many sessions logged in to this mailbox."""
        return self._logins

    @property
    def last_login(self) -> float | None:
        """The clock reading of the last successful login (for LOGIN-DELAY)."""
        return self._last_login

    def __len__(self) -> int:
        with self._lock:  # `now()` moves entries from the log's tail to its head
            return len(self._entries)

    # -- sessions ------------------------------------------------------------------------

    def open(self, now: float | None = None) -> MaildropView | None:
        """Lock the maildrop for one session; None when another session holds it."""
        with self._lock:
            if self._session is not None:
                return None
            view = MaildropView(self, self._entries.now())
            self._session = view
            self._logins += 1
            if now is not None:
                self._last_login = now
            return view

    def _note_retrieved(self, uid: str) -> None:
        with self._lock:
            self._retrieved[uid] += 1

    def _commit(self, view: MaildropView, indexes: Sequence[int]) -> None:
        with self._lock:
            if self._session is not view:
                return
            # Mail delivered during the session was appended: the view's indexes still hold.
            self._deleted += [view.entries[i] for i in indexes]
            self._entries.replace(self._entries.now().without(indexes))
            self._session = None

    def _release(self, view: MaildropView) -> None:
        with self._lock:
            if self._session is view:
                self._session = None


class MaildropView:
    """What one session sees: numbers fixed at login, deletion marks, cached listings."""

    def __init__(self, mailbox: Mailbox, entries: Entries) -> None:
        self.mailbox = mailbox
        self.entries = entries
        # The usual maildrop as one tuple: a message is found by indexing it, with no call.
        self._plain = entries.plain()
        self._size = len(entries)
        self._deleted = bytearray(len(entries))
        self._count = len(entries)
        self._octets = entries.total_size()
        self._list: bytes | None = None
        self._uidl: bytes | None = None
        self.highest_accessed = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self.entries)

    def stat(self) -> tuple[int, int]:
        """Count and octets of the messages not marked deleted."""
        return self._count, self._octets

    def get(self, number: int) -> Entry | None:
        """Message `number` (1-based) unless it does not exist or is marked deleted."""
        if 1 <= number <= self._size and not self._deleted[number - 1]:
            plain = self._plain
            return plain[number - 1] if plain is not None else self.entries[number - 1]
        return None

    def exists(self, number: int) -> bool:
        return 1 <= number <= self._size

    def is_deleted(self, number: int) -> bool:
        return self.exists(number) and bool(self._deleted[number - 1])

    def mark_deleted(self, number: int) -> None:
        if not self._deleted[number - 1]:
            self._deleted[number - 1] = 1
            self._count -= 1
            self._octets -= self.entries[number - 1].size
            self._list = self._uidl = None

    def unmark_all(self) -> None:
        if self._count != len(self.entries):
            self._deleted = bytearray(len(self.entries))
            self._count = len(self.entries)
            self._octets = self.entries.total_size()
            self._list = self._uidl = None

    def retrieved(self, number: int) -> Message:
        """Message `number` for RETR/TOP: counted as retrieved, loaded if lazy."""
        plain = self._plain
        entry = plain[number - 1] if plain is not None else self.entries[number - 1]
        message = entry.message
        self.mailbox._note_retrieved(entry.uid)
        if number > self.highest_accessed:
            self.highest_accessed = number
        return message

    def scan_listing(self) -> bytes:
        """LIST body: `n size` lines of the messages not marked deleted (cached until a mark)."""
        if self._count == len(self.entries):
            return self.entries.scan_listing()  # nothing marked: shared across sessions
        if self._list is None:
            if self._few_marked():
                self._list = self._cut_marked(self.entries.scan_listing())
            else:
                self._list = scan_lines(*self._unmarked(self.entries.sizes()))
        return self._list

    def uid_listing(self) -> bytes:
        """UIDL body: `n uid` lines of the messages not marked deleted (cached until a mark)."""
        if self._count == len(self.entries):
            return self.entries.uid_listing()  # nothing marked: shared across sessions
        if self._uidl is None:
            if self._few_marked():
                self._uidl = self._cut_marked(self.entries.uid_listing())
            else:
                self._uidl = uid_lines(*self._unmarked(self.entries.uids()))
        return self._uidl

    def _few_marked(self) -> bool:
        # Cutting a line out costs a few Python steps, formatting one a few times less: past
        # one mark in eight, making the listing anew is the cheaper way.
        return (len(self.entries) - self._count) * 8 <= len(self.entries)

    def _cut_marked(self, whole: bytes) -> bytes:
        """`whole`, the listing of every message, without the lines of the marked ones.

        A session's numbers do not change when messages are marked, so the kept lines are
        those of `whole`. Line n is found by what begins it, "n " after a line end (or at
        the very start): a size or a uid holds no space and no line end, so nothing else
        matches.
        """
        deleted = self._deleted
        data = memoryview(whole)
        pieces: list[memoryview] = []
        kept_from = 0  # the start of the text kept after the last cut
        index = deleted.find(1)
        while index >= 0:
            number = index + 1
            begin = (
                0 if number == 1 else whole.index(b"\r\n%d " % number, max(kept_from - 2, 0)) + 2
            )
            pieces.append(data[kept_from:begin])
            kept_from = whole.index(b"\r\n", begin) + 2
            index = deleted.find(1, number)
        pieces.append(data[kept_from:])
        return b"".join(pieces)

    def _unmarked(self, column: list[_T]) -> tuple[Iterator[int], Iterator[_T]]:
        """The numbers and the values of `column` of the messages not marked deleted."""
        kept = self._deleted.translate(_UNMARKED)
        return compress(range(1, len(column) + 1), kept), compress(column, kept)

    def commit(self, extra: Iterable[int] = ()) -> int:
        """UPDATE state: remove marked messages (and `extra` numbers), release the lock."""
        if self._count == len(self.entries):
            remove: set[int] = set()  # nothing marked (the usual QUIT): no scan of the marks
        else:
            remove = {i for i, flag in enumerate(self._deleted) if flag}
        if extra:
            remove.update(n - 1 for n in extra if self.exists(n))
        self.mailbox._commit(self, sorted(remove))
        self.closed = True
        return len(remove)

    def release(self) -> None:
        """End the session without UPDATE: nothing is removed, the lock is released."""
        self.mailbox._release(self)
        self.closed = True


def _groups(
    messages: Iterable[MessageInput | LazyMessage | LazyMaildrop],
) -> Iterable[list[MessageInput | LazyMessage] | LazyMaildrop]:
    """Runs of single messages, and each LazyMaildrop on its own, in order."""
    run: list[MessageInput | LazyMessage] = []
    for item in messages:
        if isinstance(item, LazyMaildrop):
            if run:
                yield run
                run = []
            yield item
        else:
            run.append(item)
    if run:
        yield run
