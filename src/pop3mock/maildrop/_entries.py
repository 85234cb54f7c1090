"""The entries of a maildrop as a mailbox holds them.

Most entries are `Message` or `LazyMessage` objects. A large generated maildrop is a
`LazyMaildrop` instead: its uids and sizes in two tuples, and a `LazyMessage` made only for a
message somebody asks for. STAT, LIST and UIDL read the columns, so a mailbox of 100,000
generated messages holds two tuples rather than 200,000 objects. `Entries` is the
immutable sequence a session sees: runs of plain entries and slices of lazy maildrops.

Being immutable, `Entries` keeps what STAT, LIST and UIDL read of all its entries (the
octet sum and the two listing bodies) once computed: a change to a maildrop makes a new
`Entries`, so the sessions that find a maildrop unchanged share the last one's.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Union, overload

import attrs

from pop3mock.checks import whole_number
from pop3mock.errors import ConfigurationError
from pop3mock.maildrop._message import LazyMessage, Message, validate_uid

__all__ = ["Entries", "Entry", "LazyMaildrop", "prechecked_maildrop", "scan_lines", "uid_lines"]

Entry = Union[Message, LazyMessage]


# Every uid valid (RFC 1939 section 7) in one regex pass over them all: a per-uid call
# would cost more than the rest of building a 100,000-message maildrop.
_UIDS_RE = re.compile(r"[\x21-\x7e]{1,70}(?:\n[\x21-\x7e]{1,70})*")


def _check_uids(uids: tuple[str, ...]) -> None:
    if not uids:
        return
    joined = "\n".join(uids)
    # The count catches a uid holding "\n", which the pattern would read as two.
    if _UIDS_RE.fullmatch(joined) is None or joined.count("\n") != len(uids) - 1:
        for uid in uids:
            validate_uid(uid)  # raises, naming the first bad one


def _check_sizes(sizes: tuple[int, ...]) -> None:
    for size in sizes:
        if not whole_number(size):
            raise ConfigurationError(
                f"invalid size {size!r} in a lazy maildrop: a message size is a whole number >= 0"
            )


class LazyMaildrop(Sequence[LazyMessage]):
    """Lazy messages held as columns: uids and sizes now, `make(position)` on first use.

    Item `n` is the `LazyMessage` of position `n`, made when first asked for and the same
    object after that, so `drop[7].loaded` tells whether a client fetched message 8. Give the
    whole maildrop to `Mailbox.add` or `POP3Server.add_user` (not `*drop`): the mailbox then
    keeps the columns instead of one object per message.
    """

    __slots__ = ("_made", "_make", "sizes", "total_size", "uids")

    def __init__(
        self, uids: Iterable[str], sizes: Iterable[int], make: Callable[[int], Message]
    ) -> None:
        columns = tuple(uids), tuple(sizes)
        if len(columns[0]) != len(columns[1]):
            raise ConfigurationError(
                f"a lazy maildrop needs one size per uid: {len(columns[0])} uids, "
                f"{len(columns[1])} sizes"
            )
        _check_uids(columns[0])
        _check_sizes(columns[1])
        self._fill(*columns, make)

    def _fill(
        self, uids: tuple[str, ...], sizes: tuple[int, ...], make: Callable[[int], Message]
    ) -> None:
        self.uids = uids
        self.sizes = sizes
        self.total_size = sum(sizes)
        self._make = make
        self._made: dict[int, LazyMessage] = {}

    def __len__(self) -> int:
        return len(self.uids)

    @overload
    def __getitem__(self, index: int) -> LazyMessage: ...

    @overload
    def __getitem__(self, index: slice) -> list[LazyMessage]: ...

    def __getitem__(self, index: int | slice) -> LazyMessage | list[LazyMessage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self.uids))[index]  # negative indexes, and IndexError
        entry = self._made.get(position)
        if entry is None:
            made = LazyMessage(
                self.uids[position], self.sizes[position], _Load(self._make, position)
            )
            # setdefault is atomic: two threads asking at once get the same object.
            entry = self._made.setdefault(position, made)
        return entry

    def __iter__(self) -> Iterator[LazyMessage]:
        for position in range(len(self.uids)):
            yield self[position]

    def __repr__(self) -> str:
        return f"<LazyMaildrop {len(self)} messages, {self.total_size} octets>"


def prechecked_maildrop(
    uids: tuple[str, ...], sizes: tuple[int, ...], make: Callable[[int], Message]
) -> LazyMaildrop:
    """A `LazyMaildrop` from columns known to be valid, without checking them again.

    For pop3mock's own generator, whose uids are hex digests and whose sizes are exact by
    construction: the checks cost about 14 ms per 100,000 messages, a fifth of generating
    them. Anything else goes through `LazyMaildrop(...)`, which checks every uid and size.
    """
    drop = LazyMaildrop.__new__(LazyMaildrop)
    drop._fill(uids, sizes, make)
    return drop


class _Load:
    """`make(position)`, the loader of one LazyMessage of a LazyMaildrop."""

    __slots__ = ("make", "position")

    def __init__(self, make: Callable[[int], Message], position: int) -> None:
        self.make = make
        self.position = position

    def __call__(self) -> Message:
        return self.make(self.position)


@attrs.frozen
class _Slice:
    """The messages of a LazyMaildrop still present, by position."""

    drop: LazyMaildrop
    positions: Sequence[int]  # a range while nothing was removed

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def whole(self) -> bool:
        return self.positions == range(len(self.drop))


Segment = Union[tuple[Entry, ...], _Slice]


# A listing is made with one `%` over the whole body: formatting it line by line (or
# joining per-line pieces) costs about twice as much for 10,000 messages.


def scan_lines(numbers: Iterable[int], sizes: Iterable[int]) -> bytes:
    """LIST body lines, `n size` CRLF, for the message numbers and sizes given in pairs."""
    flat = tuple(itertools.chain.from_iterable(zip(numbers, sizes, strict=True)))
    return (("%d %d\r\n" * (len(flat) // 2)) % flat).encode("ascii")


def uid_lines(numbers: Iterable[int], uids: Iterable[str]) -> bytes:
    """UIDL body lines, `n uid` CRLF, for the message numbers and uids given in pairs."""
    flat = tuple(itertools.chain.from_iterable(zip(numbers, uids, strict=True)))
    return (("%d %s\r\n" * (len(flat) // 2)) % flat).encode("ascii")


class Entries(Sequence[Entry]):
    """An immutable sequence of entries: runs of plain entries and slices of lazy maildrops."""

    __slots__ = ("_ends", "_scan", "_segments", "_total", "_uidl")

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        self._segments = tuple(s for s in segments if len(s))
        self._ends = list(itertools.accumulate(len(s) for s in self._segments))
        # Computed on first use; threads that race compute equal values.
        self._total: int | None = None
        self._scan: bytes | None = None
        self._uidl: bytes | None = None

    @classmethod
    def of(cls, items: Iterable[Entry | LazyMaildrop]) -> Entries:
        """Plain entries and whole lazy maildrops, in order."""
        segments: list[Segment] = []
        run: list[Entry] = []
        for item in items:
            if isinstance(item, LazyMaildrop):
                segments += [tuple(run), _Slice(item, range(len(item)))]
                run = []
            else:
                run.append(item)
        segments.append(tuple(run))
        return cls(segments)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def plain(self) -> tuple[Entry, ...] | None:
        """All the entries as one tuple, when they are one run of plain entries (no lazy
        maildrop among them); None otherwise."""
        segments = self._segments
        if not segments:
            return ()
        if len(segments) == 1 and isinstance(segments[0], tuple):
            return segments[0]
        return None

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Entry, ...]: ...

    def __getitem__(self, index: int | slice) -> Entry | tuple[Entry, ...]:
        segments = self._segments
        if len(segments) == 1 and type(index) is int and index >= 0:
            # One run of plain entries (the usual maildrop): no search for the segment.
            segment = segments[0]
            if isinstance(segment, tuple) and index < len(segment):
                return segment[index]
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        i = range(len(self))[index]  # negative indexes, and IndexError
        k = bisect.bisect_right(self._ends, i)
        offset = i - (self._ends[k - 1] if k else 0)
        segment = self._segments[k]
        if isinstance(segment, tuple):
            return segment[offset]
        return segment.drop[segment.positions[offset]]

    def __iter__(self) -> Iterator[Entry]:
        for segment in self._segments:
            if isinstance(segment, tuple):
                yield from segment
            else:
                drop = segment.drop
                for position in segment.positions:
                    yield drop[position]

    def sizes(self) -> list[int]:
        """The size of every entry, in order, without making lazy ones."""
        out: list[int] = []
        for segment in self._segments:
            if isinstance(segment, tuple):
                out += [e.size for e in segment]
            elif segment.whole:
                out += segment.drop.sizes
            else:
                sizes = segment.drop.sizes
                out += [sizes[p] for p in segment.positions]
        return out

    def uids(self) -> list[str]:
        """The uid of every entry, in order, without making lazy ones."""
        out: list[str] = []
        for segment in self._segments:
            if isinstance(segment, tuple):
                out += [e.uid for e in segment]
            elif segment.whole:
                out += segment.drop.uids
            else:
                uids = segment.drop.uids
                out += [uids[p] for p in segment.positions]
        return out

    def total_size(self) -> int:
        """The sum of the sizes (a lazy maildrop's is known in advance), computed once."""
        if self._total is None:
            self._total = self._sum_sizes()
        return self._total

    def scan_listing(self) -> bytes:
        """The LIST body of all the entries, numbered from 1: made once, then shared."""
        if self._scan is None:
            self._scan = scan_lines(range(1, len(self) + 1), self.sizes())
        return self._scan

    def uid_listing(self) -> bytes:
        """The UIDL body of all the entries (their own uids), made once, then shared."""
        if self._uidl is None:
            self._uidl = uid_lines(range(1, len(self) + 1), self.uids())
        return self._uidl

    def _sum_sizes(self) -> int:
        total = 0
        for segment in self._segments:
            if isinstance(segment, tuple):
                total += sum([e.size for e in segment])
            elif segment.whole:
                total += segment.drop.total_size
            else:
                sizes = segment.drop.sizes
                total += sum([sizes[p] for p in segment.positions])
        return total

    def without(self, indexes: Collection[int]) -> Entries:
        """These entries but the ones at `indexes` (0-based)."""
        if not indexes:
            return self
        gone = set(indexes)
        segments: list[Segment] = []
        start = 0
        for segment in self._segments:
            end = start + len(segment)
            if any(start <= i < end for i in gone):
                if isinstance(segment, tuple):
                    segment = tuple(e for j, e in enumerate(segment, start) if j not in gone)
                else:
                    kept = [p for j, p in enumerate(segment.positions, start) if j not in gone]
                    segment = _Slice(segment.drop, tuple(kept))
            segments.append(segment)
            start = end
        return Entries(segments)

    def extended(self, run: Sequence[Entry]) -> Entries:
        """These entries then `run`.

        The run is merged into the plain run before it while that one is at most twice as
        long: each run is then more than twice the next, so mail delivered a little at a
        time between sessions makes O(log n) segments (an index stays a short search), and
        each entry is copied O(log n) times in all.
        """
        segments = list(self._segments)
        merged = added = tuple(run)
        while segments:
            last = segments[-1]
            if not isinstance(last, tuple) or len(last) > 2 * len(merged):
                break
            segments.pop()
            merged = last + merged
        segments.append(merged)
        return Entries(segments)._continuing(self, Entries([added]))

    def __add__(self, other: object) -> Entries:
        if not isinstance(other, Entries):
            return NotImplemented
        return Entries(self._segments + other._segments)._continuing(self, other)

    def _continuing(self, before: Entries, added: Entries) -> Entries:
        """These entries, which are `before` then `added`, with what `before` already
        computed carried on: mail delivered between sessions then costs the next session
        the listing lines of the new messages only, not a new listing of them all."""
        total, scan, uidl = before._total, before._scan, before._uidl
        numbers = range(len(before) + 1, len(self) + 1)
        if total is not None:
            self._total = total + added.total_size()
        if scan is not None:
            self._scan = scan + scan_lines(numbers, added.sizes())
        if uidl is not None:
            self._uidl = uidl + uid_lines(numbers, added.uids())
        return self

    def __repr__(self) -> str:
        return f"<Entries {len(self)} in {len(self._segments)} segments>"
