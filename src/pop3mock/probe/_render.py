"""From what the probe saw to the personality file: reply texts with their numbers turned
back into placeholders, the UIDL form, and the TOML text with its comments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pop3mock.protocol._personality_file import dumps

__all__ = ["render"]


def _form(text: str, **values: int | str) -> str:
    """`text` with the given values turned back into their ``{name}`` placeholders (and
    any brace doubled, as the server formats these texts)."""
    text = text.replace("{", "{{").replace("}", "}}")
    for name, value in values.items():
        word = re.escape(str(value))
        text = re.sub(rf"(?<![\w.]){word}(?![\w])", f"{{{name}}}", text)
    return text


def _uid_pattern(uids: list[str]) -> tuple[str, str]:
    """The UIDL form pop3mock knows that fits `uids`, and a pattern for all of them."""
    if uids and all(re.fullmatch(r"GmailId[0-9a-f]{16}", uid) for uid in uids):
        return "gmail", "GmailId[0-9a-f]{16}"
    if uids and all(
        re.fullmatch(r"[0-9a-f]{16}", uid) and int(uid[:8], 16) == n
        for n, uid in enumerate(uids, 1)
    ):
        return "dovecot", "[0-9a-f]{8}[0-9a-f]{8}"
    lengths = {len(uid) for uid in uids}
    length = f"{{{lengths.pop()}}}" if len(lengths) == 1 else "+"
    for chars, name in (("0-9", "[0-9]"), ("0-9a-f", "[0-9a-f]"), ("0-9A-F", "[0-9A-F]")):
        if uids and all(re.fullmatch(f"[{chars}]+", uid) for uid in uids):
            return "message", name + length
    return "message", "[!-~]" + (length if length != "+" else "{1,70}")


_COMMENTS = {
    "format": "pop3mock personality file, written by pop3mock probe (docs/personalities.md)",
    "latency": "median reply time per command in milliseconds, as measured (not replayed)",
    "probe": "how the probe ran (not used when serving)",
}


def render(document: Mapping[str, Any]) -> str:
    """The TOML text of a probe's document."""
    return dumps(document, _COMMENTS)
