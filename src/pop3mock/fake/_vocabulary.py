"""The words generated messages are written in: Faker's names, user names, domains and words
per locale (read once, from a fixed Faker seed), prose built from them, and the per-language
pieces around it (legacy charsets, greetings, sign-offs, dot-led lines, emoji).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from random import Random

import attrs

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = [
    "DOT_LINES",
    "EMOJI",
    "GREETINGS",
    "LEGACY",
    "OTHER_LOCALES",
    "SIGNOFFS",
    "Pool",
    "encodes",
    "pool_for",
]

OTHER_LOCALES = ("de_DE", "fr_FR", "es_ES", "pl_PL", "cs_CZ", "ru_RU", "ja_JP", "zh_CN")
_ATOM = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_DOMAIN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+")

# Legacy charsets a language is still mailed in; text is checked against them line by line.
LEGACY: dict[str, tuple[str, ...]] = {
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
GREETINGS: dict[str, tuple[str, ...]] = {
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
SIGNOFFS: dict[str, tuple[str, ...]] = {
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
DOT_LINES = (".", "..", "...", ". indented after a dot", ".hidden-file", ".PHONY: all", "..two")
EMOJI = ("\U0001f389", "\U0001f4ce", "\u2705", "\U0001f680", "\u2615", "\U0001f4c5")


@attrs.frozen(eq=False)
class Pool:
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
    _subsets: dict[str, Pool] = attrs.field(factory=dict, alias="_subsets")

    def encodable(self, codec: str) -> Pool:
        """The part of this vocabulary that `codec` can encode (cached)."""
        found = self._subsets.get(codec)
        if found is None:

            def keep(items: tuple[str, ...]) -> tuple[str, ...]:
                kept = tuple(s for s in items if encodes(s, codec))
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


def encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


_POOLS: dict[str, Pool] = {}
_POOLS_LOCK = threading.RLock()  # a pool may need the en_US one while it is built


def pool_for(locale: str) -> Pool:
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


def _build_pool(locale: str) -> Pool:
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
        fallback = pool_for("en_US")
        users = users or fallback.users
        domains = domains or fallback.domains
        free = free or fallback.free_domains
    # Sentences and wrapped lines come from our own seeded generator, not Faker's, so that
    # only Faker's word lists (not its algorithms) shape the text.
    rng = Random(f"pop3mock-vocabulary-{locale}")
    sentences = tuple(_sentence(words, spaced, rng) for _ in range(400))
    lines = _wrap(rng.choices(sentences, k=900), 72 if spaced else 36, spaced)
    return Pool(language, spaced, names, users, domains, free, words, sentences, lines)


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
