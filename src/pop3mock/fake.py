"""Realistic generated messages, seeded: the same seed gives the same bytes everywhere."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Iterator

from .message import Message

__all__ = ["fake_messages"]


def fake_messages(count: int, *, seed: int = 0, locale: str = "en_US") -> Iterator[Message]:
    """Yield `count` plain-text messages with realistic headers, made by Faker from `seed`."""
    from faker import Faker

    if count < 0:
        raise ValueError("count must be >= 0")
    fake = Faker(locale)
    fake.seed_instance(seed)
    rng = random.Random(seed)
    base = 1_700_000_000
    for index in range(count):
        sender = fake.name(), fake.email()
        recipient = fake.name(), fake.email()
        when = base + index * 3600 + rng.randrange(3600)
        paragraphs = fake.paragraphs(nb=rng.randint(1, 4))
        body = "\r\n\r\n".join(paragraphs)
        headers = [
            f"From: {email.utils.formataddr(sender)}",
            f"To: {email.utils.formataddr(recipient)}",
            f"Subject: {fake.sentence(nb_words=6).rstrip('.')}",
            f"Date: {email.utils.formatdate(when)}",
            f"Message-ID: <{seed}.{index}.{rng.getrandbits(48):012x}@{fake.domain_name()}>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        data = ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("utf-8")
        yield Message.of(data)
