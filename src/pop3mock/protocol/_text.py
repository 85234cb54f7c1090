"""How what a client sent is shown to people: control characters escaped, credentials masked.

A client under test, or anyone who reaches a shared server, chooses the bytes pop3mock later
prints: transcripts, `str` and `repr` of records, assertion and violation messages,
`pop3mock serve`'s stderr and its JSON-lines journal. Two rules, each written once here:

- `escape`: every character that could steer a terminal or reorder what it shows is written
  as a Python-style escape (``\\x1b``, ``\\x9b``, ``\\u202e``): C0 controls (TAB, CR and LF
  included), DEL, C1 controls, the bidirectional controls (U+061C, U+200E-U+200F,
  U+202A-U+202E, U+2066-U+2069), the line and paragraph separators, the byte-order mark and
  lone surrogates. Everything else, non-ASCII letters included, is shown as it is. The
  escape is idempotent (its output contains none of those characters), so a text built from
  escaped pieces can be escaped again at the point where it is printed. A backslash is left
  as it is: the exact bytes are in the records' data fields (`CommandRecord.raw`).
- `mask`: which arguments carry a credential, and what is shown instead (``***``). The
  arguments of PASS, the digest of APOP and the initial response of AUTH; a PASS, APOP or
  AUTH glued to what follows (``PASS\\tsecret``) or preceded by junk (``\\0PASS secret``,
  a byte-order mark); and every line that a credential may be: the line after a USER
  command, whatever the reply to USER was (a client that pipelines sends its password
  before it reads that reply), and each line of an AUTH exchange. Such a line keeps its verb
  only when the verb is a POP3 command's name (``QUIT``, ``USER ***``): a password that
  reads like ``QUIT`` is run as QUIT anyway, and a transcript that shows ``***`` for every
  QUIT after a USER would hide what the client did.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "SECRET_ARGUMENTS",
    "credential_line",
    "escape",
    "escape_bytes",
    "escape_json",
    "garbled_secret",
    "mask",
    "mask_verb",
    "masked",
    "masked_arguments",
    "secret_command",
]

# C0, DEL and C1; the bidirectional controls (a U+202E turns the rest of a terminal line
# around); U+2028/U+2029, which some viewers take for line ends; the byte-order mark, which
# shows as nothing; lone surrogates, which a UTF-8 stream cannot even write.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = types.MappingProxyType({"\t": "\\t", "\n": "\\n", "\r": "\\r"})

#: Commands whose arguments carry a credential, and how many leading arguments may be
#: shown: ``PASS ***``, ``APOP alice ***``, ``AUTH PLAIN ***``. The rest is one ``***``.
SECRET_ARGUMENTS: Mapping[str, int] = types.MappingProxyType({"PASS": 0, "APOP": 1, "AUTH": 1})
_SECRET_WORD = re.compile("|".join(SECRET_ARGUMENTS))
# The commands of RFC 1939, 2449, 2595, 5034 and 6856, and LAST: on a credential line, a verb
# that is one of these (in any ASCII case) is the client's command, not its password.
_COMMAND_NAMES = frozenset(
    [
        "USER",
        "PASS",
        "APOP",
        "AUTH",
        "QUIT",
        "STAT",
        "LIST",
        "RETR",
        "DELE",
        "NOOP",
        "RSET",
        "TOP",
        "UIDL",
        "CAPA",
        "STLS",
        "UTF8",
        "LANG",
        "LAST",
    ]
)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` fit for a terminal: every control character written as an escape.

    >>> escape("NOOP \\x1b[2J\\x9b31m")
    'NOOP \\\\x1b[2J\\\\x9b31m'
    """
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escaped, text)


def escape_bytes(data: bytes) -> str:
    """Bytes as received, fit for a terminal: UTF-8 where it decodes, ``\\xNN`` where not."""
    return escape(data.decode("utf-8", "backslashreplace"))


def escape_json(text: str) -> str:
    """A JSON text with the characters `escape` would escape written as JSON escapes
    (``\\u`` and four hex digits).

    `json.dumps(..., ensure_ascii=False)` escapes C0 but writes C1, the bidirectional
    controls and lone surrogates as they are; the value stays the same, only a terminal
    that shows the file (``tail -f``) no longer obeys them.
    """
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# -- credentials -----------------------------------------------------------------------------


def _secret_word(verb: str) -> tuple[str, str, str] | None:
    """(what precedes, PASS/APOP/AUTH, what follows) in `verb`, or None.

    Anywhere in the verb: "\\0PASS", "\\ufeffPASS", "xPASS" are what a client meant as PASS.
    upper(), not the ASCII-only upper-casing the parser uses, so that "pa\u017fs" (long s)
    is masked too: masking too much costs nothing.
    """
    if verb in _COMMAND_NAMES:
        # Every command line takes this path: a command's name holds a secret word only
        # when it is one, with nothing glued to it.
        return ("", verb, "") if verb in SECRET_ARGUMENTS else None
    upper = verb.upper()
    found = _SECRET_WORD.search(upper)
    if found is None:
        return None
    if len(upper) != len(verb):
        verb = upper  # upper() changed the length ("ß" is "SS"): cut the upper-case text
    return verb[: found.start()], found.group(), verb[found.end() :]


def garbled_secret(verb: str) -> bool:
    """Whether `verb` carries a credential in what reads as the verb: a PASS, APOP or AUTH
    with no space after it ("PASS\\tsecret", "PASS\\0secret", "PASSsecret"), whatever comes
    before it; a verb `mask_verb` already masked counts too."""
    if verb in _COMMAND_NAMES:
        return False  # every command line takes this path: a name alone hides nothing
    parts = _secret_word(verb)
    return parts is not None and parts[2] != ""


def mask_verb(verb: str) -> str:
    """`verb` fit to print: of a garbled PASS, APOP or AUTH only what comes up to the
    command's name, then ``***``."""
    parts = _secret_word(verb)
    if parts is None or not parts[2]:
        return verb
    return f"{parts[0]}{parts[1]}***"


def credential_line(previous_verb: str | None, *, in_sasl: bool) -> bool:
    """Whether a line is a credential whatever it says: a line of an AUTH exchange, or the
    line after a USER command (`previous_verb`: the verb of the session's line before)."""
    if in_sasl:
        return True
    return previous_verb is not None and "USER" in previous_verb.upper()


def secret_command(verbs: Iterable[str]) -> bool:
    """Whether a command named by one of `verbs` (upper case) carries a credential in its
    arguments: PASS, APOP or AUTH."""
    return any(verb in SECRET_ARGUMENTS for verb in verbs)


def masked_arguments(verbs: Iterable[str], args: Sequence[str]) -> tuple[str, ...]:
    """`args` of a command named by one of `verbs` (upper case; a fault rule may name
    several), fit to show: after the leading arguments that command shows, one ``***``.
    Where the verbs differ, the fewest are shown."""
    shown = min(
        (SECRET_ARGUMENTS[verb] for verb in verbs if verb in SECRET_ARGUMENTS), default=None
    )
    if shown is None:
        return tuple(args)
    return (*args[:shown], *(("***",) if len(args) > shown else ()))


def masked(
    verb: str, args: Sequence[str], *, credential: bool = False
) -> tuple[str, tuple[str, ...]]:
    """The verb and arguments fit to show (not yet escaped): credentials are ``***``.

    `credential` marks a line that is a secret whatever its verb (see `credential_line`):
    only a verb naming PASS, APOP or AUTH is shown then, with that command's masking.
    """
    parts = _secret_word(verb)
    if parts is not None:
        before, name, after = parts
        if after:
            # "PASS\\tsecret": not a valid command, but the password is on the line all the
            # same, in the verb and after it.
            return before + name, ("***",)
        return verb, masked_arguments((name,), args)
    if credential and verb.isascii() and verb.upper() in _COMMAND_NAMES:
        return verb, ("***",) if args else ()
    if credential or verb == "":
        # The line after USER or a SASL response: a password may be all of it.
        return ("***", ()) if verb or any(args) else ("", ())
    return verb, tuple(args)


def mask(verb: str, args: Sequence[str], *, credential: bool = False) -> str:
    """A command as one line of text: credentials masked (see `masked`), controls escaped."""
    shown_verb, shown_args = masked(verb, args, credential=credential)
    return escape(" ".join([shown_verb, *shown_args]))
