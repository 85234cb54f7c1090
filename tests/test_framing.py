from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pop3mock.protocol._framing import Line, LineReader


def lines_of(reader: LineReader) -> list[Line]:
    out = []
    while (line := reader.next_line()) is not None:
        out.append(line)
    return out


def test_line_endings() -> None:
    reader = LineReader()
    reader.feed(b"USER a\r\nPASS b\nNOOP\rSTAT\r")
    assert lines_of(reader) == [
        Line(b"USER a", b"\r\n"),
        Line(b"PASS b", b"\n"),
        Line(b"NOOP", b"\r"),
    ]
    # A CR at the end might be half of a CRLF: wait for the next byte.
    reader.feed(b"\nQUIT\r\n")
    assert lines_of(reader) == [Line(b"STAT", b"\r\n"), Line(b"QUIT", b"\r\n")]


def test_over_long_line_is_cut_and_rest_dropped() -> None:
    reader = LineReader(max_line=10)
    reader.feed(b"x" * 25)
    assert lines_of(reader) == [Line(b"x" * 10, b"", truncated=True)]
    assert reader.buffered == 0
    reader.feed(b"y" * 1000)
    assert lines_of(reader) == []
    assert reader.buffered == 0  # memory stays bounded
    reader.feed(b"yy\r\nNOOP\r\n")
    assert lines_of(reader) == [Line(b"NOOP", b"\r\n")]


def test_clear_drops_pending_bytes() -> None:
    reader = LineReader()
    reader.feed(b"STLS\r\nCAPA\r\n")
    assert reader.next_line() == Line(b"STLS", b"\r\n")
    assert reader.clear() == b"CAPA\r\n"
    assert reader.next_line() is None


@pytest.mark.slow
@given(
    st.lists(
        st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b), max_size=10
    ),
    st.lists(st.integers(min_value=1, max_value=50), max_size=20),
)
def test_crlf_lines_survive_any_packet_split(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\r\n" for line in lines)
    reader = LineReader(max_line=100)
    got: list[bytes] = []
    pos = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[pos : pos + cut])
        pos += cut
        got.extend(line.data for line in lines_of(reader))
        if pos >= len(stream):
            break
    reader.feed(stream[pos:])
    got.extend(line.data for line in lines_of(reader))
    assert got == lines


@pytest.mark.slow
@given(st.binary(max_size=3000))
def test_reader_never_buffers_more_than_its_limit(data: bytes) -> None:
    reader = LineReader(max_line=64)
    for i in range(0, len(data), 97):
        reader.feed(data[i : i + 97])
        for line in lines_of(reader):
            assert len(line.data) <= 64
        assert reader.buffered <= 64 + 97
