"""Authentication: the APOP digest and the SASL mechanisms, as small sans-IO exchanges.

A mechanism exchange takes decoded client data and answers with a `Challenge` (sent as
`+ base64`), a `Success` naming the user, or a `Failure`. Base64, cancellation and the
POP3 wording are the protocol core's job; here is only each mechanism's logic.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import types
from collections.abc import Callable, Mapping
from typing import Protocol, Union

import attrs

from pop3mock.maildrop._mailbox import Mailbox

__all__ = [
    "MECHANISMS",
    "UNKNOWN_USER_SECRET",
    "Challenge",
    "Exchange",
    "Failure",
    "Success",
    "apop_digest",
    "check_apop",
    "cram_md5_digest",
    "new_exchange",
    "password_ok",
]

Lookup = Callable[[str], Mailbox | None]

#: What a credential is checked against when the user does not exist: the same digest or
#: comparison runs for every user, so the time to answer does not tell which users exist.
#: It can be typed (a NUL is a valid password character), so a match still logs nobody in.
UNKNOWN_USER_SECRET = "\0unknown"


@attrs.frozen
class Challenge:
    """Send `+ base64(data)` and wait for the client's next line."""

    data: bytes


@attrs.frozen
class Success:
    """The exchange authenticated `user`."""

    user: str


@attrs.frozen
class Failure:
    """The exchange failed; `reason` is for the journal, never for the wire."""

    reason: str


Step = Union[Challenge, Success, Failure]


def apop_digest(timestamp: str, secret: str) -> str:
    """RFC 1939 section 7: lower-case hex MD5 of the greeting timestamp and the secret."""
    return hashlib.md5((timestamp + secret).encode("utf-8")).hexdigest()


def check_apop(timestamp: str, secret: str, digest: str) -> bool:
    """Compare an APOP digest in constant time; upper-case hex is accepted (C-046)."""
    return hmac.compare_digest(
        apop_digest(timestamp, secret).encode(), digest.lower().encode("utf-8", "replace")
    )


def cram_md5_digest(challenge: bytes, secret: str) -> str:
    """RFC 2195: lower-case hex HMAC-MD5 of the challenge keyed with the secret."""
    return hmac.new(secret.encode("utf-8"), challenge, hashlib.md5).hexdigest()


def password_ok(mailbox: Mailbox | None, password: str) -> bool:
    """Whether `password` is the mailbox's; an unknown user (None) goes through the same
    comparison, and never matches."""
    expected = mailbox.password if mailbox is not None else UNKNOWN_USER_SECRET
    # Digests of equal length: compare_digest takes as long for a password of any length.
    same = hmac.compare_digest(_digest(expected), _digest(password))
    return same and mailbox is not None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Exchange(Protocol):
    """One run of a SASL mechanism."""

    #: True when the client speaks first (an initial response is allowed).
    client_first: bool

    def start(self, initial: bytes | None) -> Step: ...

    def step(self, data: bytes) -> Step: ...


class _Plain:
    """RFC 4616: [authzid] NUL authcid NUL passwd."""

    client_first = True

    def __init__(self, lookup: Lookup, challenge: str) -> None:
        self._lookup = lookup

    def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"")
        return self.step(initial)

    def step(self, data: bytes) -> Step:
        parts = data.split(b"\0")
        if len(parts) != 3:
            return Failure("PLAIN message is not authzid NUL authcid NUL password")
        texts = [_decode(p) for p in parts]
        if None in texts:
            return Failure("PLAIN message is not UTF-8")
        authzid, authcid, password = (t or "" for t in texts)
        if authzid and authzid != authcid:
            return Failure(f"PLAIN authzid {authzid!r} differs from authcid {authcid!r}")
        if not password_ok(self._lookup(authcid), password):
            return Failure(f"PLAIN: wrong password for {authcid!r}")
        return Success(authcid)


class _Login:
    """The de-facto LOGIN mechanism: Username: and Password: prompts."""

    client_first = True

    def __init__(self, lookup: Lookup, challenge: str) -> None:
        self._lookup = lookup
        self._user: str | None = None

    def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"Username:")
        return self.step(initial)

    def step(self, data: bytes) -> Step:
        text = _decode(data)
        if text is None:
            return Failure("LOGIN data is not UTF-8")
        if self._user is None:
            self._user = text
            return Challenge(b"Password:")
        if not password_ok(self._lookup(self._user), text):
            return Failure(f"LOGIN: wrong password for {self._user!r}")
        return Success(self._user)


class _CramMD5:
    """RFC 2195: the server sends a msg-id, the client answers `user hex-hmac`."""

    client_first = False

    def __init__(self, lookup: Lookup, challenge: str) -> None:
        self._lookup = lookup
        self._challenge = challenge.encode("ascii")

    def start(self, initial: bytes | None) -> Step:
        if initial is not None:
            return Failure("CRAM-MD5 takes no initial response")
        return Challenge(self._challenge)

    def step(self, data: bytes) -> Step:
        text = _decode(data)
        user, _, digest = (text or "").rpartition(" ")
        if not user or not digest:
            return Failure("CRAM-MD5 response is not 'user digest'")
        mailbox = self._lookup(user)
        secret = mailbox.password if mailbox is not None else UNKNOWN_USER_SECRET
        expected = cram_md5_digest(self._challenge, secret).encode()
        if not hmac.compare_digest(expected, digest.lower().encode("utf-8", "replace")):
            return Failure(f"CRAM-MD5: wrong digest for {user!r}")
        return Success(user)


class _Bearer:
    """XOAUTH2 and OAUTHBEARER (RFC 7628): a bearer token per user.

    On failure the server sends a JSON error challenge; the client answers with an empty
    (XOAUTH2) or ^A (OAUTHBEARER) response and only then gets the `-ERR`.
    """

    client_first = True

    def __init__(self, lookup: Lookup, challenge: str, *, gs2: bool) -> None:
        self._lookup = lookup
        self._gs2 = gs2
        self._failed: str | None = None

    def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"")
        return self.step(initial)

    def step(self, data: bytes) -> Step:
        if self._failed is not None:
            return Failure(self._failed)
        user, token = self._parse(data)
        if user is None or token is None:
            return Failure("malformed bearer token message")
        mailbox = self._lookup(user)
        expected = mailbox.token if mailbox is not None else None
        # Compared for unknown users and users without a token too (against the stand-in).
        stand_in = expected if expected is not None else UNKNOWN_USER_SECRET
        same = hmac.compare_digest(_digest(stand_in), _digest(token))
        if same and expected is not None:
            return Success(user)
        self._failed = f"bearer token refused for {user!r}"
        error = {"status": "invalid_token", "schemes": "Bearer", "scope": "mail"}
        if self._gs2:
            error = {"status": "invalid_token", "scope": "mail"}
        return Challenge(json.dumps(error, separators=(",", ":")).encode())

    def _parse(self, data: bytes) -> tuple[str | None, str | None]:
        text = _decode(data)
        if text is None:
            return None, None
        user = token = None
        fields = text.split("\x01")
        if self._gs2:
            # gs2-header: "n,a=user," then key=value fields separated by ^A.
            header = fields[0].split(",")
            if len(header) < 2 or (
                header[0] not in ("n", "y", "p") and not header[0].startswith("p=")
            ):
                return None, None
            if header[1].startswith("a="):
                user = header[1][2:].replace("=2C", ",").replace("=3D", "=")
            fields = fields[1:]
        for field in fields:
            key, _, value = field.partition("=")
            if key == "user":
                user = value
            elif key == "auth" and value.startswith("Bearer "):
                token = value[len("Bearer ") :]
        return user, token


def _xoauth2(lookup: Lookup, challenge: str) -> Exchange:
    return _Bearer(lookup, challenge, gs2=False)


def _oauthbearer(lookup: Lookup, challenge: str) -> Exchange:
    return _Bearer(lookup, challenge, gs2=True)


MECHANISMS: Mapping[str, Callable[[Lookup, str], Exchange]] = types.MappingProxyType(
    {
        "PLAIN": _Plain,
        "LOGIN": _Login,
        "CRAM-MD5": _CramMD5,
        "XOAUTH2": _xoauth2,
        "OAUTHBEARER": _oauthbearer,
    }
)


def new_exchange(mechanism: str, lookup: Lookup, challenge: str) -> Exchange:
    """Start `mechanism` (upper-case name); `challenge` is a fresh msg-id for CRAM-MD5."""
    return MECHANISMS[mechanism](lookup, challenge)
