"""One server reply and the one place where it becomes wire bytes."""

from __future__ import annotations

import attrs

from pop3mock.protocol._config import ServerConfig

__all__ = ["Response", "system_error"]

_MAX_FIRST_LINE = 512  # RFC 1939 section 3 / RFC 2449 section 4, CRLF included


# slots=False: attrs stores a frozen dict class's fields straight into its __dict__, where a
# frozen slotted class pays one object.__setattr__ call per field. One Response is made per
# command, and this makes it a third cheaper.
@attrs.frozen(slots=False)
class Response:
    """One server reply: status line, optional multi-line body, and what to do next.

    `body` is already byte-stuffed CRLF lines; `encode()` adds the terminator. It is the one
    place where a reply becomes wire bytes.
    """

    status: str  # "+OK", "-ERR" or "+" (a SASL continuation)
    text: str = ""
    code: str | None = None
    body: bytes | None = None
    #: Close the connection after sending (QUIT, too many bad commands).
    close: bool = False
    #: Start the TLS handshake right after sending (STLS).
    start_tls: bool = False
    #: A client protocol violation this command showed (strict mode reports these).
    violation: str | None = None
    #: Seconds to wait before sending (a failed login's delay); the server waits, woken at
    #: once when it stops.
    pause: float = 0.0
    #: The exact bytes to send instead of the ones made from the fields above (a replayed
    #: recording, or a RETR reply made once per message); status and text then describe its
    #: first line for the journal.
    raw: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status != "-ERR"

    @property
    def multiline(self) -> bool:
        return self.body is not None

    @property
    def first_line(self) -> bytes:
        """The status line with its CRLF, cut to 512 octets (RFC 1939 section 3).

        A SASL challenge ("+ base64") is never cut: RFC 5034 section 4 puts it outside any
        line-length limit.
        """
        raw = self.raw
        if raw is not None:
            end = raw.find(b"\n")
            return raw + b"\n" if end < 0 else raw[: end + 1]
        return status_line(self.status, self.text, self.code)

    def parts(self) -> tuple[bytes, ...]:
        """The wire bytes in pieces (status line, body, terminator) for scatter-gather sends."""
        if self.raw is not None:
            return (self.raw,)
        first = status_line(self.status, self.text, self.code)
        if self.body is None:
            return (first,)
        return (first, self.body, b".\r\n")

    def encode(self) -> bytes:
        return b"".join(self.parts())

    def joined(self) -> Response:
        """This reply with its wire bytes made once, as one object (`raw`): for a reply
        that is kept and sent again and again (RETR of a message)."""
        return attrs.evolve(self, raw=self.encode())


def status_line(status: str, text: str = "", code: str | None = None) -> bytes:
    """The first line of a reply with its CRLF, cut to 512 octets (RFC 1939 section 3),
    except a SASL challenge ("+ base64"): RFC 5034 section 4 puts it outside any limit."""
    head = f"{status} [{code}]" if code else status
    line = f"{head} {text}\r\n" if text or status == "+" else f"{head}\r\n"
    data = line.encode("utf-8", "replace")
    if len(data) <= _MAX_FIRST_LINE or status == "+":
        return data
    return data[: _MAX_FIRST_LINE - 2] + b"\r\n"


def system_error(
    config: ServerConfig, key: str = "internal", *, permanent: bool = False
) -> Response:
    """A `-ERR [SYS/TEMP]` (or `[SYS/PERM]`) reply for a failure of the server itself
    (RFC 3206 section 4); the code is left out unless RESP-CODES is advertised."""
    code = "SYS/PERM" if permanent else "SYS/TEMP"
    listed = config.response_codes is None or code in config.response_codes
    return Response("-ERR", config.text(key), code if listed and config.has("RESP-CODES") else None)
