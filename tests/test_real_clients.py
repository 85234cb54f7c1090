"""fetchmail, mpop, getmail and Perl's Net::POP3 (Debian's packages) against pop3mock, as
users run them.

Each client is driven as a subprocess against an in-process server; the journal shows what
it sent and the mailbox shows what it deleted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pop3mock import POP3Server, fake_messages
from pop3mock.server import tls

PASSWORD = "s3cret-pw"


def client(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (sh scripts/install-test-clients.sh installs it)")
    return path


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # HOME points into the test folder so no user configuration or state is read.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LC_ALL": "C"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


pytestmark = [
    pytest.mark.slow,  # real external clients
    pytest.mark.server(
        {"alice": PASSWORD}, maildrops={"alice": list(fake_messages(6, seed=3))}, stls=True
    ),
]


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)  # fetchmail and mpop refuse readable password files
    return path


def deliver_script(tmp_path: Path) -> Path:
    """An MDA: each message it reads on stdin becomes one file in tmp_path/delivered."""
    sink = tmp_path / "delivered"
    sink.mkdir(exist_ok=True)
    script = tmp_path / "deliver.sh"
    script.write_text(f'#!/bin/sh\ncat > "$(mktemp -p {sink})"\n')
    script.chmod(0o755)
    return script


def fetchmailrc(tmp_path: Path, server: POP3Server, user_options: str, auth: str = "any") -> Path:
    mda = deliver_script(tmp_path)
    return private(
        tmp_path / "fetchmailrc",
        f"poll localhost service {server.port} protocol pop3 auth {auth} "
        f'user "alice" password "{PASSWORD}" mda "{mda}" {user_options}\n',
    )


def fetchmail(tmp_path: Path, rc: Path) -> subprocess.CompletedProcess[str]:
    return run(
        client("fetchmail"), "-f", str(rc), "--nodetach", "--nosyslog", "-v",
        "--idfile", str(tmp_path / "fetchids"), cwd=tmp_path,
    )  # fmt: skip


def test_fetchmail_password_auth_keep_without_tls(server: POP3Server, tmp_path: Path) -> None:
    rc = fetchmailrc(tmp_path, server, "keep sslproto ''", auth="password")
    result = fetchmail(tmp_path, rc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list((tmp_path / "delivered").iterdir())) == 6
    assert "not the expected length" not in result.stdout + result.stderr
    server.journal.assert_commands(["USER alice", "PASS", "STAT", "LAST"])
    server.journal.assert_command("DELE", count=0)
    assert len(server.mailbox("alice")) == 6
    # A second poll finds nothing new: LAST says every message was seen.
    again = fetchmail(tmp_path, rc)
    assert again.returncode == 1, again.stdout + again.stderr  # 1: no new mail
    assert server.journal.count("RETR") + server.journal.count("TOP") == 6


def test_fetchmail_stls_cram_md5_and_delete(server: POP3Server, tmp_path: Path) -> None:
    rc = fetchmailrc(tmp_path, server, f"sslcertfile {tls.ca_file()} sslcertck")
    result = fetchmail(tmp_path, rc)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = server.journal
    journal.assert_commands(["CAPA", "STLS", "CAPA", "AUTH CRAM-MD5"])
    journal.assert_command("TOP", count=6)
    journal.assert_command("DELE", count=6)
    assert server.mailbox("alice").messages == ()
    assert journal.sessions[0].tls


@pytest.mark.parametrize(
    ("reply", "status"), [("[IN-USE] mailbox busy", 9), ("[AUTH] bad password", 3)]
)
def test_fetchmail_reads_response_codes(
    server: POP3Server, tmp_path: Path, reply: str, status: int
) -> None:
    server.faults.on("PASS").error(reply)
    rc = fetchmailrc(tmp_path, server, "keep sslproto ''", auth="password")
    result = fetchmail(tmp_path, rc)
    assert result.returncode == status, result.stdout + result.stderr  # 9 LOCKBUSY, 3 AUTHFAIL


@pytest.mark.parametrize(
    ("options", "verb"), [("sslproto ''", "TOP"), ("keep sslproto ''", "RETR")]
)
def test_fetchmail_meets_one_rule_on_retr_and_top(
    server: POP3Server, tmp_path: Path, options: str, verb: str
) -> None:
    # fetchmail downloads with TOP n 99999999 unless keep (or fetchall) is set, then RETR:
    # one rule on both commands fires either way.
    uids = server.mailbox("alice").uids
    rule = server.faults.add_spec("RETR|TOP 3: error [SYS/TEMP] busy")
    rc = fetchmailrc(tmp_path, server, options, auth="password")
    result = fetchmail(tmp_path, rc)
    assert result.returncode == 0, result.stdout + result.stderr
    journal = server.journal
    downloads = journal.find(verb)
    assert [c.args[0] for c in downloads] == ["1", "2", "3", "4", "5", "6"]
    if verb == "TOP":
        assert {c.args[1] for c in downloads} == {"99999999"}
    assert journal.count("TOP" if verb == "RETR" else "RETR") == 0
    assert [c.line for c in journal.commands if c.fault] == [downloads[2].line]
    assert downloads[2].fault == "RETR|TOP 3 -> error [SYS/TEMP] busy"
    assert server.faults.fired(rule) == 1
    assert len(list((tmp_path / "delivered").iterdir())) == 5
    # Without keep, every message but the one that failed is deleted.
    left = server.mailbox("alice").uids
    assert left == (uids if verb == "RETR" else uids[2:3])


def mpoprc(tmp_path: Path, server: POP3Server, keep: str) -> Path:
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    return private(
        tmp_path / "mpoprc",
        "\n".join(
            [
                "account test",
                "host localhost",
                f"port {server.port}",
                "user alice",
                f"password {PASSWORD}",
                "tls on",
                "tls_starttls on",
                f"tls_trust_file {tls.ca_file()}",
                f"delivery maildir {maildir}",
                f"uidls_file {tmp_path / 'uidls'}",
                "received_header off",
                f"keep {keep}",
                "",
            ]
        ),
    )


def test_mpop_stls_pipelining_keep_then_delete(server: POP3Server, tmp_path: Path) -> None:
    mpop = client("mpop")
    result = run(mpop, "-C", str(mpoprc(tmp_path, server, "on")), "test", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    delivered = list((tmp_path / "Maildir" / "new").iterdir())
    assert len(delivered) == 6
    journal = server.journal
    journal.assert_commands(["CAPA", "STLS", "CAPA"])
    journal.assert_command("UIDL")
    journal.assert_command("RETR", count=6)
    # mpop pipelines the RETRs after the first: their replies came back in order, intact.
    bodies = sorted(path.read_bytes() for path in delivered)
    expected = sorted(m.data.replace(b"\r\n", b"\n") for m in server.mailbox("alice").messages)
    assert bodies == expected
    # Second run, keep off: nothing new to fetch, but every message is deleted.
    result = run(mpop, "-C", str(mpoprc(tmp_path, server, "off")), "test", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert server.mailbox("alice").messages == ()
    assert journal.count("RETR") == 6


def test_getmail_uidl_retrieval_and_delete(server: POP3Server, tmp_path: Path) -> None:
    sink = tmp_path / "delivered"
    (tmp_path / "gm").mkdir()
    (tmp_path / "gm" / "getmailrc").write_text(
        "\n".join(
            [
                "[retriever]",
                "type = SimplePOP3Retriever",
                "server = 127.0.0.1",
                f"port = {server.port}",
                "username = alice",
                f"password = {PASSWORD}",
                "[destination]",
                "type = MDA_external",
                f"path = {deliver_script(tmp_path)}",
                "allow_root_commands = true",
                "[options]",
                "read_all = false",
                "delete = true",
                "",
            ]
        )
    )
    getmail = client("getmail")
    result = run(getmail, "--getmaildir", str(tmp_path / "gm"), "--rcfile", "getmailrc",
                 cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(sink.iterdir())) == 6
    server.journal.assert_commands(["USER alice", "PASS", "UIDL", "LIST"])
    server.journal.assert_command("RETR", count=6)
    assert server.mailbox("alice").messages == ()


# -- Perl's Net::POP3 -----------------------------------------------------------------------

NET_POP3 = Path(__file__).parent / "clients" / "net_pop3.pl"


def net_pop3(server: POP3Server, login: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(
        client("perl"), str(NET_POP3), server.host, str(server.port), "alice", PASSWORD, login,
        str(tls.ca_file()), cwd=cwd,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("login", "commands"),
    [
        ("user", ["USER", "PASS"]),
        ("apop", ["APOP"]),
        ("sasl:CRAM-MD5", ["CAPA", "AUTH", ""]),  # CAPA for the SASL list; "": the response
        ("sasl:PLAIN", ["CAPA", "AUTH"]),
        ("starttls", ["STLS", "USER", "PASS"]),
    ],
)
def test_perl_net_pop3_lists_fetches_and_deletes(
    server: POP3Server, tmp_path: Path, login: str, commands: list[str]
) -> None:
    before = server.mailbox("alice").messages
    result = net_pop3(server, login, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "done"
    assert f"count {len(before)}" in lines
    capa = next(line for line in lines if line.startswith("capa ")).split()[1].split(",")
    assert {"TOP", "UIDL", "RESP-CODES", "PIPELINING"} <= set(capa)
    assert [line for line in lines if line.startswith("message ")] == [
        f"message {n} {m.size} {m.uid}" for n, m in enumerate(before, 1)
    ]
    # Net::POP3 hands back the body with dots unstuffed, and CRLF turned into LF except
    # inside TLS, where it keeps the CRLF.
    for n, message in enumerate(before, 1):
        got = (tmp_path / f"msg.{n}").read_bytes().replace(b"\r\n", b"\n")
        assert got == message.data.replace(b"\r\n", b"\n")
    # The client exits on the QUIT reply; the server records the session's end just after.
    server.journal.wait_for(sessions_ended=1)
    session = server.journal.sessions[0]
    assert [c.verb for c in session.commands][: len(commands)] == commands
    assert session.commands[len(commands) - 1].ok  # logged in
    assert session.end_reason == "quit" and session.violations == []
    assert server.mailbox("alice").messages == before[1:]
    assert server.mailbox("alice").deleted == before[:1]


def test_perl_net_pop3_wrong_password_is_refused(server: POP3Server, tmp_path: Path) -> None:
    result = run(
        client("perl"), str(NET_POP3), server.host, str(server.port), "alice", "wrong", "user",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    assert "login failed" in result.stderr and "[AUTH]" in result.stderr
    assert len(server.mailbox("alice")) == 6 and not server.mailbox("alice").locked
