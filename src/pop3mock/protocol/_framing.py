"""Sans-IO line framing: bytes from the socket in, command lines out.

Memory stays bounded whatever a client sends: a line longer than `max_line` is cut there,
reported as truncated, and the rest of it is dropped until its line end.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

__all__ = ["Line", "LineReader"]


class Line(NamedTuple):
    """One line from the client: its content, how it ended, and whether it was cut."""

    # A NamedTuple, not an attrs class: one is made per command line, and a tuple is
    # built three times faster (immutable all the same).
    data: bytes
    ending: bytes
    truncated: bool = False


# A usual line made by tuple.__new__ itself: the NamedTuple's own __new__ is Python code.
_crlf_line = functools.partial(tuple.__new__, Line)


class LineReader:
    """Split a byte stream into lines ending in CRLF, bare LF or bare CR."""

    def __init__(self, max_line: int = 65536) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as a line."""
        return len(self._buf)

    def clear(self) -> bytes:
        """Drop everything buffered (STLS: plaintext sent before the handshake is never run)."""
        data = bytes(self._buf)
        self._buf.clear()
        self._discarding = False
        return data

    def next_line(self) -> Line | None:
        """The next complete line, or None until more data arrives."""
        buf = self._buf
        if not buf:
            return None  # asked once after each reply, before the next read
        limit = self.max_line
        if not self._discarding:
            # The usual line: CRLF-terminated, no CR before it, within the limit.
            lf = buf.find(b"\n", 0, limit + 2)
            if 0 < lf <= limit + 1 and buf[lf - 1] == 0x0D and buf.find(b"\r", 0, lf - 1) < 0:
                data = bytes(buf[: lf - 1])
                del buf[: lf + 1]
                line: Line = _crlf_line((data, b"\r\n", False))
                return line
        while True:
            if self._discarding and not self._skip_rest():
                return None
            bound = min(len(buf), limit + 2)
            lf = buf.find(b"\n", 0, bound)
            cr = buf.find(b"\r", 0, bound)
            eol = cr if lf < 0 or 0 <= cr < lf else lf
            if eol < 0 or eol > limit:
                if eol < 0 and len(buf) <= limit:
                    return None
                self._discarding = True
                data = bytes(buf[:limit])
                del buf[:limit]
                return Line(data, b"", truncated=True)
            if buf[eol] == 0x0A:
                ending = b"\n"
            elif eol + 1 == len(buf):
                return None  # a CR at the end may be the first half of CRLF
            elif buf[eol + 1] == 0x0A:
                ending = b"\r\n"
            else:
                ending = b"\r"
            data = bytes(buf[:eol])
            del buf[: eol + len(ending)]
            return Line(data, ending)

    def end_of_stream(self) -> Line | None:
        """The client closed its side (call once `next_line` returned None): a bare CR that
        ended the stream ends a line, since no LF can follow it any more."""
        buf = self._buf
        if self._discarding or not buf or buf.find(b"\r") != len(buf) - 1 or b"\n" in buf:
            return None
        data = bytes(buf[:-1])
        buf.clear()
        return Line(data, b"\r")

    def _skip_rest(self) -> bool:
        """Drop the rest of an over-long line; True once its line end has been passed."""
        buf = self._buf
        lf = buf.find(b"\n")
        cr = buf.find(b"\r")
        eol = cr if lf < 0 or 0 <= cr < lf else lf
        if eol < 0 or (buf[eol] == 0x0D and eol + 1 == len(buf)):
            del buf[: eol if eol >= 0 else len(buf)]
            return False
        if buf[eol] == 0x0D and buf[eol + 1] == 0x0A:
            eol += 1
        del buf[: eol + 1]
        self._discarding = False
        return True
