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

import base64
import binascii
import bisect
import email.utils
import hashlib
import html
import re
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache, partial
from random import Random
from typing import Any

import attrs

from .errors import ConfigurationError
from .message import LazyMessage, Message

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

#: Malformed-but-seen-in-the-wild variants, each labelled `malformed:<kind>` in the flags.
MALFORMED_KINDS = (
    "bad-charset",
    "missing-date",
    "bare-lf",
    "8bit-header",
    "overlong-line",
    "unterminated-multipart",
    "bad-base64",
)

_OTHER_LOCALES = ("de_DE", "fr_FR", "es_ES", "pl_PL", "cs_CZ", "ru_RU", "ja_JP", "zh_CN")
_UTC = timezone.utc
_CRLF = b"\r\n"
_MAX_DEPTH = 8  # replies in one thread: keeps References short and parent lookups cheap
_FLEX_MIN = 160  # octets the filled text part always gets
_ID_BASE = 12  # length of the Received id before it absorbs the remainder
_ID_CHARS = bytes(b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[i % 34] for i in range(256))
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ATOM = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_DOMAIN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+")

# Legacy charsets a language is still mailed in; text is checked against them line by line.
_LEGACY: dict[str, tuple[str, ...]] = {
    "en": ("iso-8859-1",),
    "de": ("iso-8859-1", "iso-8859-15", "windows-1252"),
    "fr": ("iso-8859-1", "iso-8859-15", "windows-1252"),
    "es": ("iso-8859-1", "iso-8859-15", "windows-1252"),
    "pl": ("iso-8859-2",),
    "cs": ("iso-8859-2",),
    "ru": ("koi8-r", "windows-1251"),
    "ja": ("iso-2022-jp",),
    "zh": ("gb2312",),
}
_GREETINGS: dict[str, tuple[str, ...]] = {
    "en": ("Hi", "Hello", "Dear"),
    "de": ("Hallo", "Liebe", "Guten Tag"),
    "fr": ("Bonjour", "Salut", "Chère"),
    "es": ("Hola", "Estimada", "Buenos días"),
    "pl": ("Cześć", "Dzień dobry", "Witaj"),
    "cs": ("Ahoj", "Dobrý den", "Milá"),
    "ru": ("Привет", "Здравствуйте", "Добрый день"),
    "ja": ("こんにちは", "お疲れ様です"),
    "zh": ("你好", "您好"),
}
_SIGNOFFS: dict[str, tuple[str, ...]] = {
    "en": ("Best regards,", "Thanks,", "Cheers,", "Kind regards,"),
    "de": ("Viele Grüße,", "Mit freundlichen Grüßen,", "Beste Grüße,"),
    "fr": ("Cordialement,", "Bien à vous,", "À bientôt,"),
    "es": ("Saludos,", "Un abrazo,", "Atentamente,"),
    "pl": ("Pozdrawiam,", "Z poważaniem,"),
    "cs": ("S pozdravem,", "Díky,"),
    "ru": ("С уважением,", "Спасибо,"),  # noqa: RUF001 - Cyrillic on purpose
    "ja": ("よろしくお願いします。",),
    "zh": ("此致敬礼",),
}
_DOT_LINES = (".", "..", "...", ". indented after a dot", ".hidden-file", ".PHONY: all", "..two")
_EMOJI = ("\U0001f389", "\U0001f4ce", "\u2705", "\U0001f680", "\u2615", "\U0001f4c5")
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
_BAD_CHARSETS = ("x-unknown", "unknown-8bit", "utf8mb4", "_iso-2022-jp$ESC", "default")


# -- vocabulary ---------------------------------------------------------------------------


@attrs.frozen(eq=False)
class _Pool:
    """Words, names and addresses of one locale, read from Faker once."""

    language: str
    spaced: bool
    names: tuple[str, ...]
    users: tuple[str, ...]
    domains: tuple[str, ...]
    free_domains: tuple[str, ...]
    words: tuple[str, ...]
    sentences: tuple[str, ...]
    lines: tuple[str, ...]  # prose wrapped to at most 72 characters
    _subsets: dict[str, _Pool] = attrs.field(factory=dict, alias="_subsets")

    def encodable(self, codec: str) -> _Pool:
        """The part of this vocabulary that `codec` can encode (cached)."""
        found = self._subsets.get(codec)
        if found is None:

            def keep(items: tuple[str, ...]) -> tuple[str, ...]:
                kept = tuple(s for s in items if _encodes(s, codec))
                return kept or ("ok",)

            found = attrs.evolve(
                self,
                names=keep(self.names),
                words=keep(self.words),
                sentences=keep(self.sentences),
                lines=keep(self.lines),
                _subsets={},
            )
            self._subsets[codec] = found
        return found


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


_POOLS: dict[str, _Pool] = {}
_POOLS_LOCK = threading.RLock()  # a pool may need the en_US one while it is built


def _pool(locale: str) -> _Pool:
    pool = _POOLS.get(locale)
    if pool is None:
        with _POOLS_LOCK:
            pool = _POOLS.get(locale)
            if pool is None:
                pool = _build_pool(locale)
                _POOLS[locale] = pool
    return pool


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    # dict keeps first-seen order; a set would order by hash, which changes per process.
    return tuple(dict.fromkeys(s for s in items if s))


def _build_pool(locale: str) -> _Pool:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(0)
    language = locale.split("_")[0].lower()
    spaced = language not in ("ja", "zh")
    names = _unique(fake.name() for _ in range(240))
    users = _unique(u for u in (fake.user_name().lower() for _ in range(200)) if _ATOM.fullmatch(u))
    domains = _unique(
        d for d in (fake.domain_name().lower() for _ in range(80)) if _DOMAIN.fullmatch(d)
    )
    free = _unique(
        d for d in (fake.free_email_domain().lower() for _ in range(40)) if _DOMAIN.fullmatch(d)
    )
    words = _unique(w.strip() for w in fake.words(nb=600))
    if not (users and domains and free):
        fallback = _pool("en_US")
        users = users or fallback.users
        domains = domains or fallback.domains
        free = free or fallback.free_domains
    # Sentences and wrapped lines come from our own seeded generator, not Faker's, so that
    # only Faker's word lists (not its algorithms) shape the text.
    rng = Random(f"pop3mock-vocabulary-{locale}")
    sentences = tuple(_sentence(words, spaced, rng) for _ in range(400))
    lines = _wrap(rng.choices(sentences, k=900), 72 if spaced else 36, spaced)
    return _Pool(language, spaced, names, users, domains, free, words, sentences, lines)


def _sentence(words: tuple[str, ...], spaced: bool, rng: Random) -> str:
    chosen = rng.choices(words, k=rng.randint(4, 14) if spaced else rng.randint(3, 8))
    if not spaced:
        return "".join(chosen) + "。"
    if len(chosen) > 7 and rng.random() < 0.4:
        chosen[rng.randint(2, len(chosen) - 3)] += ","
    text = " ".join(chosen)
    return text[:1].upper() + text[1:] + "."


def _wrap(sentences: list[str], width: int, spaced: bool) -> tuple[str, ...]:
    lines: list[str] = []
    if not spaced:
        text = "".join(sentences)
        return tuple(text[i : i + width] for i in range(0, len(text) - width, width))
    line = ""
    for word in " ".join(sentences).split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return tuple(lines)


# -- small deterministic helpers -------------------------------------------------------------


def _stream(seed: int, index: int, purpose: bytes) -> Random:
    digest = hashlib.blake2b(b"%d:%d:%s" % (seed, index, purpose), digest_size=16).digest()
    return Random(int.from_bytes(digest, "big"))


@attrs.frozen
class _Spread:
    """Sizes in [lo, hi], each octave about equally likely, in integer arithmetic only.

    Floating-point exp/log may round differently between C libraries; sizes must not.
    """

    lows: tuple[int, ...]
    widths: tuple[int, ...]

    @classmethod
    def of(cls, lo: int, hi: int) -> _Spread:
        octaves = max(1, (hi // lo).bit_length() - 1)
        lows = tuple(lo << n for n in range(octaves))
        highs = (*(min(hi, low * 2) for low in lows[:-1]), hi)
        return cls(lows, tuple(high - low + 1 for low, high in zip(lows, highs, strict=True)))

    def pick(self, x: int, y: int) -> int:
        octave = x % len(self.lows)
        return self.lows[octave] + y % self.widths[octave]


def _spread(lo: int, hi: int, x: int, y: int) -> int:
    return _Spread.of(lo, hi).pick(x, y)


@attrs.frozen
class _PlanTable:
    thresholds: tuple[int, ...]  # cumulative shape weights scaled to 2**32
    shapes: tuple[str, ...]
    text: _Spread
    attachment: _Spread
    large: _Spread
    malformed: int

    @classmethod
    def of(cls, factory: MessageFactory) -> _PlanTable:
        total = sum(weight for _, weight in factory.shapes)
        running = 0.0
        thresholds = []
        for _, weight in factory.shapes[:-1]:
            running += weight
            thresholds.append(int(running / total * 2**32))
        return cls(
            tuple(thresholds),
            tuple(name for name, _ in factory.shapes),
            _Spread.of(*factory.text_size),
            _Spread.of(*factory.attachment_size),
            _Spread.of(*factory.large_size),
            int(factory.malformed * 2**32),
        )


_PLAN_FIELDS = struct.Struct(">IIIIBBB")


def _b64_size(n: int) -> int:
    """Octets of `n` bytes in base64 with 76-character lines and CRLF."""
    chars = 4 * ((n + 2) // 3)
    return chars + 2 * ((chars + 75) // 76)


def _b64_fit(budget: int) -> int:
    """The most bytes whose base64 form fits in `budget` octets."""
    n = max(0, budget * 57 // 78)
    while n > 0 and _b64_size(n) > budget:
        n -= 1
    while _b64_size(n + 1) <= budget:
        n += 1
    return n


def _b64(raw: bytes) -> bytes:
    return base64.encodebytes(raw).replace(b"\n", b"\r\n")


def _pad_lines(gap: int, rng: Random) -> list[str]:
    """ASCII lines whose lengths plus CRLF add up to exactly `gap` (at least 3) octets."""
    lines = []
    while gap > 0:
        length = min(gap - 2, 70)
        rest = gap - length - 2
        if 0 < rest < 3:
            length -= 3 - rest
        token = f"{rng.getrandbits(4 * length + 4):0{length + 1}x}"
        line = ("Ref: " + token)[:length] if length >= 8 else token[:length]
        lines.append(line)
        gap -= length + 2
    return lines


def _date(when: int, tz_minutes: int) -> str:
    return email.utils.format_datetime(
        datetime.fromtimestamp(when, timezone(timedelta(minutes=tz_minutes)))
    )


# -- headers ---------------------------------------------------------------------------------


def _encoded_words(text: str, charset: str, codec: str, rng: Random) -> list[str]:
    """RFC 2047 encoded-words for `text`, each at most 75 characters, split between characters."""
    b_encoding = rng.random() < 0.6
    head = f"=?{charset}?{'B' if b_encoding else 'Q'}?"
    room = 75 - len(head) - 2
    words: list[str] = []
    chunk = ""

    def encode(piece: str) -> str:
        raw = piece.encode(codec)
        if b_encoding:
            return base64.b64encode(raw).decode("ascii")
        return "".join(
            chr(b)
            if (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A)
            else ("_" if b == 0x20 else f"={b:02X}")
            for b in raw
        )

    encoded = ""
    for char in text:
        candidate = encode(chunk + char)
        if len(candidate) > room and chunk:
            words.append(head + encoded + "?=")
            chunk, encoded = char, encode(char)
        else:
            chunk, encoded = chunk + char, candidate
    if chunk:
        words.append(head + encoded + "?=")
    return words


def _fold(name: str, tokens: list[str]) -> str:
    """`Name: tokens...` folded before a token where a line would pass 78 characters."""
    out = [name + ":"]
    length = len(name) + 1
    for token in tokens:
        if length + 1 + len(token) > 78 and length > len(name) + 1:
            out.append("\r\n " + token)
            length = 1 + len(token)
        else:
            out.append(" " + token)
            length += 1 + len(token)
    return "".join(out)


def _header_charset(text: str, language: str, rng: Random) -> tuple[str, str]:
    if rng.random() < 0.2:
        for label in _LEGACY.get(language, ()):
            if _encodes(text, label):
                return label.upper() if rng.random() < 0.5 else label, label
    return ("UTF-8" if rng.random() < 0.5 else "utf-8"), "utf-8"


def _phrase_tokens(text: str, language: str, rng: Random) -> list[str]:
    if not text:
        return []
    if text.isascii():
        if _SPECIALS.search(text):
            return ['"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"']
        return text.split()
    label, codec = _header_charset(text, language, rng)
    return _encoded_words(text, label, codec, rng)


def _address_tokens(people: tuple[tuple[str, str], ...], language: str, rng: Random) -> list[str]:
    tokens: list[str] = []
    for n, (name, address) in enumerate(people):
        part = _phrase_tokens(name, language, rng)
        part.append(f"<{address}>" if part else address)
        if n < len(people) - 1:
            part[-1] += ","
        tokens.extend(part)
    return tokens


def _unstructured_tokens(text: str, language: str, rng: Random) -> list[str]:
    if text.isascii():
        return text.split()
    label, codec = _header_charset(text, language, rng)
    return _encoded_words(text, label, codec, rng)


# -- message heads (who, when, what about, which thread) ------------------------------------


@attrs.frozen(eq=False)
class _Head:
    pool: _Pool
    sender: tuple[str, str]
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    subject: str
    date: int
    tz: int
    message_id: str
    references: tuple[str, ...]
    parent: _Head | None
    agent: str

    @property
    def depth(self) -> int:
        return len(self.references)


def _person(pool: _Pool, rng: Random) -> tuple[str, str]:
    name = rng.choice(pool.names) if rng.random() < 0.92 else ""
    domain = rng.choice(pool.free_domains if rng.random() < 0.4 else pool.domains)
    return name, f"{rng.choice(pool.users)}@{domain}"


def _subject(pool: _Pool, rng: Random) -> str:
    words = rng.choices(pool.words, k=rng.randint(2, 7) if pool.spaced else rng.randint(2, 4))
    text = " ".join(words) if pool.spaced else "".join(words)
    text = text[:1].upper() + text[1:]
    roll = rng.random()
    if roll < 0.12:
        text = f"[{rng.choice(pool.words)}] {text}"
    elif roll < 0.22:
        text = f"{text} #{rng.randint(100, 99999)}"
    elif roll < 0.28:
        text = f"{text} {rng.choice(_EMOJI)}"
    return text[:70] if pool.spaced else text[:24]


# -- MIME trees ------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Part:
    headers: list[str]
    parts: list[_Part] | None = None
    boundary: str = ""
    preamble: bytes = b""
    terminated: bool = True
    body: bytes = b""
    fill: Callable[[int], bytes] | None = None
    # Leaves share the content budget: the "text" group (body text) and the "attachment"
    # group, each split by weight; `minimum` is what a leaf always gets.
    group: str = "text"
    weight: int = 1
    minimum: int = 0
    budget: int = 0
    flex: bool = False


def _render_body(part: _Part, out: list[bytes]) -> None:
    if part.parts is None:
        out.append(part.body)
        return
    delimiter = b"--" + part.boundary.encode("ascii")
    if part.preamble:
        out.append(part.preamble + _CRLF)
    for n, child in enumerate(part.parts):
        out.append((_CRLF if n else b"") + delimiter + _CRLF)
        out.append("\r\n".join(child.headers).encode("utf-8") + _CRLF + _CRLF)
        _render_body(child, out)
    if part.terminated:
        out.append(_CRLF + delimiter + b"--" + _CRLF)


def _leaves(part: _Part) -> Iterator[_Part]:
    if part.parts is None:
        yield part
    else:
        for child in part.parts:
            yield from _leaves(child)


def _boundary(rng: Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return f"----=_Part_{rng.randrange(10**6)}_{rng.getrandbits(31)}.{rng.getrandbits(40)}"
    if style == 1:
        return f"000000000000{rng.getrandbits(64):016x}"
    if style == 2:
        return "Apple-Mail=_" + "-".join(f"{rng.getrandbits(b):0{b // 4}X}" for b in (32, 16, 64))
    return f"=_{rng.getrandbits(96):024x}"


# -- text encoders ---------------------------------------------------------------------------


@attrs.frozen
class _Encoder:
    codec: str
    cte: str  # 7bit, 8bit or quoted-printable (base64 is handled by _fill_base64)

    def raw(self, text: str) -> bytes | None:
        try:
            raw = text.encode(self.codec)
        except UnicodeEncodeError:
            return None
        if self.cte == "7bit" and not raw.isascii():
            return None
        return raw

    def line(self, text: str, limit: int = 998) -> bytes | None:
        """The encoded line with its CRLF, or None when it cannot be sent in this encoding."""
        raw = self.raw(text)
        if raw is None:
            return None
        if self.cte == "quoted-printable":
            return binascii.b2a_qp(raw, istext=False).replace(b"\n", b"\r\n") + _CRLF
        if len(raw) > limit:
            return None
        return raw + _CRLF


def _fill_lines(
    enc: _Encoder,
    prefix: list[str],
    content: Iterator[str],
    suffixes: list[list[str]],
    target: int,
    exact: bool,
    rng: Random,
    short: tuple[str, ...],
    limit: int = 998,
) -> bytes:
    """Encoded text of at most `target` octets; with `exact`, of `target` minus at most 2."""
    out: list[bytes] = []
    used = 0
    tail: list[bytes] = []
    for suffix in suffixes:  # the longest ending that leaves room for some text
        encoded = [e for e in (enc.line(s) for s in suffix) if e is not None]
        if sum(map(len, encoded)) <= target // 2:
            tail = encoded
            break
    budget = target - sum(map(len, tail))
    for text in prefix:
        line = enc.line(text, limit)
        if line is not None and used + len(line) <= budget:
            out.append(line)
            used += len(line)
    misses = 0
    for text in content:
        line = enc.line(text, limit)
        if line is None or used + len(line) > budget:
            misses += 1
            if misses > 4:
                break
            continue
        misses = 0
        out.append(line)
        used += len(line)
    if exact:
        # Close most of the gap with short prose lines, the last few octets with pad lines.
        misses = 0
        while budget - used >= 80 and misses < 8:
            line = enc.line(rng.choice(short))
            rest = budget - used - (len(line) if line is not None else budget)
            if line is None or rest < 0 or 0 < rest < 3:
                misses += 1
                continue
            out.append(line)
            used += len(line)
        if budget - used >= 3:
            for text in _pad_lines(budget - used, rng):
                line = enc.line(text)
                assert line is not None
                out.append(line)
                used += len(line)
    out.extend(tail)
    return b"".join(out)


def _fill_base64(
    codec: str,
    prefix: list[str],
    content: Iterator[str],
    suffixes: list[list[str]],
    target: int,
    exact: bool,
    rng: Random,
) -> bytes:
    """Base64 of CRLF text, at most `target` octets; with `exact`, at most 7 short of it."""

    def raw(text: str) -> bytes | None:
        try:
            return text.encode(codec) + _CRLF
        except UnicodeEncodeError:
            return None

    tail = b""
    for suffix in suffixes:
        encoded = b"".join(e for e in (raw(s) for s in suffix) if e is not None)
        if _b64_size(len(encoded)) <= target // 2:
            tail = encoded
            break
    out: list[bytes] = []
    used = len(tail)
    for text in prefix:
        line = raw(text)
        if line is not None and _b64_size(used + len(line)) <= target:
            out.append(line)
            used += len(line)
    misses = 0
    for text in content:
        line = raw(text)
        if line is None or len(line) > 1000 or _b64_size(used + len(line)) > target:
            misses += 1
            if misses > 4:
                break
            continue
        misses = 0
        out.append(line)
        used += len(line)
    if exact:
        best = _b64_fit(target)
        while best - used in (1, 2):
            best -= 1
        if best - used >= 3:
            out.extend(t.encode("ascii") + _CRLF for t in _pad_lines(best - used, rng))
    out.append(tail)
    return _b64(b"".join(out))


# -- attachments -----------------------------------------------------------------------------

# (extension, content type, leading bytes, trailing bytes)
_BINARY = (
    ("pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"),
    ("jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01", b"\xff\xd9"),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"IEND\xaeB`\x82"),
    ("gif", "image/gif", b"GIF89a", b"\x00;"),
    ("zip", "application/zip", b"PK\x03\x04\x14\x00\x00\x00", b"PK\x05\x06"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04\x14\x00\x06\x00",
        b"PK\x05\x06",
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"PK\x03\x04\x14\x00\x06\x00",
        b"PK\x05\x06",
    ),
    ("bin", "application/octet-stream", b"", b""),
)
_IMAGES = tuple(b for b in _BINARY if b[1].startswith("image/"))
_LARGE = (
    ("mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42", b""),
    ("zip", "application/zip", b"PK\x03\x04\x14\x00\x00\x00", b"PK\x05\x06"),
    ("pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"),
    ("tar.gz", "application/gzip", b"\x1f\x8b\x08\x00", b""),
)
_TEXTUAL = (("csv", "text/csv"), ("txt", "text/plain"), ("ics", "text/calendar"))


def _param(name: str, value: str) -> list[str]:
    """`name="value"`, or RFC 2231 `name*=utf-8''...` (with continuations) for non-ASCII."""
    if value.isascii() and '"' not in value and "\\" not in value:
        return [f'{name}="{value}"']
    quoted = urllib.parse.quote(value.encode("utf-8"), safe="")
    if len(quoted) <= 60:
        return [f"{name}*=utf-8''{quoted}"]
    # Continuations split between characters: Python decodes each piece on its own.
    pieces = [""]
    for char in value:
        piece = urllib.parse.quote(char.encode("utf-8"), safe="")
        if len(pieces[-1]) + len(piece) > 60:
            pieces.append("")
        pieces[-1] += piece
    return [
        f"{name}*{n}*=utf-8''{piece}" if n == 0 else f"{name}*{n}*={piece}"
        for n, piece in enumerate(pieces)
    ]


def _params_header(name: str, value: str, params: list[str]) -> str:
    line = f"{name}: {value}"
    for param in params:
        if len(line) - line.rfind("\n") + len(param) + 2 > 78:
            line += ";\r\n\t" + param
        else:
            line += "; " + param
    return line


def _filename(pool: _Pool, rng: Random, ext: str) -> str:
    roll = rng.random()
    if roll < 0.25:
        stem = rng.choice(("IMG_", "scan", "DSC", "Invoice-", "doc")) + str(rng.randint(1, 9999))
    else:
        words = rng.choices(pool.words, k=rng.randint(1, 3))
        stem = ("_" if rng.random() < 0.5 else " ").join(words) if pool.spaced else "".join(words)
        stem = stem.replace("/", "-")[:40]
    return f"{stem}.{ext}"


# -- the factory -----------------------------------------------------------------------------


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
    from faker.config import AVAILABLE_LOCALES

    for locale in (value,) if isinstance(value, str) else value:
        if locale not in AVAILABLE_LOCALES:
            raise ConfigurationError(
                f"unknown Faker locale {locale!r} (for example en_US, de_DE, ja_JP)"
            )


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
    >>> drop = factory.lazy(100_000)        # LazyMessage entries: uid and size known, no bytes

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
        default=_OTHER_LOCALES, converter=tuple, validator=_locale
    )
    recipient: str | None = None
    _head: Callable[[int], _Head] = attrs.field(
        init=False, eq=False, hash=False, repr=False, alias="_head"
    )
    _table: _PlanTable = attrs.field(init=False, eq=False, hash=False, repr=False, alias="_table")
    _owner: Callable[[], tuple[str, str]] = attrs.field(
        init=False, eq=False, hash=False, repr=False, alias="_owner"
    )
    _plan_block: Callable[[int], bytes] = attrs.field(
        init=False, eq=False, hash=False, repr=False, alias="_plan_block"
    )

    def __attrs_post_init__(self) -> None:
        if self.recipient is not None and "@" not in email.utils.parseaddr(self.recipient)[1]:
            raise ConfigurationError(
                f"recipient={self.recipient!r}: give an address, e.g. 'Alice <alice@example.org>'"
            )
        # Replies look up their parent's head; a bounded cache makes threads cheap to build.
        object.__setattr__(self, "_head", lru_cache(maxsize=4096)(self._make_head))
        object.__setattr__(self, "_table", _PlanTable.of(self))
        object.__setattr__(self, "_owner", lru_cache(maxsize=1)(self._find_owner))
        object.__setattr__(self, "_plan_block", lru_cache(maxsize=16)(self._make_plan_block))

    # -- public --------------------------------------------------------------------------

    def message(self, index: int) -> Message:
        """Message number `index` (0-based) of this seed's endless maildrop."""
        if index < 0:
            raise ConfigurationError("message index must be >= 0")
        shape, size, uid, kind = self._plan(index)
        head = self._head(index)
        rng = _stream(self.seed, index, b"body")
        data, flags = _Builder(self, head, rng).build(shape, size, kind)
        if len(data) != size:  # the builder's own bookkeeping failed: never serve a wrong size
            raise AssertionError(f"message {index} is {len(data)} octets, planned {size}")
        return Message(data, uid, flags)

    def messages(self, count: int, *, start: int = 0) -> Iterator[Message]:
        """Messages `start` to `start + count - 1`, made one at a time."""
        _check_count(count)
        for index in range(start, start + count):
            yield self.message(index)

    def lazy(self, count: int, *, start: int = 0) -> list[LazyMessage]:
        """The same messages as `messages`, as LazyMessage entries: uid and size up front."""
        _check_count(count)
        plan = self._plan_at
        out = []
        buf, block = b"", -1
        for index in range(start, start + count):
            if index >> 8 != block:
                block = index >> 8
                buf = self._plan_block(block)
            _, size, uid, _ = plan(buf, (index & 255) * 32)
            out.append(LazyMessage(uid, size, _Load(self, index)))
        return out

    def size(self, index: int) -> int:
        """The exact size of message `index`, known without making it."""
        return self._plan(index)[1]

    def uid(self, index: int) -> str:
        """The unique-id of message `index`, known without making it."""
        return self._plan(index)[2]

    # -- internals -----------------------------------------------------------------------

    def _plan(self, index: int) -> tuple[str, int, str, str | None]:
        """Shape, exact size, uid and malformed kind of message `index`: no Faker, no body."""
        return self._plan_at(self._plan_block(index >> 8), (index & 255) * 32)

    def _make_plan_block(self, block: int) -> bytes:
        # One SHAKE output covers 256 messages: a 100,000-message lazy maildrop costs
        # 391 hash calls, not 100,000.
        return hashlib.shake_256(b"%d:%d:plan" % (self.seed, block)).digest(256 * 32)

    def _plan_at(self, buf: bytes, offset: int) -> tuple[str, int, str, str | None]:
        x, y, z, w, a, b, k = _PLAN_FIELDS.unpack_from(buf, offset)
        table = self._table
        shape = table.shapes[bisect.bisect_right(table.thresholds, x)]
        text = table.text
        if shape in ("plain", "html"):
            size = text.pick(a, y)
        elif shape == "alternative":
            size = 1_500 + text.pick(a, y)
        elif shape in ("attachment", "inline_image"):
            size = 3_000 + text.pick(a, y) // 2 + table.attachment.pick(b, z)
        elif shape == "forward":
            size = 3_000 + text.pick(a, y) + text.pick(b, z)
        else:
            size = table.large.pick(a, y)
        kind = None
        if w < table.malformed:
            kind = self.malformed_kinds[k % len(self.malformed_kinds)]
        return shape, size, buf[offset + 20 : offset + 30].hex(), kind

    def _find_owner(self) -> tuple[str, str]:
        if self.recipient is not None:
            return email.utils.parseaddr(self.recipient)
        return _person(_pool(self.locale), Random(f"pop3mock-owner-{self.seed}"))

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

    def _make_head(self, index: int) -> _Head:
        rng = _stream(self.seed, index, b"head")
        parent = self._parent(index)
        if parent is not None:
            return self._reply_head(self._head(parent), rng)
        if self.other_locales and rng.random() < self.non_ascii:
            pool = _pool(rng.choice(self.other_locales))
        else:
            pool = _pool(self.locale)
        return self._root_head(pool, rng)

    def _root_head(self, pool: _Pool, rng: Random, *, to: tuple[str, str] | None = None) -> _Head:
        sender = _person(pool, rng)
        owner = to or self._owner()
        others = tuple(_person(pool, rng) for _ in range(rng.choice((0, 0, 0, 1, 2))))
        cc = tuple(_person(pool, rng) for _ in range(rng.choice((0, 0, 0, 0, 1, 2, 3))))
        start = int(self.dates[0].timestamp())
        end = int(self.dates[1].timestamp())
        return _Head(
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

    def _reply_head(self, parent: _Head, rng: Random) -> _Head:
        owner = self._owner()
        people = [p for p in (parent.sender, *parent.to, *parent.cc) if p[1] != owner[1]]
        sender = rng.choice(people) if people else _person(parent.pool, rng)
        to = (owner,) if sender == parent.sender else (owner, parent.sender)
        cc = tuple(p for p in parent.cc if p != sender)
        return _Head(
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


class _Load:
    """`factory.message(index)` for a LazyMessage: half the memory of a functools.partial."""

    __slots__ = ("factory", "index")

    def __init__(self, factory: MessageFactory, index: int) -> None:
        self.factory = factory
        self.index = index

    def __call__(self) -> Message:
        return self.factory.message(self.index)


def _message_id(address: str, rng: Random) -> str:
    domain = address.rpartition("@")[2]
    style = rng.randrange(3)
    if style == 0:
        return f"{rng.getrandbits(64):016x}.{rng.getrandbits(40):010x}@{domain}"
    if style == 1:
        return f"CA+{base64.b32encode(rng.randbytes(20)).decode().rstrip('=')}@mail.{domain}"
    return f"{rng.getrandbits(128):032X}@{domain}"


def _check_count(count: int) -> None:
    if count < 0:
        raise ConfigurationError(f"count must be >= 0, not {count}")


# -- building one message --------------------------------------------------------------------


def _feasible(kind: str | None, shape: str) -> str | None:
    """The malformed kind a shape can carry (a plain message has no boundary to leave open)."""
    if kind == "unterminated-multipart" and shape in ("plain", "html"):
        return "missing-date"
    if kind in ("overlong-line", "bare-lf") and shape == "html":
        return "bad-charset"
    return kind


class _Builder:
    """Builds one message of an exact size from its head and its own random stream."""

    def __init__(self, factory: MessageFactory, head: _Head, rng: Random) -> None:
        self.factory = factory
        self.head = head
        self.rng = rng
        self.pool = head.pool
        self.kind: str | None = None
        self.forward = False
        self.long_lines = False
        self.dot_lines = False
        self.received = ""
        self.received_id = b""
        self.flex_min = _FLEX_MIN

    # -- whole message -------------------------------------------------------------------

    def build(self, shape: str, size: int, kind: str | None) -> tuple[bytes, frozenset[str]]:
        rng = self.rng
        self.long_lines = rng.random() < 0.3
        self.dot_lines = rng.random() < 0.15
        text_target = _spread(600, 9_000, rng.getrandbits(8), rng.getrandbits(32))
        self._received_parts()
        # Full headers first; trimmed ones (no Cc, one Received...) when the size is tight;
        # a plain message as the last resort.
        for trimmed, actual in ((False, shape), (True, shape), (True, "plain")):
            self.kind = _feasible(kind, actual)
            self.long_lines = self.long_lines and self.kind != "bare-lf"
            root = self._tree(actual)
            head_lines = self._headers(root, trimmed)
            empty: list[bytes] = []
            _render_body(root, empty)
            content = size - len(self._join_headers(head_lines, 0)) - sum(map(len, empty))
            leaves = list(_leaves(root))
            self.flex_min = 1_500 if self.kind == "overlong-line" else _FLEX_MIN
            if content >= self.flex_min + sum(leaf.minimum for leaf in leaves if not leaf.flex):
                break
        self._allocate(leaves, content, text_target)
        remaining = content
        flex = None
        for leaf in leaves:
            if leaf.flex:
                flex = leaf
                continue
            assert leaf.fill is not None
            leaf.body = leaf.fill(leaf.budget)
            remaining -= len(leaf.body)
        assert flex is not None and flex.fill is not None
        flex.body = flex.fill(remaining)
        gap = remaining - len(flex.body)
        if self.kind == "unterminated-multipart":
            root.terminated = False
            gap += len(root.boundary) + 8  # CRLF "--" boundary "--" CRLF
        if not 0 <= gap < 900:
            raise AssertionError(f"fake message off its size by {gap} octets")
        out: list[bytes] = []
        _render_body(root, out)
        data = self._join_headers(head_lines, gap) + b"".join(out)
        if self.kind == "overlong-line" and not any(len(line) > 998 for line in data.split(_CRLF)):
            self.kind = None  # too small for the long line: an ordinary message
        if self.kind == "bare-lf" and b"\n" not in data.replace(_CRLF, b""):
            self.kind = None
        flags = {actual}
        if self.head.parent is not None:
            flags.add("reply")
        if self.kind is not None:
            flags.update(("malformed", f"malformed:{self.kind}"))
        return data, frozenset(flags)

    def _allocate(self, leaves: list[_Part], content: int, text_target: int) -> None:
        fixed = [leaf for leaf in leaves if not leaf.flex]
        spare = content - self.flex_min - sum(leaf.minimum for leaf in fixed)
        texts = [leaf for leaf in leaves if leaf.group == "text"]
        attachments = [leaf for leaf in fixed if leaf.group == "attachment"]
        text_share = min(spare // 2, text_target) if attachments else spare
        shares = ((texts, text_share), (attachments, spare - text_share))
        for group, share in shares:
            total = sum(leaf.weight for leaf in group) or 1
            for leaf in group:
                leaf.budget = leaf.minimum + share * leaf.weight // total

    def _join_headers(self, lines: list[str], gap: int) -> bytes:
        # The Received id takes the few octets the text could not: ids vary in length anyway.
        length = _ID_BASE + gap
        token = hashlib.shake_128(self.received_id).digest(length).translate(_ID_CHARS).decode()
        first = self.received.replace("{id}", token)
        return ("\r\n".join([first, *lines]) + "\r\n\r\n").encode("utf-8")

    def _received_parts(self) -> None:
        rng = self.rng
        head = self.head
        owner = head.to[0][1]
        sender_domain = head.sender[1].rpartition("@")[2]
        kind = rng.choice(("out", "relay", "smtp", "mx"))
        helo = f"mail-{kind}{rng.randint(1, 40)}.{sender_domain}"
        ip = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
        self.received_id = rng.randbytes(16)
        when = _date(head.date + rng.randint(2, 90), 0)
        self.received = (
            f"Received: from {helo} ({helo} [{ip}])\r\n"
            f"\tby mx{rng.randint(1, 9)}.{owner.rpartition('@')[2]} with ESMTPS id {{id}}\r\n"
            f"\tfor <{owner}>; {when}"
        )

    def _headers(self, root: _Part, trimmed: bool) -> list[str]:
        rng = Random(self.rng.getrandbits(64))
        head = self.head
        language = self.pool.language
        lines = []
        if not trimmed:
            lines.append(
                f"Received: by {head.sender[1].rpartition('@')[2]} with SMTP id "
                f"{rng.getrandbits(48):012x}; {_date(head.date, head.tz)}"
            )
        lines.append(_fold("From", _address_tokens((head.sender,), language, rng)))
        lines.append(
            _fold("To", _address_tokens(head.to[:1] if trimmed else head.to, language, rng))
        )
        if head.cc and not trimmed:
            lines.append(_fold("Cc", _address_tokens(head.cc, language, rng)))
        subject = head.subject
        if head.parent is not None:
            subject = "Re: " + subject
        elif self.forward:
            subject = "Fwd: " + subject
        if self.kind == "8bit-header":
            if subject.isascii():
                subject += " " + rng.choice(("Grüße", "café", "Привет", "日本", "\u2705"))
            lines.append("Subject: " + subject)  # raw UTF-8, no RFC 2047
        else:
            lines.append(_fold("Subject", _unstructured_tokens(subject, language, rng)))
        if self.kind != "missing-date":
            lines.append("Date: " + _date(head.date, head.tz))
        lines.append(f"Message-ID: <{head.message_id}>")
        if head.parent is not None:
            lines.append(f"In-Reply-To: <{head.parent.message_id}>")
            refs = head.references
            if trimmed and len(refs) > 2:
                refs = (refs[0], refs[-1])  # RFC 5322 3.6.4 allows dropping the middle
            lines.append(_fold("References", [f"<{r}>" for r in refs]))
        lines.append("MIME-Version: 1.0")
        lines.extend(root.headers)
        if head.agent and not trimmed:
            lines.append(head.agent)
        return lines

    # -- shapes --------------------------------------------------------------------------

    def _tree(self, shape: str) -> _Part:
        rng = self.rng
        self.forward = shape == "forward"
        if shape in ("plain", "html"):
            return self._text(shape, flex=True)
        if shape == "alternative":
            return self._multi("alternative", [self._text("plain", flex=True), self._html(55)])
        if shape == "attachment":
            body = self._text("plain", flex=True)
            if rng.random() < 0.4:
                body = self._multi("alternative", [body, self._html(55)])
            count = rng.choice((1, 1, 1, 2, 2, 3))
            attachments = [self._attachment() for _ in range(count)]
            return self._multi("mixed", [body, *attachments], preamble=rng.random() < 0.5)
        if shape == "inline_image":
            images = [self._image() for _ in range(rng.choice((1, 1, 2, 3)))]
            html_part = self._html(60, images=images)
            plain = self._text("plain", flex=True)
            if rng.random() < 0.5:  # Outlook's nesting
                inner = self._multi("alternative", [plain, html_part])
                return self._multi("related", [inner, *images], related="multipart/alternative")
            related = self._multi("related", [html_part, *images], related="text/html")
            return self._multi("alternative", [plain, related])
        if shape == "forward":
            body = self._text("plain", flex=True, note="forward")
            return self._multi("mixed", [body, self._forwarded()])
        body = self._text("plain", flex=True)
        return self._multi("mixed", [body, self._attachment(large=True)])

    def _multi(
        self, subtype: str, parts: list[_Part], *, preamble: bool = False, related: str = ""
    ) -> _Part:
        boundary = _boundary(self.rng)
        params = [f'boundary="{boundary}"']
        if related:
            params.insert(0, f'type="{related}"')
        return _Part(
            headers=[_params_header("Content-Type", f"multipart/{subtype}", params)],
            parts=parts,
            boundary=boundary,
            preamble=b"This is a multi-part message in MIME format." if preamble else b"",
        )

    # -- text parts ----------------------------------------------------------------------

    def _charset(self) -> tuple[str, str, str]:
        """(label, codec, transfer encoding) for a text part."""
        rng = self.rng
        language = self.pool.language
        if language == "en":
            codec = rng.choice(("us-ascii", "utf-8", "utf-8", "iso-8859-1"))
            cte = rng.choices(("7bit", "quoted-printable", "base64"), (7, 2, 1))[0]
        else:
            legacy = _LEGACY.get(language, ())
            codec = rng.choice(legacy) if legacy and rng.random() < 0.4 else "utf-8"
            if codec == "iso-2022-jp":  # a 7-bit encoding by design
                cte = "7bit" if rng.random() < 0.7 else "base64"
            else:
                cte = rng.choices(("8bit", "quoted-printable", "base64"), (4, 4, 2))[0]
        label = codec.upper() if rng.random() < 0.3 else codec
        return label, codec, cte

    def _text(self, subtype: str, *, flex: bool, note: str = "") -> _Part:
        label, codec, cte = self._charset()
        kind = self.kind if flex else None
        if kind in ("bare-lf", "overlong-line", "bad-charset"):
            codec, cte = "utf-8", "8bit"
            label = self.rng.choice(_BAD_CHARSETS) if kind == "bad-charset" else codec
        elif kind == "bad-base64":
            cte = "base64"
        pool = self.pool.encodable(codec)
        quote = '"' if self.rng.random() < 0.6 else ""
        headers = [
            f"Content-Type: text/{subtype}; charset={quote}{label}{quote}",
            f"Content-Transfer-Encoding: {cte}",
        ]
        if subtype == "plain":
            prefix, content, suffixes = self._plain_text(pool, note, kind)
        else:
            prefix, content, suffixes = self._html_text(pool, label, [])
        limit = 100_000 if kind == "overlong-line" else 998
        fill = self._filler(codec, cte, prefix, content, suffixes, flex, pool, limit)
        if kind == "bad-base64":
            fill = partial(_truncated, fill)
        return _Part(headers=headers, fill=fill, flex=flex, weight=45)

    def _html(self, weight: int, *, images: list[_Part] | None = None) -> _Part:
        label, codec, cte = self._charset()
        pool = self.pool.encodable(codec)
        cids = [p.headers[-1].partition("<")[2].rstrip(">") for p in images or []]
        prefix, content, suffixes = self._html_text(pool, label, cids)
        headers = [
            f'Content-Type: text/html; charset="{label}"',
            f"Content-Transfer-Encoding: {cte}",
        ]
        fill = self._filler(codec, cte, prefix, content, suffixes, False, pool)
        return _Part(headers=headers, fill=fill, weight=weight, minimum=600)

    def _filler(
        self,
        codec: str,
        cte: str,
        prefix: list[str],
        content: Iterator[str],
        suffixes: list[list[str]],
        exact: bool,
        pool: _Pool,
        limit: int = 998,
    ) -> Callable[[int], bytes]:
        rng = Random(self.rng.getrandbits(64))
        if cte == "base64":
            return partial(_fill_base64, codec, prefix, content, suffixes, exact=exact, rng=rng)
        enc = _Encoder(codec, cte)
        short = pool.lines

        def fill(target: int) -> bytes:
            return _fill_lines(enc, prefix, content, suffixes, target, exact, rng, short, limit)

        return fill

    def _plain_text(
        self, pool: _Pool, note: str, kind: str | None
    ) -> tuple[list[str], Iterator[str], list[list[str]]]:
        rng = Random(self.rng.getrandbits(64))
        head = self.head
        language = pool.language
        owner_first = head.to[0][0].split(" ")[0]
        greeting = rng.choice(_GREETINGS.get(language, _GREETINGS["en"]))
        prefix = [f"{greeting} {owner_first}," if owner_first else f"{greeting},", ""]
        if note == "forward":
            prefix += ["FYI, see the message below.", ""]
        if kind == "overlong-line":
            text = " ".join(rng.choices(pool.sentences, k=80))
            prefix += [text[: rng.randint(1_100, 1_300)], ""]
        sender_name = head.sender[0] or head.sender[1]
        signature = ["", rng.choice(_SIGNOFFS.get(language, _SIGNOFFS["en"])), sender_name]
        if rng.random() < 0.3:
            signature += ["-- ", sender_name, f"{rng.choice(pool.words)} | {head.sender[1]}"]
        suffixes = [signature, []]
        parent = head.parent
        if parent is not None:
            quote = [
                "",
                f"On {_date(parent.date, parent.tz)}, {parent.sender[0] or parent.sender[1]} "
                f"<{parent.sender[1]}> wrote:",
            ]
            quote += ["> " + line for line in rng.choices(pool.lines, k=rng.randint(2, 8))]
            suffixes.insert(0, signature + quote)
        return prefix, self._paragraphs(pool, rng, kind), suffixes

    def _paragraphs(self, pool: _Pool, rng: Random, kind: str | None) -> Iterator[str]:
        long_lines = self.long_lines
        dots = self.dot_lines
        joiner = " " if pool.spaced else ""
        while True:
            if long_lines:  # one line per paragraph, as most clients send today
                text = joiner.join(rng.choices(pool.sentences, k=rng.randint(2, 7)))
                yield text if len(text.encode("utf-8")) <= 990 else text[:300]
            elif kind == "bare-lf":
                # A bare LF inside a line, never before a '.' (pool lines start with a letter),
                # which a client splitting on LF would take for the end of the reply.
                yield "\n".join(rng.choices(pool.lines, k=rng.randint(2, 7)))
            else:
                yield from rng.choices(pool.lines, k=rng.randint(2, 7))
            if dots and rng.random() < 0.4:
                yield rng.choice(_DOT_LINES)
            yield ""

    def _html_text(
        self, pool: _Pool, label: str, cids: list[str]
    ) -> tuple[list[str], Iterator[str], list[list[str]]]:
        rng = Random(self.rng.getrandbits(64))
        head = self.head
        owner_first = head.to[0][0].split(" ")[0]
        greeting = rng.choice(_GREETINGS.get(pool.language, _GREETINGS["en"]))
        prefix = [
            "<!DOCTYPE html>",
            "<html>",
            "<head>",
            f'<meta http-equiv="Content-Type" content="text/html; charset={label}">',
            "</head>",
            '<body style="font-family: Arial, Helvetica, sans-serif; font-size: 14px;">',
            f"<p>{html.escape(greeting)} {html.escape(owner_first)},</p>",
        ]
        prefix += [f'<p><img src="cid:{cid}" alt="image" width="480"></p>' for cid in cids]
        sender_name = head.sender[0] or head.sender[1]
        signoff = rng.choice(_SIGNOFFS.get(pool.language, _SIGNOFFS["en"]))
        closing = ["</body>", "</html>"]
        suffixes = [
            [f"<p>{html.escape(signoff)}<br>{html.escape(sender_name)}</p>", *closing],
            closing,
        ]

        def content() -> Iterator[str]:
            joiner = " " if pool.spaced else ""
            while True:
                if rng.random() < 0.15:
                    items = rng.choices(pool.lines, k=rng.randint(2, 5))
                    yield "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"
                else:
                    text = joiner.join(rng.choices(pool.sentences, k=rng.randint(1, 5)))
                    if len(text.encode("utf-8")) > 900:
                        text = text[:250]
                    yield f"<p>{html.escape(text)}</p>"

        return prefix, content(), suffixes

    # -- attachments ---------------------------------------------------------------------

    def _attachment(self, *, large: bool = False) -> _Part:
        rng = self.rng
        if not large and rng.random() < 0.25:
            return self._text_attachment()
        ext, ctype, lead, trail = rng.choice(_LARGE if large else _BINARY)
        name = _filename(self.pool, rng, ext)
        headers = [
            _params_header("Content-Type", ctype, _param("name", name)),
            "Content-Transfer-Encoding: base64",
            _params_header("Content-Disposition", "attachment", _param("filename", name)),
        ]
        fill = self._binary_fill(lead, trail)
        return _Part(headers, fill=fill, group="attachment", weight=rng.randint(1, 4), minimum=300)

    def _image(self) -> _Part:
        rng = self.rng
        ext, ctype, lead, trail = rng.choice(_IMAGES)
        name = f"image{rng.randint(1, 20):03d}.{ext}"
        cid = f"{name}@{rng.getrandbits(32):08X}.{rng.getrandbits(32):08X}"
        headers = [
            _params_header("Content-Type", ctype, _param("name", name)),
            "Content-Transfer-Encoding: base64",
            _params_header("Content-Disposition", "inline", _param("filename", name)),
            f"Content-ID: <{cid}>",
        ]
        fill = self._binary_fill(lead, trail)
        return _Part(headers, fill=fill, group="attachment", weight=rng.randint(1, 3), minimum=300)

    def _binary_fill(self, lead: bytes, trail: bytes) -> Callable[[int], bytes]:
        rng = Random(self.rng.getrandbits(64))

        def fill(budget: int) -> bytes:
            n = _b64_fit(budget)
            middle = n - len(lead) - len(trail)
            raw = lead + rng.randbytes(middle) + trail if middle >= 0 else rng.randbytes(n)
            return _b64(raw)

        return fill

    def _text_attachment(self) -> _Part:
        rng = self.rng
        ext, ctype = rng.choice(_TEXTUAL)
        name = _filename(self.pool, rng, ext)
        pool = self.pool.encodable("utf-8")
        if pool.language == "en":
            cte = rng.choice(("7bit", "quoted-printable", "base64"))
        else:
            cte = rng.choice(("quoted-printable", "base64"))
        params = ['charset="utf-8"'] + (['method="REQUEST"'] if ext == "ics" else [])
        headers = [
            _params_header("Content-Type", ctype, params + _param("name", name)),
            f"Content-Transfer-Encoding: {cte}",
            _params_header("Content-Disposition", "attachment", _param("filename", name)),
        ]
        local = Random(rng.getrandbits(64))
        prefix: list[str] = []
        suffixes: list[list[str]] = [[]]
        if ext == "csv":
            prefix = ["name,email,amount,date"]
            content: Iterator[str] = (_csv_row(pool, local) for _ in iter(int, 1))
        elif ext == "ics":
            prefix = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//pop3mock//EN", "METHOD:REQUEST"]
            content = (line for _ in iter(int, 1) for line in _ics_event(pool, local))
            suffixes = [["END:VCALENDAR"]]
        else:
            content = (local.choice(pool.lines) for _ in iter(int, 1))
        fill = self._filler("utf-8", cte, prefix, content, suffixes, False, pool)
        return _Part(headers, fill=fill, group="attachment", weight=rng.randint(1, 3), minimum=200)

    def _forwarded(self) -> _Part:
        rng = self.rng
        factory = self.factory
        inner_head = factory._root_head(self.pool, rng, to=self.head.sender)
        inner_head = attrs.evolve(inner_head, date=self.head.date - rng.randint(600, 30 * 86400))
        inner_rng = Random(rng.getrandbits(64))
        inner_shape = rng.choice(("plain", "plain", "html", "alternative"))
        # RFC 2046 5.2.1: a message/rfc822 part is never base64 or quoted-printable.
        part = _Part(
            ["Content-Type: message/rfc822", "Content-Transfer-Encoding: 7bit"],
            group="attachment",
            minimum=1_900,
        )

        def fill(budget: int) -> bytes:
            data, _ = _Builder(factory, inner_head, inner_rng).build(inner_shape, budget, None)
            if not data.isascii():
                part.headers[1] = "Content-Transfer-Encoding: 8bit"  # same length
            return data

        part.fill = fill
        return part


def _truncated(fill: Callable[[int], bytes], budget: int) -> bytes:
    # One character short: the base64 padding no longer adds up (a cut-off upload).
    encoded = fill(budget)
    return encoded[:-3] + _CRLF if len(encoded) > 8 else encoded


def _csv_row(pool: _Pool, rng: Random) -> str:
    name, address = _person(pool, rng)
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f'"{name}",{address},{rng.randint(1, 99999) // 100}.{rng.randint(0, 99):02d},{day}'


def _ics_event(pool: _Pool, rng: Random) -> list[str]:
    day = f"2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return [
        "BEGIN:VEVENT",
        f"UID:{rng.getrandbits(64):016x}@pop3mock",
        f"DTSTART:{day}T{rng.randint(8, 17):02d}0000Z",
        f"SUMMARY:{' '.join(rng.choices(pool.words, k=3))[:60]}",
        "END:VEVENT",
    ]


def fake_messages(
    count: int, *, seed: int = 0, locale: str = "en_US", **options: Any
) -> Iterator[Message]:
    """Yield `count` realistic generated messages; `options` are MessageFactory knobs.

    The same seed (and options) gives the same messages, byte for byte, on every run.
    """
    _check_count(count)
    return MessageFactory(seed=seed, locale=locale, **options).messages(count)


def lazy_fake_messages(
    count: int, *, seed: int = 0, locale: str = "en_US", **options: Any
) -> list[LazyMessage]:
    """The messages of `fake_messages`, lazily: uid and size now, bytes on first RETR/TOP."""
    return MessageFactory(seed=seed, locale=locale, **options).lazy(count)
