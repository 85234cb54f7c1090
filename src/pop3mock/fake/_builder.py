"""One generated message of an exact size: the MIME tree of each shape (plain, html,
alternative, attachment, inline image, forward, large), the content budget of each part, the
header block, and the Received id that takes up the last few octets.
"""

from __future__ import annotations

import hashlib
from random import Random

import attrs

from pop3mock.fake._header_text import address_tokens, date, fold, unstructured_tokens
from pop3mock.fake._malformed import feasible
from pop3mock.fake._mime import CRLF, Part, leaf_parts, render_body
from pop3mock.fake._parts import PartMaker
from pop3mock.fake._plan import spread
from pop3mock.fake._threads import Head, Heads

# Used by pop3mock.fake._factory and its fake_* modules only.
__all__ = ["Builder"]

_FLEX_MIN = 160  # octets the filled text part always gets
_ID_BASE = 12  # length of the Received id before it absorbs the remainder
_ID_CHARS = bytes(b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"[i % 34] for i in range(256))


class Builder(PartMaker):
    """Builds one message of an exact size from its head and its own random stream."""

    def __init__(self, heads: Heads, head: Head, rng: Random) -> None:
        super().__init__(head, rng)
        self.heads = heads
        self.forward = False
        self.received = ""
        self.received_id = b""
        self.flex_min = _FLEX_MIN

    # -- whole message -------------------------------------------------------------------

    def build(self, shape: str, size: int, kind: str | None) -> tuple[bytes, frozenset[str]]:
        rng = self.rng
        self.long_lines = rng.random() < 0.3
        self.dot_lines = rng.random() < 0.15
        text_target = spread(600, 9_000, rng.getrandbits(8), rng.getrandbits(32))
        self._received_parts()
        # Full headers first; trimmed ones (no Cc, one Received...) when the size is tight;
        # a plain message as the last resort.
        for trimmed, actual in ((False, shape), (True, shape), (True, "plain")):
            self.kind = feasible(kind, actual)
            self.long_lines = self.long_lines and self.kind != "bare-lf"
            root = self._tree(actual)
            head_lines = self._headers(root, trimmed)
            empty: list[bytes] = []
            render_body(root, empty)
            content = size - len(self._join_headers(head_lines, 0)) - sum(map(len, empty))
            leaves = list(leaf_parts(root))
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
        render_body(root, out)
        data = self._join_headers(head_lines, gap) + b"".join(out)
        if self.kind == "overlong-line" and not any(len(line) > 998 for line in data.split(CRLF)):
            self.kind = None  # too small for the long line: an ordinary message
        if self.kind == "bare-lf" and b"\n" not in data.replace(CRLF, b""):
            self.kind = None
        flags = {actual}
        if self.head.parent is not None:
            flags.add("reply")
        if self.kind is not None:
            flags.update(("malformed", f"malformed:{self.kind}"))
        return data, frozenset(flags)

    def _allocate(self, leaves: list[Part], content: int, text_target: int) -> None:
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
        when = date(head.date + rng.randint(2, 90), 0)
        self.received = (
            f"Received: from {helo} ({helo} [{ip}])\r\n"
            f"\tby mx{rng.randint(1, 9)}.{owner.rpartition('@')[2]} with ESMTPS id {{id}}\r\n"
            f"\tfor <{owner}>; {when}"
        )

    def _headers(self, root: Part, trimmed: bool) -> list[str]:
        rng = Random(self.rng.getrandbits(64))
        head = self.head
        language = self.pool.language
        lines = []
        if not trimmed:
            lines.append(
                f"Received: by {head.sender[1].rpartition('@')[2]} with SMTP id "
                f"{rng.getrandbits(48):012x}; {date(head.date, head.tz)}"
            )
        lines.append(fold("From", address_tokens((head.sender,), language, rng)))
        lines.append(fold("To", address_tokens(head.to[:1] if trimmed else head.to, language, rng)))
        if head.cc and not trimmed:
            lines.append(fold("Cc", address_tokens(head.cc, language, rng)))
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
            lines.append(fold("Subject", unstructured_tokens(subject, language, rng)))
        if self.kind != "missing-date":
            lines.append("Date: " + date(head.date, head.tz))
        lines.append(f"Message-ID: <{head.message_id}>")
        if head.parent is not None:
            lines.append(f"In-Reply-To: <{head.parent.message_id}>")
            refs = head.references
            if trimmed and len(refs) > 2:
                refs = (refs[0], refs[-1])  # RFC 5322 3.6.4 allows dropping the middle
            lines.append(fold("References", [f"<{r}>" for r in refs]))
        lines.append("MIME-Version: 1.0")
        lines.extend(root.headers)
        if head.agent and not trimmed:
            lines.append(head.agent)
        return lines

    # -- shapes --------------------------------------------------------------------------

    def _tree(self, shape: str) -> Part:
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

    def _forwarded(self) -> Part:
        rng = self.rng
        heads = self.heads
        inner_head = heads.root_head(self.pool, rng, to=self.head.sender)
        inner_head = attrs.evolve(inner_head, date=self.head.date - rng.randint(600, 30 * 86400))
        inner_rng = Random(rng.getrandbits(64))
        inner_shape = rng.choice(("plain", "plain", "html", "alternative"))
        # RFC 2046 5.2.1: a message/rfc822 part is never base64 or quoted-printable.
        part = Part(
            ["Content-Type: message/rfc822", "Content-Transfer-Encoding: 7bit"],
            group="attachment",
            minimum=1_900,
        )

        def fill(budget: int) -> bytes:
            data, _ = Builder(heads, inner_head, inner_rng).build(inner_shape, budget, None)
            if not data.isascii():
                part.headers[1] = "Content-Transfer-Encoding: 8bit"  # same length
            return data

        part.fill = fill
        return part
