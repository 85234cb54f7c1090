"""The server quirks of docs/quirks.md, each produced by pop3mock and met by a real client
(poplib, curl, fetchmail): what the client does with it."""

from __future__ import annotations

import poplib
from pathlib import Path

import pytest

from helpers import curl
from pop3mock import POP3Server
from test_real_clients import PASSWORD, fetchmail, fetchmailrc

MESSAGES = [
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nfirst line\r\nsecond line\r\n",
    b"Subject: two\r\n\r\nbody\r\n",
]


def serve(**options: object) -> POP3Server:
    server = POP3Server(**options)  # type: ignore[arg-type]
    server.add_user("alice", PASSWORD, MESSAGES)
    return server


def logged_in(server: POP3Server, timeout: float = 10) -> poplib.POP3:
    client = poplib.POP3(server.host, server.port, timeout=timeout)
    client.user("alice")
    client.pass_(PASSWORD)
    return client


# -- LIST and UIDL status lines with other texts ----------------------------------------------


@pytest.mark.parametrize(
    ("texts", "status"),
    [
        ({"list": "{count} Messages", "uidl": ""}, b"+OK 2 Messages"),
        ({"list": "", "uidl": ""}, b"+OK"),
    ],
)
def test_list_status_line_texts(texts: dict[str, str], status: bytes) -> None:
    with serve(texts=texts) as server:
        client = logged_in(server)
        reply, lines, _ = client.list()
        assert reply == status  # poplib hands the status line over as it came
        assert lines == [b"1 62", b"2 22"]
        assert client.uidl()[0] == b"+OK"
        client.quit()
        result = curl(server.url, "-u", f"alice:{PASSWORD}")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"1 62\r\n2 22\r\n"  # curl prints the body only


# -- the ".\r" terminator ---------------------------------------------------------------------


@pytest.mark.slow
def test_cr_terminator_poplib_waits_curl_times_out() -> None:
    with serve() as server:
        server.faults.on("LIST").corrupt("cr_terminator")
        client = logged_in(server, timeout=0.5)
        # poplib reads lines up to LF: ".\r" never ends one, so LIST waits for its timeout.
        with pytest.raises(TimeoutError):
            client.list()
        client.close()
        result = curl(server.url, "-u", f"alice:{PASSWORD}", "--max-time", "1")
        assert result.returncode == 28  # curl waits for CRLF.CRLF until --max-time
        assert server.journal.count("LIST") == 2


def test_cr_terminator_then_close_poplib_takes_it_for_the_end() -> None:
    with serve() as server:
        server.faults.on("LIST").corrupt("cr_terminator", then="close")
        client = logged_in(server)
        # At EOF poplib drops the last octet of an unfinished line: ".\r" reads as ".".
        assert client.list()[1] == [b"1 62", b"2 22"]
        client.close()
        result = curl(server.url, "-u", f"alice:{PASSWORD}")
        # curl takes the end of the connection for the end of the listing, and the CRLF
        # before the "." for the terminator's: the last line loses its line end.
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"1 62\r\n2 22"


# -- TOP that ignores its line count ----------------------------------------------------------


def test_top_that_ignores_its_line_count() -> None:
    with serve(top_ignores_lines=True) as server:
        client = logged_in(server)
        _, lines, _ = client.top(1, 0)
        assert lines[-2:] == [b"first line", b"second line"]  # the body, not 0 lines of it
        client.quit()
        result = curl(f"{server.url}/", "-u", f"alice:{PASSWORD}", "-X", "TOP 1 0")
        assert result.returncode == 0, result.stderr
        assert result.stdout == MESSAGES[0]


# -- CAPA different before and after login ----------------------------------------------------


def test_capa_different_before_and_after_login() -> None:
    # UIDL offered only once logged in: a client that reads CAPA before login and keeps it
    # believes the server has no UIDL.
    with serve(
        capabilities=["CAPA", "TOP", "USER", "UIDL"],
        capa_order=["CAPA", "TOP", "USER"],
        capa_after_login=["CAPA", "TOP", "UIDL"],
    ) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert list(client.capa()) == ["CAPA", "TOP", "USER"]
        client.user("alice")
        client.pass_(PASSWORD)
        assert list(client.capa()) == ["CAPA", "TOP", "UIDL"]
        assert len(client.uidl()[1]) == 2
        client.quit()


def test_capa_after_login_from_a_personality_file(tmp_path: Path) -> None:
    path = tmp_path / "late-uidl.toml"
    path.write_text(
        '[capabilities]\nbefore_login = ["CAPA", "TOP", "USER"]\n'
        'after_login = ["CAPA", "TOP", "UIDL"]\n',
        encoding="utf-8",
    )
    with serve(personality=path) as server:
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert list(client.capa()) == ["CAPA", "TOP", "USER"]
        client.user("alice")
        client.pass_(PASSWORD)
        assert list(client.capa()) == ["CAPA", "TOP", "UIDL"]
        client.quit()


# -- a greeting without a timestamp that still advertises APOP ---------------------------------


def test_greeting_without_timestamp_but_apop(tmp_path: Path) -> None:
    with serve(apop=True) as server:
        server.faults.on("greeting").corrupt("no_timestamp")
        client = poplib.POP3(server.host, server.port, timeout=10)
        assert b"<" not in client.getwelcome()
        with pytest.raises(poplib.error_proto, match="APOP not supported by server"):
            client.apop("alice", PASSWORD)
        client.quit()
        rc = fetchmailrc(tmp_path, server, "keep sslproto ''", auth="password")
        rc.write_text(rc.read_text().replace("protocol pop3 auth password", "protocol apop"))
        result = fetchmail(tmp_path, rc)
        assert result.returncode != 0
        assert "Required APOP timestamp not found in greeting" in result.stdout + result.stderr


# -- -ERR texts without response codes where codes are advertised -----------------------------


@pytest.mark.parametrize(("codes", "status"), [(None, 9), ([], 3)])
def test_err_without_response_codes(tmp_path: Path, codes: list[str] | None, status: int) -> None:
    # Another session holds the maildrop. With [IN-USE] fetchmail knows the mailbox is
    # busy (exit 9); without the code it takes the refusal for a wrong password (exit 3).
    texts = {"in_use": "Mailbox busy."}
    with serve(response_codes=codes, texts=texts) as server:
        holder = logged_in(server)
        rc = fetchmailrc(tmp_path, server, "keep sslproto ''", auth="password")
        result = fetchmail(tmp_path, rc)
        holder.quit()
        assert result.returncode == status, result.stdout + result.stderr
        assert "RESP-CODES" in server.config.capabilities
        client = poplib.POP3(server.host, server.port, timeout=10)
        client.user("alice")
        with pytest.raises(poplib.error_proto) as caught:
            client.pass_("wrong")
        code = b"" if codes == [] else b"[AUTH] "
        assert caught.value.args[0] == b"-ERR " + code + b"Authentication failed."
        client.quit()
