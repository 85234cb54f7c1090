"""TLS: implicit TLS (POP3S), STLS, require_tls, and the throwaway CA, with real clients."""

from __future__ import annotations

import poplib
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MakeServer, connect, curl
from pop3mock import ConfigurationError, LazyMessage, POP3Server, ServerError
from pop3mock.protocol._config import ALL_CAPABILITIES
from pop3mock.server import tls

MESSAGE = b"Subject: tls\r\n\r\nover TLS\r\n"

CURLE_USE_SSL_FAILED = 64
CURLE_LOGIN_DENIED = 67
CURLE_PEER_FAILED_VERIFICATION = 60


pytestmark = pytest.mark.server(
    {"alice": "wonderland"}, maildrops={"alice": [MESSAGE]}, stls=True, implicit_tls=True
)


# -- implicit TLS (RFC 8314) ----------------------------------------------------------------


def test_poplib_pop3_ssl_greeting_capa_login(server: POP3Server) -> None:
    assert server.tls_port not in (None, server.port)
    client = poplib.POP3_SSL(server.host, server.tls_port, context=tls.client_context())
    assert client.getwelcome().startswith(b"+OK ")
    before = client.capa()
    assert "STLS" not in before and "USER" in before and "SASL" in before  # C-145
    client.user("alice")
    client.pass_("wonderland")
    assert "STLS" not in client.capa()
    _, lines, _ = client.retr(1)
    assert b"".join(line + b"\r\n" for line in lines) == MESSAGE
    client.quit()
    server.journal.wait_for(sessions_ended=1)
    session = server.journal.sessions[-1]
    assert session.tls
    assert session.end_reason == "quit"


def test_stls_on_the_implicit_port_is_refused(server: POP3Server) -> None:
    with connect(server, tls=True) as client:
        assert client.cmd("STLS") == b"-ERR TLS is already active.\r\n"  # C-145
        assert client.cmd("QUIT").startswith(b"+OK")


def test_curl_pop3s_with_the_ca_file(server: POP3Server) -> None:
    assert server.tls_url == f"pop3s://127.0.0.1:{server.tls_port}"
    result = curl(f"{server.tls_url}/1", "--cacert", tls.ca_file(), "-u", "alice:wonderland")
    assert result.returncode == 0, result.stderr
    assert result.stdout == MESSAGE
    assert server.journal.sessions[-1].tls


# -- STLS (RFC 2595) ------------------------------------------------------------------------


def test_poplib_stls_then_login(server: POP3Server) -> None:
    client = poplib.POP3(server.host, server.port, timeout=10)
    assert "STLS" in client.capa()  # C-122, C-142
    assert client.stls(tls.client_context()).startswith(b"+OK")
    after = client.capa()
    assert "STLS" not in after and "USER" in after  # C-141
    with pytest.raises(poplib.error_proto, match="TLS is already active"):
        client._shortcmd("STLS")  # C-138: poplib itself refuses a second stls()
    client.user("alice")
    client.pass_("wonderland")
    assert client.stat() == (1, len(MESSAGE))
    client.quit()
    server.journal.wait_for(sessions_ended=1)
    session = server.journal.sessions[-1]
    assert session.tls
    assert session.end_reason == "quit"


def test_curl_ssl_reqd_over_stls(server: POP3Server) -> None:
    result = curl(
        f"{server.url}/1", "--ssl-reqd", "--cacert", tls.ca_file(), "-u", "alice:wonderland"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == MESSAGE
    verbs = [c.verb for c in server.journal.commands]
    assert verbs[:3] == ["CAPA", "STLS", "CAPA"]  # curl asks CAPA again inside TLS
    assert server.journal.sessions[-1].tls


def test_curl_ssl_reqd_fails_when_stls_is_not_offered() -> None:
    with POP3Server(users={"alice": "wonderland"}) as server:
        result = curl(
            f"{server.url}/", "--ssl-reqd", "--cacert", tls.ca_file(), "-u", "alice:wonderland"
        )
        assert result.returncode == CURLE_USE_SSL_FAILED, result.stderr
        server.journal.assert_command("STLS", count=0)


def test_stls_reply_is_the_last_plaintext_byte(server: POP3Server) -> None:
    with connect(server) as client:
        assert client.cmd("STLS") == b"+OK Begin TLS negotiation now.\r\n"
        client.start_tls()  # C-137: handshake right after the CRLF
        assert "STLS" not in client.capa()
        assert client.cmd("STAT").startswith(b"-ERR")  # C-139: still AUTHORIZATION
        assert client.cmd("USER alice") == b"+OK Send PASS.\r\n"
        assert client.cmd("PASS wonderland").startswith(b"+OK")


def test_stls_after_login_is_refused(server: POP3Server) -> None:
    with connect(server) as client:
        client.cmd("USER alice")
        client.cmd("PASS wonderland")
        assert "STLS" not in client.capa()  # C-122
        assert client.cmd("STLS") == b"-ERR STLS is only allowed before login.\r\n"  # C-136
        assert client.cmd("STAT").startswith(b"+OK 1 ")


def test_plaintext_pipelined_after_stls_is_discarded(server: POP3Server) -> None:
    with connect(server) as client:
        client.send(b"STLS\r\nCAPA\r\n")  # one write: CAPA must never run inside TLS (C-140)
        assert client.line().startswith(b"+OK")
        client.start_tls()
        client.send(b"QUIT\r\n")
        assert client.read_all() == b"+OK Logging out.\r\n"
    server.journal.assert_command("CAPA", count=0)
    assert any("discarded" in v for v in server.journal.sessions[-1].violations)


def test_user_given_before_stls_is_forgotten(server: POP3Server) -> None:
    with connect(server) as client:
        client.cmd("USER alice")
        client.cmd("STLS")
        client.start_tls()
        assert client.cmd("PASS wonderland").startswith(b"-ERR")


@pytest.mark.server({"alice": "wonderland"})
def test_no_stls_without_a_certificate(server: POP3Server) -> None:
    with connect(server) as client:
        assert "STLS" not in client.capa()
        assert client.cmd("STLS") == b"-ERR STLS is not supported.\r\n"


@pytest.mark.parametrize("missing", ["CAPA", "STLS"])
def test_c142_stls_is_offered_only_with_capa_listing_it(missing: str) -> None:
    """C-142: a server offering STLS implements CAPA and lists STLS there; without either
    capability stls=True is refused when the server is made."""
    with pytest.raises(ConfigurationError, match=f"STLS is on but the capabilities lack {missing}"):
        POP3Server(stls=True, capabilities=ALL_CAPABILITIES - {missing})


# -- close_notify (RFC 8314 section 3.4) ------------------------------------------------------


def test_quit_ends_tls_with_close_notify(server: POP3Server) -> None:
    with connect(server, tls=True) as client:
        client.send(b"QUIT\r\n")
        # suppress_ragged_eofs=False: a close without close_notify raises SSLEOFError here.
        assert client.read_all().startswith(b"+OK")
    with connect(server) as client:
        client.cmd("STLS")
        client.start_tls()
        client.cmd("USER alice")
        client.cmd("PASS wonderland")
        client.send(b"QUIT\r\n")
        assert client.read_all().startswith(b"+OK")


@pytest.mark.slow
def test_autologout_ends_tls_with_close_notify() -> None:
    """C-146: the idle timeout closes TLS cleanly too (an SSLEOFError here otherwise)."""
    # 1 s: the TLS handshake's round trips must fit in it on a loaded machine.
    with POP3Server(users={"alice": "wonderland"}, implicit_tls=True, idle_timeout=1.0) as srv:
        with connect(srv, tls=True) as client:
            assert client.read_all() == b""
        srv.journal.wait_for(sessions_ended=1)
        assert srv.journal.sessions[0].end_reason == "idle timeout"


def test_a_server_failure_ends_tls_with_close_notify() -> None:
    """C-146: after -ERR [SYS/TEMP] for its own failure, the server closes TLS cleanly."""

    def broken() -> bytes:
        raise RuntimeError("storage is down")

    srv = POP3Server(users={"alice": "wonderland"}, implicit_tls=True)
    srv.mailbox("alice").add(LazyMessage("m1", 10, broken))
    with srv, connect(srv, tls=True) as client:
        client.cmd("USER alice")
        client.cmd("PASS wonderland")
        client.send(b"RETR 1\r\n")
        assert client.read_all() == b"-ERR [SYS/TEMP] Internal error.\r\n"
    with pytest.raises(ServerError, match="storage is down"):
        srv.check()


def test_a_disconnect_fault_over_tls_is_abrupt() -> None:
    """A disconnect fault imitates a lost link: no close_notify, the client sees a bad EOF."""
    with POP3Server(users={"alice": "wonderland"}, implicit_tls=True) as srv:
        srv.faults.on("NOOP").disconnect()
        with connect(srv, tls=True) as client:
            client.cmd("USER alice")
            client.cmd("PASS wonderland")
            client.send(b"NOOP\r\n")
            with pytest.raises(ssl.SSLEOFError):
                client.read_all()


# -- clients that do not trust the certificate ------------------------------------------------


def test_untrusting_client_on_implicit_port(server: POP3Server) -> None:
    untrusting = ssl.create_default_context()  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib.POP3_SSL(server.host, server.tls_port, context=untrusting, timeout=10)
    server.journal.wait_for(sessions_ended=1)
    reason = server.journal.sessions[0].end_reason
    assert reason is not None and reason.startswith("TLS handshake failed"), reason
    # The server keeps serving.
    client = poplib.POP3_SSL(server.host, server.tls_port, context=tls.client_context())
    client.user("alice")
    client.pass_("wonderland")
    client.quit()
    assert server.errors == []


def test_untrusting_curl_over_stls(server: POP3Server) -> None:
    result = curl(f"{server.url}/1", "--ssl-reqd", "-u", "alice:wonderland")
    assert result.returncode == CURLE_PEER_FAILED_VERIFICATION, result.stderr
    server.journal.wait_for(sessions_ended=1)
    reason = server.journal.sessions[0].end_reason
    assert reason is not None and reason.startswith("TLS handshake failed"), reason
    result = curl(
        f"{server.url}/1", "--ssl-reqd", "--cacert", tls.ca_file(), "-u", "alice:wonderland"
    )
    assert result.returncode == 0, result.stderr


# -- require_tls (RFC 2595 section 2.3, RFC 5034 section 4) ------------------------------------


@pytest.fixture
def strict_server(make_server: MakeServer) -> POP3Server:
    return make_server(
        {"alice": "wonderland"}, maildrops={"alice": [MESSAGE]}, stls=True, require_tls=True
    )


def test_require_tls_refuses_every_plaintext_login(strict_server: POP3Server) -> None:
    server = strict_server
    with connect(server) as client:
        before = client.capa()
        assert "STLS" in before
        assert "USER" not in before and not any(c.startswith("SASL") for c in before)  # C-166
        refused = b"-ERR [AUTH] Plaintext authentication is disabled: use STLS first.\r\n"
        assert client.cmd("USER alice") == refused  # C-143
        assert client.cmd("APOP alice 0123456789abcdef0123456789abcdef") == refused
        assert client.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=") == refused
        assert client.cmd("AUTH LOGIN") == refused
        assert client.cmd("AUTH CRAM-MD5") == refused
        assert client.cmd("STLS").startswith(b"+OK")
        client.start_tls()
        after = client.capa()
        assert "USER" in after and "SASL PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER" in after
        assert client.cmd("AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=").startswith(b"+OK")  # C-162


def test_require_tls_with_poplib(strict_server: POP3Server) -> None:
    client = poplib.POP3(strict_server.host, strict_server.port, timeout=10)
    with pytest.raises(poplib.error_proto, match="use STLS first"):
        client.user("alice")
    client.stls(tls.client_context())
    client.user("alice")
    client.pass_("wonderland")
    client.quit()


def test_require_tls_with_curl(strict_server: POP3Server) -> None:
    server = strict_server
    plain = curl(f"{server.url}/1", "-u", "alice:wonderland")
    assert plain.returncode == CURLE_LOGIN_DENIED, plain.stderr
    secure = curl(
        f"{server.url}/1", "--ssl-reqd", "--cacert", tls.ca_file(), "-u", "alice:wonderland"
    )
    assert secure.returncode == 0, secure.stderr
    assert secure.stdout == MESSAGE


def test_require_tls_on_the_implicit_port_only() -> None:
    with POP3Server(users={"alice": "wonderland"}, implicit_tls=True, require_tls=True) as server:
        client = poplib.POP3_SSL(server.host, server.tls_port, context=tls.client_context())
        client.user("alice")
        client.pass_("wonderland")
        client.quit()
        plain = poplib.POP3(server.host, server.port, timeout=10)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            plain.user("alice")
        plain.quit()


def test_require_tls_without_any_tls_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="require_tls"):
        POP3Server(require_tls=True)


def test_stls_needs_the_capability() -> None:
    with pytest.raises(ConfigurationError, match="STLS"):
        POP3Server(stls=True, capabilities={"USER", "CAPA"})
    with pytest.raises(ConfigurationError, match="CAPA"):
        POP3Server(stls=True, capabilities={"USER", "STLS"})


# -- the throwaway CA ---------------------------------------------------------------------------


def test_every_server_of_a_process_presents_the_same_certificate() -> None:
    # The CA (and the server certificate) is made once per process, never per server.
    seen = []
    for _ in range(2):
        with POP3Server(users={"alice": "wonderland"}, implicit_tls=True) as server:
            assert server.tls_port is not None
            raw = socket.create_connection((server.host, server.tls_port), timeout=10)
            with tls.client_context().wrap_socket(raw, server_hostname=server.host) as sock:
                seen.append(sock.getpeercert(binary_form=True))
    assert seen[0] is not None and seen[0] == seen[1]


@pytest.mark.slow
def test_without_the_tls_extra_a_tls_server_is_a_clear_configuration_error() -> None:
    # In its own process: trustme blocked as if `pip install 'pop3mock[tls]'` was not done.
    probe = (
        "import sys; sys.modules['trustme'] = None\n"
        "from pop3mock import ConfigurationError, POP3Server\n"
        "for options in ({'stls': True}, {'implicit_tls': True}, {'personality': 'gmail'}):\n"
        "    try:\n"
        "        POP3Server(**options)\n"
        "    except ConfigurationError as exc:\n"
        "        print(exc)\n"
        "print(POP3Server().implicit_tls)\n"  # a plain server does not need it
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert out == ["TLS needs the 'trustme' package: pip install 'pop3mock[tls]'"] * 3 + ["False"]


def test_ca_helpers(tmp_path: Path) -> None:
    path = Path(tls.ca_file())
    assert path.read_bytes() == tls.ca_pem()
    assert tls.ca_file() == str(path)  # made once per process
    files = tls.write_files(str(tmp_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files["cert"], files["key"])
    context = ssl.create_default_context(cafile=files["ca"])
    assert context.cert_store_stats()["x509_ca"] == 1
    assert tls.client_context().verify_mode == ssl.CERT_REQUIRED
    assert tls.client_context().check_hostname
