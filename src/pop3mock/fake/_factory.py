"""Generated maildrops: realistic, seeded, every common MIME shape, lazy at any scale.

Faker supplies the vocabulary (names, user names, domains and words in many languages), read
once per locale from a fixed Faker seed. Every decision about a message is made by a
`random.Random` seeded from a BLAKE2 digest of (seed, index): never the clock, never hash
randomisation. So message n can be built on its own, its uid and exact size are known before
it is built (a lazy maildrop answers STAT and LIST without building bodies), and one seed gives
the same bytes on every machine with the same Faker data.

Sizes are decided first and every message is then generated to that exact size: the last text
part is filled to its budget and a few octets of remainder go into the id of a Received header.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import attrs

from pop3mock.checks import MAX_LAZY_MESSAGES
from pop3mock.errors import ConfigurationError
from pop3mock.fake._builder import Builder
from pop3mock.fake._malformed import MALFORMED_KINDS
from pop3mock.fake._plan import PLANS_PER_BLOCK, Plan, PlanTable, plan_block_of, stream
from pop3mock.fake._threads import Heads
from pop3mock.fake._vocabulary import OTHER_LOCALES
from pop3mock.maildrop._entries import LazyMaildrop, prechecked_maildrop
from pop3mock.maildrop._message import Message

__all__ = [
    "DEFAULT_SHAPES",
    "MALFORMED_KINDS",
    "SHAPES",
    "MessageFactory",
    "fake_messages",
    "lazy_fake_messages",
]

#: Every message shape a factory can make.
SHAPES = ("plain", "html", "alternative", "attachment", "inline_image", "forward", "large")

#: The default weight of each shape (relative; they need not add up to anything).
DEFAULT_SHAPES: Mapping[str, float] = {
    "plain": 30.0,
    "html": 10.0,
    "alternative": 25.0,
    "attachment": 18.0,
    "inline_image": 8.0,
    "forward": 5.0,
    "large": 0.5,
}

_UTC = timezone.utc


def _shape_weights(
    value: Mapping[str, float] | Iterable[tuple[str, float]],
) -> tuple[tuple[str, float], ...]:
    items = dict(value.items() if isinstance(value, Mapping) else value)
    unknown = sorted(set(items) - set(SHAPES))
    if unknown:
        raise ConfigurationError(f"unknown message shapes {unknown}: choose from {list(SHAPES)}")
    pairs = tuple((shape, float(items[shape])) for shape in SHAPES if shape in items)
    if any(w < 0 for _, w in pairs) or not any(w > 0 for _, w in pairs):
        raise ConfigurationError(
            "shape weights must be >= 0 with at least one > 0, e.g. {'plain': 1}"
        )
    return tuple(p for p in pairs if p[1] > 0)


def _size_range(minimum: int) -> Callable[[Any, Any, tuple[int, int]], None]:
    def check(instance: Any, attribute: Any, value: tuple[int, int]) -> None:
        if len(value) != 2 or not all(isinstance(v, int) for v in value):
            raise ConfigurationError(f"{attribute.name}={value!r}: give (low, high) octets")
        lo, hi = value
        if not (minimum <= lo <= hi):
            raise ConfigurationError(
                f"{attribute.name}={value!r}: give (low, high) octets with {minimum} <= low <= high"
            )

    return check


def _integer(instance: Any, attribute: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"{attribute.name}={value!r}: give an integer")


def _ratio(instance: Any, attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{attribute.name}={value!r}: give a ratio from 0 to 1")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)


def _dates(value: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    start, end = (_aware(v) for v in value)
    if end <= start:
        raise ConfigurationError(f"dates={value!r}: the end must come after the start")
    return start, end


def _locale(instance: Any, attribute: Any, value: str | tuple[str, ...]) -> None:
    locales = (value,) if isinstance(value, str) else value
    if _BUILT_IN_LOCALES.issuperset(locales):
        return  # Faker has these; importing it (50 ms) waits until a body is built
    from faker.config import AVAILABLE_LOCALES

    for locale in locales:
        if locale not in AVAILABLE_LOCALES:
            raise ConfigurationError(
                f"unknown Faker locale {locale!r} (for example en_US, de_DE, ja_JP)"
            )


_BUILT_IN_LOCALES = frozenset({"en_US", *OTHER_LOCALES})


def _kinds(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    unknown = sorted(set(value) - set(MALFORMED_KINDS))
    if unknown or not value:
        raise ConfigurationError(
            f"malformed_kinds: give some of {list(MALFORMED_KINDS)} (unknown: {unknown})"
        )


@attrs.frozen
class MessageFactory:
    """Makes realistic messages from a seed; message n is the same on every run and machine.

    >>> factory = MessageFactory(seed=7, shapes={"plain": 3, "attachment": 1}, malformed=0.05)
    >>> first = factory.message(0)          # any index, on its own
    >>> drop = factory.lazy(100_000)        # a LazyMaildrop: uids and sizes known, no bytes

    Knobs: `shapes` (weights, see SHAPES), `text_size`, `attachment_size` and `large_size`
    (octet ranges), `replies` (share of messages answering an earlier one), `non_ascii`
    (share written in one of `other_locales`), `malformed` (share of deliberately broken
    messages, of `malformed_kinds`), `dates` (range of root messages' Date), `recipient`
    (the maildrop owner's address; generated from the seed when None).
    """

    seed: int = attrs.field(default=0, validator=_integer)
    locale: str = attrs.field(default="en_US", validator=_locale)
    shapes: tuple[tuple[str, float], ...] = attrs.field(
        default=DEFAULT_SHAPES, converter=_shape_weights
    )
    text_size: tuple[int, int] = attrs.field(
        default=(2_000, 48_000), converter=tuple, validator=_size_range(1_500)
    )
    attachment_size: tuple[int, int] = attrs.field(
        default=(2_000, 800_000), converter=tuple, validator=_size_range(200)
    )
    large_size: tuple[int, int] = attrs.field(
        default=(1_000_000, 6_000_000), converter=tuple, validator=_size_range(10_000)
    )
    replies: float = attrs.field(default=0.3, validator=_ratio)
    non_ascii: float = attrs.field(default=0.25, validator=_ratio)
    malformed: float = attrs.field(default=0.0, validator=_ratio)
    malformed_kinds: tuple[str, ...] = attrs.field(
        default=MALFORMED_KINDS, converter=tuple, validator=_kinds
    )
    dates: tuple[datetime, datetime] = attrs.field(
        default=(datetime(2023, 1, 1, tzinfo=_UTC), datetime(2026, 1, 1, tzinfo=_UTC)),
        converter=_dates,
    )
    other_locales: tuple[str, ...] = attrs.field(
        default=OTHER_LOCALES, converter=tuple, validator=_locale
    )
    recipient: str | None = None
    _heads: Heads = attrs.field(init=False, eq=False, hash=False, repr=False, alias="_heads")
    _table: PlanTable = attrs.field(init=False, eq=False, hash=False, repr=False, alias="_table")
    _plans: Callable[[int], tuple[Plan, ...]] = attrs.field(
        init=False, eq=False, hash=False, repr=False, alias="_plans"
    )

    def __attrs_post_init__(self) -> None:
        if self.recipient is not None and "@" not in email.utils.parseaddr(self.recipient)[1]:
            raise ConfigurationError(
                f"recipient={self.recipient!r}: give an address, e.g. 'Alice <alice@example.org>'"
            )
        heads = Heads(
            self.seed,
            self.locale,
            self.replies,
            self.non_ascii,
            self.other_locales,
            self.dates,
            self.recipient,
        )
        object.__setattr__(self, "_heads", heads)
        table = PlanTable.of(
            self.shapes,
            self.text_size,
            self.attachment_size,
            self.large_size,
            self.malformed,
            self.malformed_kinds,
        )
        object.__setattr__(self, "_table", table)
        seed = self.seed
        plans = lru_cache(maxsize=16)(lambda block: table.block(plan_block_of(seed, block)))
        object.__setattr__(self, "_plans", plans)

    # -- public --------------------------------------------------------------------------

    def message(self, index: int) -> Message:
        """Message number `index` (0-based) of this seed's endless maildrop."""
        if index < 0:
            raise ConfigurationError("message index must be >= 0")
        shape, size, uid, kind = self._plan(index)
        head = self._heads.head(index)
        rng = stream(self.seed, index, b"body")
        data, flags = Builder(self._heads, head, rng).build(shape, size, kind)
        if len(data) != size:  # the builder's own bookkeeping failed: never serve a wrong size
            raise AssertionError(f"message {index} is {len(data)} octets, planned {size}")
        return Message(data, uid, flags)

    def messages(self, count: int, *, start: int = 0) -> Iterator[Message]:
        """Messages `start` to `start + count - 1`, made one at a time."""
        _check_count(count)
        for index in range(start, start + count):
            yield self.message(index)

    def lazy(self, count: int, *, start: int = 0) -> LazyMaildrop:
        """The same messages as `messages`, lazily: uids and sizes now, bytes on first use.

        A `LazyMaildrop` holds them as two columns; item n is message `start + n` as a
        `LazyMessage`.
        """
        _check_count(count)
        if count > MAX_LAZY_MESSAGES:
            raise ConfigurationError(
                f"{count} generated messages: a lazy maildrop holds at most {MAX_LAZY_MESSAGES} "
                "(their sizes and uids are made up front)"
            )
        if start < 0:
            raise ConfigurationError("start must be >= 0")
        uids: list[str] = []
        sizes: list[int] = []
        index, end = start, start + count
        while index < end:
            block, first = divmod(index, PLANS_PER_BLOCK)
            last = min(PLANS_PER_BLOCK, first + end - index)
            # Not through the cache: a big maildrop would only push other blocks out.
            plans = self._table.block(plan_block_of(self.seed, block))[first:last]
            uids += [uid for _, _, uid, _ in plans]
            sizes += [size for _, size, _, _ in plans]
            index += last - first
        return prechecked_maildrop(tuple(uids), tuple(sizes), _Make(self, start))

    def size(self, index: int) -> int:
        """The exact size of message `index`, known without making it."""
        return self._plan(index)[1]

    def uid(self, index: int) -> str:
        """The unique-id of message `index`, known without making it."""
        return self._plan(index)[2]

    # -- internals -----------------------------------------------------------------------

    def _plan(self, index: int) -> tuple[str, int, str, str | None]:
        """Shape, exact size, uid and malformed kind of message `index`: no Faker, no body."""
        return self._plans(index // PLANS_PER_BLOCK)[index % PLANS_PER_BLOCK]


def _check_count(count: int) -> None:
    if count < 0:
        raise ConfigurationError(f"count must be >= 0, not {count}")


def fake_messages(
    count: int, *, seed: int = 0, locale: str = "en_US", **options: Any
) -> Iterator[Message]:
    """Yield `count` realistic generated messages; `options` are MessageFactory knobs.

    The same seed (and options) gives the same messages, byte for byte, on every run.
    """
    _check_count(count)
    return MessageFactory(seed=seed, locale=locale, **options).messages(count)


class _Make:
    """`factory.message(start + position)`: how a LazyMaildrop of a factory makes a message."""

    __slots__ = ("factory", "start")

    def __init__(self, factory: MessageFactory, start: int) -> None:
        self.factory = factory
        self.start = start

    def __call__(self, position: int) -> Message:
        return self.factory.message(self.start + position)


def lazy_fake_messages(
    count: int, *, seed: int = 0, locale: str = "en_US", **options: Any
) -> LazyMaildrop:
    """The messages of `fake_messages`, lazily: uid and size now, bytes on first RETR/TOP."""
    return MessageFactory(seed=seed, locale=locale, **options).lazy(count)
