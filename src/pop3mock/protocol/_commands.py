"""The command table and argument parsing: which verbs exist, in which state and behind
which capability, and how a line splits into verb and arguments (RFC 1939 section 3)."""

from __future__ import annotations

import base64
import binascii
import re
import types
from collections.abc import Mapping

__all__ = [
    "AUTHORIZATION_VERBS",
    "CLEARTEXT_MECHANISMS",
    "OPTIONAL_VERBS",
    "TRANSACTION_VERBS",
    "decode_base64",
    "parse_number",
    "split_command",
]

#: Commands allowed only before login.
AUTHORIZATION_VERBS = frozenset({"USER", "PASS", "APOP", "AUTH", "STLS", "UTF8"})
#: Commands allowed only once logged in.
TRANSACTION_VERBS = frozenset(
    {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "LAST"}
)
#: The capability each optional command needs (PASS belongs to USER, AUTH to SASL).
OPTIONAL_VERBS: Mapping[str, str] = types.MappingProxyType(
    {
        "TOP": "TOP",
        "UIDL": "UIDL",
        "USER": "USER",
        "PASS": "USER",
        "AUTH": "SASL",
        "STLS": "STLS",
        "UTF8": "UTF8",
        "LANG": "LANG",
        "CAPA": "CAPA",
    }
)
#: The logins that carry the password itself, refused for `apop_only_users`.
CLEARTEXT_MECHANISMS = frozenset({"USER", "PLAIN", "LOGIN"})

# RFC 4648 base64 with exact padding: Python's decoder alone accepts "QUJD=" (C-157).
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def split_command(line: bytes) -> tuple[str, str]:
    """Split a command line into its upper-case verb and the rest.

    Verbs are ASCII (RFC 1939 section 3): only a-z are upper-cased. str.upper() would
    turn "u\u017fer", "PA\u017fS" and "l\u0131st" into USER, PASS and LIST; left as
    they are, they match no command and are answered as unknown ones.
    """
    text = line.decode("utf-8", "replace")
    verb, _, rest = text.partition(" ")
    return (verb.upper() if verb.isascii() else verb), rest


def parse_number(token: str) -> int | None:
    """A message number or line count, or None if `token` is not one."""
    # RFC 1939: decimal without sign; leading zeros are accepted (C-008). Huge numbers
    # simply name no message.
    if not token.isascii() or not token.isdigit() or len(token) > 20:
        return None
    return int(token)


def decode_base64(text: str) -> bytes | None:
    """A SASL response's bytes ("=" is the empty one, RFC 5034), or None if not base64."""
    if text == "=":
        return b""
    text = text.strip()
    if not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
