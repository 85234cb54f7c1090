"""The probe's client connection: where it goes (`Target`), sending a command and reading
its reply with a deadline on every read, TLS from the start or after STLS, and telling a
POP3 greeting from a silent, HTTP or TLS server (`ProbeError` says what was seen).
"""

from __future__ import annotations

import re
import socket
import time
import urllib.parse
from typing import TYPE_CHECKING

import attrs

from pop3mock.errors import Pop3MockError

if TYPE_CHECKING:
    import ssl

__all__ = ["PASSWORD_VARIABLE", "ProbeError", "Target"]

#: The environment variable the password is read from (else it is asked for).
PASSWORD_VARIABLE = "POP3MOCK_PROBE_PASSWORD"

_MAX_LINE = 8192  # longer than any POP3 line (RFC 2449: 512 octets for status lines)
_MAX_BODY = 64 * 1024 * 1024


class ProbeError(Pop3MockError):
    """The probe stopped: the server is unreachable, not POP3, or refused the login."""


class _Closed(ProbeError):
    """The server closed the connection."""


@attrs.frozen
class Target:
    """Where the probe goes: host, port, user, and how TLS starts."""

    host: str
    port: int
    user: str
    #: "none", "implicit" (pop3s://) or "stls".
    tls: str = "none"

    @classmethod
    def from_url(cls, url: str, *, stls: bool = False, user: bool = True) -> Target:
        """`user`: the URL must name the user (False: it must not; the user is "")."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("pop3", "pop3s"):
            raise ProbeError(f"expected a pop3:// or pop3s:// URL, got {url!r}")
        if parts.password is not None:
            raise ProbeError(
                f"the URL holds a password: give it in ${PASSWORD_VARIABLE} or at the prompt "
                "instead (a command line is visible to every user of the machine)"
            )
        if not user and (parts.username or parts.path not in ("", "/")):
            raise ProbeError(f"expected pop3://HOST[:PORT] (no user, no path), got {url!r}")
        if (user and not parts.username) or not parts.hostname:
            shown = "USER@HOST" if user else "HOST"
            raise ProbeError(f"expected pop3://{shown}[:PORT], got {url!r}")
        if stls and parts.scheme == "pop3s":
            raise ProbeError("--stls upgrades a pop3:// connection; pop3s:// is TLS already")
        try:
            port = parts.port or (995 if parts.scheme == "pop3s" else 110)
        except ValueError:
            raise ProbeError(f"invalid port in {url!r}") from None
        tls = "implicit" if parts.scheme == "pop3s" else "stls" if stls else "none"
        return cls(parts.hostname, port, urllib.parse.unquote(parts.username or ""), tls)


@attrs.define
class _Reply:
    line: bytes
    body: list[bytes] | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.line.startswith(b"+OK")

    @property
    def text(self) -> str:
        """The text after the status indicator, response code included."""
        return self.line.decode("utf-8", "replace").partition(" ")[2]

    @property
    def code(self) -> str | None:
        match = re.match(r"\[([^\]]*)\]", self.text)
        return match.group(1) if match else None

    @property
    def bare_text(self) -> str:
        """The text without a leading response code."""
        return re.sub(r"^\[[^\]]*\] ?", "", self.text)


def _describe(data: bytes) -> str:
    shown = data[:60].decode("ascii", "backslashreplace")
    return repr(shown)


class _Connection:
    """One connection: send a command, read its reply (a deadline on every read)."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext | None) -> None:
        self.target = target
        self.timeout = timeout
        self.context = context
        self.buffer = b""
        where = f"{target.host}:{target.port}"
        try:
            self.sock = socket.create_connection((target.host, target.port), timeout=timeout)
        except ConnectionRefusedError:
            raise ProbeError(f"connection refused by {where}: nothing listens there") from None
        except TimeoutError:
            raise ProbeError(f"no connection to {where} within {timeout:g} s") from None
        except OSError as exc:
            raise ProbeError(f"cannot connect to {where}: {exc.strerror or exc}") from None
        if target.tls == "implicit":
            self._start_tls("the TLS handshake (pop3s://)")

    def _start_tls(self, what: str) -> None:
        assert self.context is not None
        import ssl

        try:
            self.sock = self.context.wrap_socket(self.sock, server_hostname=self.target.host)
        except ssl.SSLCertVerificationError as exc:
            self.sock.close()
            raise ProbeError(
                f"{what} failed: the certificate is not trusted ({exc.verify_message}): give "
                "--cafile or --insecure"
            ) from None
        except ssl.SSLError as exc:
            self.sock.close()
            hint = ""
            if exc.reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
                hint = ": the server does not speak TLS there (try pop3:// or --stls)"
            raise ProbeError(f"{what} failed ({exc.reason or exc}){hint}") from None
        except TimeoutError:
            self.sock.close()
            raise ProbeError(f"{what} got no answer within {self.timeout:g} s") from None
        except OSError as exc:
            self.sock.close()
            raise ProbeError(f"{what} failed: {exc.strerror or exc}") from None

    def start_tls(self) -> None:
        self._start_tls("the TLS handshake after STLS")

    def close(self) -> None:
        self.sock.close()

    def send(self, line: str) -> None:
        self.send_raw(line.encode("utf-8") + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _Closed(f"the server closed the connection ({exc.strerror or exc})") from None

    def _fill(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProbeError(self._silence(what))
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise ProbeError(self._silence(what)) from None
        except OSError as exc:
            raise _Closed(
                f"the connection broke while waiting for {what}: {exc.strerror or exc}"
            ) from None
        if not chunk:
            if self.buffer:
                raise _Closed(
                    f"the server closed the connection in {what}, after {_describe(self.buffer)}"
                )
            raise _Closed(f"the server closed the connection instead of sending {what}")
        self.buffer += chunk

    def _silence(self, what: str) -> str:
        if self.buffer:
            return f"{what} did not end within {self.timeout:g} s: got {_describe(self.buffer)}"
        return f"no {what} within {self.timeout:g} s"

    def line(self, what: str, deadline: float | None = None) -> bytes:
        return self.raw_line(what, deadline)[:-1].rstrip(b"\r")

    def raw_line(self, what: str, deadline: float | None = None, limit: int = _MAX_LINE) -> bytes:
        """The next line as received, its line end included."""
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout
        while b"\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise ProbeError(f"not POP3: a line of more than {limit} octets in {what}")
            self._fill(deadline, what)
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def reply(self, what: str, multiline: bool) -> _Reply:
        start = time.monotonic()
        deadline = start + self.timeout
        first = self.line(what, deadline)
        seconds = time.monotonic() - start
        if not first.startswith((b"+OK", b"-ERR")):
            raise ProbeError(f"not POP3: {what} was {_describe(first)}")
        if not (multiline and first.startswith(b"+OK")):
            return _Reply(first, None, seconds)
        body: list[bytes] = []
        size = 0
        while True:
            line = self.line(what, deadline)
            if line == b".":
                return _Reply(first, body, seconds)
            size += len(line)
            if size > _MAX_BODY:
                raise ProbeError(f"{what} is longer than {_MAX_BODY} octets")
            body.append(line[1:] if line.startswith(b".") else line)


def _greeting(conn: _Connection) -> _Reply:
    """The greeting; a server that says nothing for half the timeout is sent a line, so
    that what it is shows (an HTTP or TLS server answers one; a hung one does not)."""
    start = time.monotonic()
    half = start + conn.timeout / 2
    hint = " (a TLS server does so: try pop3s://)" if conn.target.tls == "none" else ""
    try:
        first = conn.line("the greeting", half)
    except _Closed:
        raise
    except ProbeError:
        if conn.buffer:
            raise
        conn.send("CAPA")
        try:
            first = conn.line("the greeting", start + conn.timeout)
        except _Closed:
            if conn.buffer:
                raise ProbeError(
                    f"not POP3: to a line it answered {_describe(conn.buffer)} and closed"
                ) from None
            raise ProbeError(
                "no greeting: the server accepted the connection, said nothing, and closed "
                f"it when sent a line{hint}"
            ) from None
        except ProbeError:
            if conn.buffer:
                raise ProbeError(
                    f"not POP3: to a line it answered {_describe(conn.buffer)}"
                ) from None
            raise ProbeError(
                f"no greeting within {conn.timeout:g} s: the server accepted the connection "
                "and said nothing, even to a line"
            ) from None
        if first.startswith(b"+OK"):
            # Only slow: the greeting came, and the answer to the line sent follows it.
            conn.reply("the reply to CAPA", multiline=True)
            return _Reply(first, None, time.monotonic() - start)
        raise ProbeError(_not_pop3(first, "to a line (no greeting first)")) from None
    if not first.startswith(b"+OK"):
        raise ProbeError(_not_pop3(first, "as its greeting"))
    return _Reply(first, None, time.monotonic() - start)


def _not_pop3(first: bytes, how: str) -> str:
    if first.startswith(b"HTTP/") or first.lstrip().lower().startswith((b"<!doctype", b"<html")):
        return f"not POP3: an HTTP server (it answered {_describe(first)} {how})"
    if first[:1] == b"\x15" or first[:1] == b"\x16":
        return f"not POP3: a TLS server (it answered with a TLS record {how}); try pop3s://"
    if first.startswith(b"-ERR"):
        return f"the server refused the connection: {_describe(first)}"
    return f"not POP3: it sent {_describe(first)} {how}"
