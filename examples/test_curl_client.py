"""Testing a command-line mail client (curl) run as a subprocess against pop3mock."""

from __future__ import annotations

import shutil
import subprocess

import pytest

CURL = shutil.which("curl") or "/usr/bin/curl"
NOTE = b"From: ci@example.org\r\nSubject: build passed\r\n\r\nAll green.\r\n"
REPORT = b"From: ci@example.org\r\nSubject: report\r\n\r\n.hidden dot line\r\n"

pytestmark = pytest.mark.pop3(users={"ci": "t0ken"}, messages=[NOTE, REPORT], strict=True)


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", "20", "--user", "ci:t0ken", *args],
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_lists_the_mailbox(pop3_server):
    result = curl(f"{pop3_server.url}/")

    assert result.returncode == 0, result.stderr
    assert result.stdout == b"1 %d\r\n2 %d\r\n" % (len(NOTE), len(REPORT))
    pop3_server.journal.assert_command("LIST")


def test_downloads_a_message_byte_for_byte(pop3_server):
    result = curl(f"{pop3_server.url}/2")

    assert result.returncode == 0, result.stderr
    assert result.stdout == REPORT
    pop3_server.journal.assert_command_once("RETR", 2)


def test_deletes_a_message(pop3_server):
    result = curl(f"{pop3_server.url}/1", "--request", "DELE", "--head")

    assert result.returncode == 0, result.stderr
    pop3_server.journal.wait_for(sessions_ended=1)
    assert [m.data for m in pop3_server.mailbox("ci").messages] == [REPORT]


def test_reports_a_server_error(pop3_server):
    pop3_server.faults.on("RETR", 1).error("[SYS/TEMP] backend down")

    result = curl(f"{pop3_server.url}/1")

    assert result.returncode != 0
    assert b"Weird server reply" in result.stderr


@pytest.mark.pop3(tls="stls", require_tls=True)
def test_upgrades_with_stls_and_verifies_the_certificate(pop3_server, pop3_ca_file):
    result = curl(f"{pop3_server.url}/1", "--ssl-reqd", "--cacert", pop3_ca_file)

    assert result.returncode == 0, result.stderr
    assert result.stdout == NOTE
    assert pop3_server.journal.sessions[0].tls_after is not None


@pytest.mark.pop3(tls="implicit")
def test_pop3s(pop3_server, pop3_ca_file):
    url = f"pop3s://{pop3_server.host}:{pop3_server.tls_port}/1"

    assert curl(url, "--cacert", pop3_ca_file).stdout == NOTE
    assert curl(url).returncode != 0  # without the CA the certificate is refused
