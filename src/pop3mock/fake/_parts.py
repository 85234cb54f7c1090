"""The MIME parts of a generated message: text and HTML bodies in a language's charsets and
transfer encodings, attachments (binary, textual, large), inline images and multiparts.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from functools import partial
from random import Random

from pop3mock.fake._body_fill import Encoder, b64, b64_fit, fill_base64, fill_lines
from pop3mock.fake._header_text import date, header_param, params_header
from pop3mock.fake._malformed import BAD_CHARSETS, truncated
from pop3mock.fake._mime import Part, new_boundary
from pop3mock.fake._threads import Head, person
from pop3mock.fake._vocabulary import DOT_LINES, GREETINGS, LEGACY, SIGNOFFS, Pool

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["PartMaker"]

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


def _filename(pool: Pool, rng: Random, ext: str) -> str:
    roll = rng.random()
    if roll < 0.25:
        stem = rng.choice(("IMG_", "scan", "DSC", "Invoice-", "doc")) + str(rng.randint(1, 9999))
    else:
        words = rng.choices(pool.words, k=rng.randint(1, 3))
        stem = ("_" if rng.random() < 0.5 else " ").join(words) if pool.spaced else "".join(words)
        stem = stem.replace("/", "-")[:40]
    return f"{stem}.{ext}"


class PartMaker:
    """Makes the parts of one message from its head and its own random stream."""

    def __init__(self, head: Head, rng: Random) -> None:
        self.head = head
        self.rng = rng
        self.pool = head.pool
        self.kind: str | None = None
        self.long_lines = False
        self.dot_lines = False

    def _multi(
        self, subtype: str, parts: list[Part], *, preamble: bool = False, related: str = ""
    ) -> Part:
        boundary = new_boundary(self.rng)
        params = [f'boundary="{boundary}"']
        if related:
            params.insert(0, f'type="{related}"')
        return Part(
            headers=[params_header("Content-Type", f"multipart/{subtype}", params)],
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
            legacy = LEGACY.get(language, ())
            codec = rng.choice(legacy) if legacy and rng.random() < 0.4 else "utf-8"
            if codec == "iso-2022-jp":  # a 7-bit encoding by design
                cte = "7bit" if rng.random() < 0.7 else "base64"
            else:
                cte = rng.choices(("8bit", "quoted-printable", "base64"), (4, 4, 2))[0]
        label = codec.upper() if rng.random() < 0.3 else codec
        return label, codec, cte

    def _text(self, subtype: str, *, flex: bool, note: str = "") -> Part:
        label, codec, cte = self._charset()
        kind = self.kind if flex else None
        if kind in ("bare-lf", "overlong-line", "bad-charset"):
            codec, cte = "utf-8", "8bit"
            label = self.rng.choice(BAD_CHARSETS) if kind == "bad-charset" else codec
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
            fill = partial(truncated, fill)
        return Part(headers=headers, fill=fill, flex=flex, weight=45)

    def _html(self, weight: int, *, images: list[Part] | None = None) -> Part:
        label, codec, cte = self._charset()
        pool = self.pool.encodable(codec)
        cids = [p.headers[-1].partition("<")[2].rstrip(">") for p in images or []]
        prefix, content, suffixes = self._html_text(pool, label, cids)
        headers = [
            f'Content-Type: text/html; charset="{label}"',
            f"Content-Transfer-Encoding: {cte}",
        ]
        fill = self._filler(codec, cte, prefix, content, suffixes, False, pool)
        return Part(headers=headers, fill=fill, weight=weight, minimum=600)

    def _filler(
        self,
        codec: str,
        cte: str,
        prefix: list[str],
        content: Iterator[str],
        suffixes: list[list[str]],
        exact: bool,
        pool: Pool,
        limit: int = 998,
    ) -> Callable[[int], bytes]:
        rng = Random(self.rng.getrandbits(64))
        if cte == "base64":
            return partial(fill_base64, codec, prefix, content, suffixes, exact=exact, rng=rng)
        enc = Encoder(codec, cte)
        short = pool.lines

        def fill(target: int) -> bytes:
            return fill_lines(enc, prefix, content, suffixes, target, exact, rng, short, limit)

        return fill

    def _plain_text(
        self, pool: Pool, note: str, kind: str | None
    ) -> tuple[list[str], Iterator[str], list[list[str]]]:
        rng = Random(self.rng.getrandbits(64))
        head = self.head
        language = pool.language
        owner_first = head.to[0][0].split(" ")[0]
        greeting = rng.choice(GREETINGS.get(language, GREETINGS["en"]))
        prefix = [f"{greeting} {owner_first}," if owner_first else f"{greeting},", ""]
        if note == "forward":
            prefix += ["FYI, see the message below.", ""]
        if kind == "overlong-line":
            text = " ".join(rng.choices(pool.sentences, k=80))
            prefix += [text[: rng.randint(1_100, 1_300)], ""]
        sender_name = head.sender[0] or head.sender[1]
        signature = ["", rng.choice(SIGNOFFS.get(language, SIGNOFFS["en"])), sender_name]
        if rng.random() < 0.3:
            signature += ["-- ", sender_name, f"{rng.choice(pool.words)} | {head.sender[1]}"]
        suffixes = [signature, []]
        parent = head.parent
        if parent is not None:
            quote = [
                "",
                f"On {date(parent.date, parent.tz)}, {parent.sender[0] or parent.sender[1]} "
                f"<{parent.sender[1]}> wrote:",
            ]
            quote += ["> " + line for line in rng.choices(pool.lines, k=rng.randint(2, 8))]
            suffixes.insert(0, signature + quote)
        return prefix, self._paragraphs(pool, rng, kind), suffixes

    def _paragraphs(self, pool: Pool, rng: Random, kind: str | None) -> Iterator[str]:
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
                yield rng.choice(DOT_LINES)
            yield ""

    def _html_text(
        self, pool: Pool, label: str, cids: list[str]
    ) -> tuple[list[str], Iterator[str], list[list[str]]]:
        rng = Random(self.rng.getrandbits(64))
        head = self.head
        owner_first = head.to[0][0].split(" ")[0]
        greeting = rng.choice(GREETINGS.get(pool.language, GREETINGS["en"]))
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
        signoff = rng.choice(SIGNOFFS.get(pool.language, SIGNOFFS["en"]))
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

    def _attachment(self, *, large: bool = False) -> Part:
        rng = self.rng
        if not large and rng.random() < 0.25:
            return self._text_attachment()
        ext, ctype, lead, trail = rng.choice(_LARGE if large else _BINARY)
        name = _filename(self.pool, rng, ext)
        headers = [
            params_header("Content-Type", ctype, header_param("name", name)),
            "Content-Transfer-Encoding: base64",
            params_header("Content-Disposition", "attachment", header_param("filename", name)),
        ]
        fill = self._binary_fill(lead, trail)
        return Part(headers, fill=fill, group="attachment", weight=rng.randint(1, 4), minimum=300)

    def _image(self) -> Part:
        rng = self.rng
        ext, ctype, lead, trail = rng.choice(_IMAGES)
        name = f"image{rng.randint(1, 20):03d}.{ext}"
        cid = f"{name}@{rng.getrandbits(32):08X}.{rng.getrandbits(32):08X}"
        headers = [
            params_header("Content-Type", ctype, header_param("name", name)),
            "Content-Transfer-Encoding: base64",
            params_header("Content-Disposition", "inline", header_param("filename", name)),
            f"Content-ID: <{cid}>",
        ]
        fill = self._binary_fill(lead, trail)
        return Part(headers, fill=fill, group="attachment", weight=rng.randint(1, 3), minimum=300)

    def _binary_fill(self, lead: bytes, trail: bytes) -> Callable[[int], bytes]:
        rng = Random(self.rng.getrandbits(64))

        def fill(budget: int) -> bytes:
            n = b64_fit(budget)
            middle = n - len(lead) - len(trail)
            raw = lead + rng.randbytes(middle) + trail if middle >= 0 else rng.randbytes(n)
            return b64(raw)

        return fill

    def _text_attachment(self) -> Part:
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
            params_header("Content-Type", ctype, params + header_param("name", name)),
            f"Content-Transfer-Encoding: {cte}",
            params_header("Content-Disposition", "attachment", header_param("filename", name)),
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
        return Part(headers, fill=fill, group="attachment", weight=rng.randint(1, 3), minimum=200)


def _csv_row(pool: Pool, rng: Random) -> str:
    name, address = person(pool, rng)
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return f'"{name}",{address},{rng.randint(1, 99999) // 100}.{rng.randint(0, 99):02d},{day}'


def _ics_event(pool: Pool, rng: Random) -> list[str]:
    day = f"2024{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return [
        "BEGIN:VEVENT",
        f"UID:{rng.getrandbits(64):016x}@pop3mock",
        f"DTSTART:{day}T{rng.randint(8, 17):02d}0000Z",
        f"SUMMARY:{' '.join(rng.choices(pool.words, k=3))[:60]}",
        "END:VEVENT",
    ]
