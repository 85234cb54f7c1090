"""Who writes each generated message, to whom, when, about what, and which earlier message
it answers: message heads, made from (seed, index) alone and cut into threads of bounded depth.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from random import Random

import attrs

from pop3mock.fake._plan import stream
from pop3mock.fake._vocabulary import EMOJI, Pool, pool_for

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["Head", "Heads", "person"]

_MAX_DEPTH = 8  # replies in one thread: keeps References short and parent lookups cheap
_AGENTS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0",
    "X-Mailer: Apple Mail (2.3731.700.6)",
    "X-Mailer: Microsoft Outlook 16.0",
    "User-Agent: Roundcube Webmail/1.6.5",
    "X-Mailer: iPhone Mail (20G75)",
    "User-Agent: Mutt/2.2.12 (2023-09-09)",
    "",
)
_TZ_MINUTES = (-480, -300, -240, 0, 0, 60, 60, 120, 180, 330, 540)


@attrs.frozen(eq=False)
class Head:
    pool: Pool
    sender: tuple[str, str]
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    subject: str
    date: int
    tz: int
    message_id: str
    references: tuple[str, ...]
    parent: Head | None
    agent: str


def person(pool: Pool, rng: Random) -> tuple[str, str]:
    name = rng.choice(pool.names) if rng.random() < 0.92 else ""
    domain = rng.choice(pool.free_domains if rng.random() < 0.4 else pool.domains)
    return name, f"{rng.choice(pool.users)}@{domain}"


def _subject(pool: Pool, rng: Random) -> str:
    words = rng.choices(pool.words, k=rng.randint(2, 7) if pool.spaced else rng.randint(2, 4))
    text = " ".join(words) if pool.spaced else "".join(words)
    text = text[:1].upper() + text[1:]
    roll = rng.random()
    if roll < 0.12:
        text = f"[{rng.choice(pool.words)}] {text}"
    elif roll < 0.22:
        text = f"{text} #{rng.randint(100, 99999)}"
    elif roll < 0.28:
        text = f"{text} {rng.choice(EMOJI)}"
    return text[:70] if pool.spaced else text[:24]


def _message_id(address: str, rng: Random) -> str:
    domain = address.rpartition("@")[2]
    style = rng.randrange(3)
    if style == 0:
        return f"{rng.getrandbits(64):016x}.{rng.getrandbits(40):010x}@{domain}"
    if style == 1:
        return f"CA+{base64.b32encode(rng.randbytes(20)).decode().rstrip('=')}@mail.{domain}"
    return f"{rng.getrandbits(128):032X}@{domain}"


@attrs.frozen(eq=False)
class Heads:
    """The heads of one factory's messages; `head(index)` and `owner()` are cached."""

    seed: int
    locale: str
    replies: float
    non_ascii: float
    other_locales: tuple[str, ...]
    dates: tuple[datetime, datetime]
    recipient: str | None
    head: Callable[[int], Head] = attrs.field(init=False, repr=False)
    owner: Callable[[], tuple[str, str]] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Replies look up their parent's head; a bounded cache makes threads cheap to build.
        object.__setattr__(self, "head", lru_cache(maxsize=4096)(self._make_head))
        object.__setattr__(self, "owner", lru_cache(maxsize=1)(self._find_owner))

    def _find_owner(self) -> tuple[str, str]:
        if self.recipient is not None:
            return email.utils.parseaddr(self.recipient)
        return person(pool_for(self.locale), Random(f"pop3mock-owner-{self.seed}"))

    def _thread(self, index: int) -> tuple[bool, int]:
        """Whether message `index` rolled "reply", and to which earlier message (cheap)."""
        if index == 0:
            return False, 0
        digest = hashlib.blake2b(b"%d:%d:thread" % (self.seed, index), digest_size=8).digest()
        rolled = int.from_bytes(digest[:4], "big") / 2**32 < self.replies
        return rolled, index - 1 - int.from_bytes(digest[4:], "big") % min(index, 24)

    def _parent(self, index: int) -> int | None:
        """The message `index` answers, or None for a thread root.

        A run of r messages that each rolled "reply" is cut into threads of at most
        _MAX_DEPTH replies; walking the run is a loop over cheap digests, so even
        `replies=1` never recurses deeply or builds more than _MAX_DEPTH parent heads.
        """
        rolled, parent = self._thread(index)
        if not rolled:
            return None
        run, at = 1, parent
        while True:
            rolled, earlier = self._thread(at)
            if not rolled:
                break
            run, at = run + 1, earlier
        return None if run % (_MAX_DEPTH + 1) == 0 else parent

    def _make_head(self, index: int) -> Head:
        rng = stream(self.seed, index, b"head")
        parent = self._parent(index)
        if parent is not None:
            return self.reply_head(self.head(parent), rng)
        if self.other_locales and rng.random() < self.non_ascii:
            pool = pool_for(rng.choice(self.other_locales))
        else:
            pool = pool_for(self.locale)
        return self.root_head(pool, rng)

    def root_head(self, pool: Pool, rng: Random, *, to: tuple[str, str] | None = None) -> Head:
        sender = person(pool, rng)
        owner = to or self.owner()
        others = tuple(person(pool, rng) for _ in range(rng.choice((0, 0, 0, 1, 2))))
        cc = tuple(person(pool, rng) for _ in range(rng.choice((0, 0, 0, 0, 1, 2, 3))))
        start = int(self.dates[0].timestamp())
        end = int(self.dates[1].timestamp())
        return Head(
            pool=pool,
            sender=sender,
            to=(owner, *others),
            cc=cc,
            subject=_subject(pool, rng),
            date=start + rng.randrange(end - start),
            tz=rng.choice(_TZ_MINUTES),
            message_id=_message_id(sender[1], rng),
            references=(),
            parent=None,
            agent=rng.choice(_AGENTS),
        )

    def reply_head(self, parent: Head, rng: Random) -> Head:
        owner = self.owner()
        people = [p for p in (parent.sender, *parent.to, *parent.cc) if p[1] != owner[1]]
        sender = rng.choice(people) if people else person(parent.pool, rng)
        to = (owner,) if sender == parent.sender else (owner, parent.sender)
        cc = tuple(p for p in parent.cc if p != sender)
        return Head(
            pool=parent.pool,
            sender=sender,
            to=to,
            cc=cc,
            subject=parent.subject,
            date=parent.date + rng.randint(120, 4 * 86400),
            tz=rng.choice(_TZ_MINUTES),
            message_id=_message_id(sender[1], rng),
            references=(*parent.references, parent.message_id),
            parent=parent,
            agent=rng.choice(_AGENTS),
        )
