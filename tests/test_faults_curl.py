"""Faults seen by curl, a POP3 client written in C: its exit codes and output."""

from __future__ import annotations

import subprocess

import pytest

from helpers import curl as run_curl
from pop3mock import POP3Server

PLAIN = b"Subject: plain\r\n\r\n" + b"".join(b"body line %d\r\n" % i for i in range(30))
# curl exit codes (libcurl-errors(3))
COULDNT_CONNECT = 7
WEIRD_SERVER_REPLY = 8
PARTIAL_FILE = 18
OPERATION_TIMEDOUT = 28
RECV_ERROR = 56
#: curl's --max-time for tests whose expected outcome IS curl's timeout.
SHORT = "1"


def curl(server: POP3Server, path: str = "/1", *options: str) -> subprocess.CompletedProcess[bytes]:
    return run_curl("--user", "alice:pw", *options, f"{server.url}{path}")


pytestmark = pytest.mark.server(
    {"alice": "pw"}, maildrops={"alice": [PLAIN, b"Subject: two\r\n\r\nsecond\r\n"]}, fault_seed=7
)


def test_sys_temp_on_the_second_retr(server: POP3Server) -> None:
    """Each curl run is a session; the second RETR of the server fails, the third works."""
    server.faults.add_spec("RETR #2: error [SYS/TEMP] storage offline")
    results = [curl(server) for _ in range(3)]
    assert [r.returncode for r in results] == [0, WEIRD_SERVER_REPLY, 0]
    assert results[0].stdout == results[2].stdout == PLAIN


def test_err_greeting(server: POP3Server) -> None:
    """An -ERR greeting is a weird server reply to curl."""
    server.faults.on("greeting").error("[SYS/TEMP] maintenance", then="close")
    assert curl(server).returncode == WEIRD_SERVER_REPLY


def test_reset_on_connect(server: POP3Server) -> None:
    """An RST right after accept: a receive error, or a failed connect when the RST reaches
    curl before it has checked its non-blocking connect."""
    server.faults.on("connect").reset()
    result = curl(server)
    assert result.returncode in (RECV_ERROR, COULDNT_CONNECT), result.stderr
    assert result.stdout == b""


def test_reset_mid_retr(server: POP3Server) -> None:
    """An RST in the middle of the message: a receive error, nothing lost on the server."""
    server.faults.on("RETR").once().reset(after_lines=4)
    assert curl(server).returncode == RECV_ERROR
    assert curl(server).stdout == PLAIN


def test_close_before_the_reply(server: POP3Server) -> None:
    """The connection closes instead of answering RETR: a receive error."""
    server.faults.on("RETR").disconnect()
    assert curl(server).returncode == RECV_ERROR


def test_truncated_retr_is_not_noticed_by_curl(server: POP3Server) -> None:
    """The reply cut after 5 lines (status and 4 message lines), then closed: curl prints what
    it got, less the last CRLF (held back as the possible start of the terminator), and
    curl 7.88 exits 0: without a size check a cut looks like an end."""
    server.faults.on("RETR").once().disconnect(after_lines=5)
    result = curl(server)
    part = b"".join(line + b"\r\n" for line in PLAIN.split(b"\r\n")[:4])
    assert result.stdout in (part, part[:-2])
    assert result.returncode in (0, PARTIAL_FILE)  # 18, should a later curl notice the cut
    assert curl(server).stdout == PLAIN


def test_dribbled_message_is_whole(server: POP3Server) -> None:
    """Three octets per write: curl reassembles the message and the terminator."""
    server.faults.on("RETR").dribble(3)
    result = curl(server)
    assert (result.returncode, result.stdout) == (0, PLAIN)


@pytest.mark.slow
def test_wrong_sizes_in_list(server: POP3Server) -> None:
    """curl prints LIST as it comes: the sizes are off by the rule's delta."""
    server.faults.on("LIST").corrupt("size", delta=100)
    result = curl(server, "/")
    sizes = [m.size + 100 for m in server.mailbox("alice").messages]
    assert result.returncode == 0
    assert result.stdout == b"".join(b"%d %d\r\n" % (i, s) for i, s in enumerate(sizes, 1))


@pytest.mark.slow
def test_hang_times_curl_out(server: POP3Server) -> None:
    """No reply to RETR: curl gives up after --max-time (28), and its close ends the session,
    so the next curl logs in and gets the message."""
    server.faults.on("RETR").once().hang()
    result = curl(server, "/1", "--max-time", SHORT)
    assert (result.returncode, result.stdout) == (OPERATION_TIMEDOUT, b"")
    server.journal.wait_for(sessions_ended=1)
    assert server.journal.sessions[0].end_reason == "client closed"
    assert curl(server).stdout == PLAIN


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["no_terminator", "bare_lf"])
def test_reply_without_a_crlf_terminator_times_curl_out(server: POP3Server, kind: str) -> None:
    """No CRLF "." CRLF at the end (no final line, or LF line ends): curl waits for it until
    --max-time (28), the message it got printed up to there."""
    server.faults.on("RETR").once().corrupt(kind)
    result = curl(server, "/1", "--max-time", SHORT)
    assert result.returncode == OPERATION_TIMEDOUT, result.stderr
    assert [c.verb for c in server.journal.commands][-1] == "RETR"
    server.journal.wait_for(sessions_ended=1)  # curl's close has released the maildrop
    assert result.stdout.replace(b"\r\n", b"\n").startswith(b"Subject: plain\n\nbody line 0\n")
    assert curl(server).stdout == PLAIN


def test_long_line_is_printed_by_curl(server: POP3Server) -> None:
    """A body line longer than poplib's 2048-octet limit: curl prints it, then the message."""
    server.faults.on("RETR").corrupt("long_line", length=3000)
    result = curl(server)
    assert result.returncode == 0, result.stderr
    first, rest = result.stdout.split(b"\r\n", 1)
    assert len(first) == 3000
    assert rest == PLAIN
