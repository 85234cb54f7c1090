"""Throwaway certificates for tests: one CA per process, made with trustme on first use.

The CA and the server certificate are made once and reused by every server (never per
server: key generation is the slow part). Clients trust the CA with `client_context()` or
with the PEM file at `ca_file()`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import ssl
import tempfile
import threading
from typing import Any

from pop3mock.errors import ConfigurationError

__all__ = ["ca_file", "ca_pem", "client_context", "server_context", "write_files"]

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _trustme() -> Any:
    try:
        import trustme
    except ImportError:
        raise ConfigurationError(
            "TLS needs the 'trustme' package: pip install 'pop3mock[tls]'"
        ) from None
    return trustme


def _authority() -> tuple[Any, Any]:
    with _lock:
        if "ca" not in _state:
            trustme = _trustme()
            ca = trustme.CA(organization_name="pop3mock test CA")
            # A subject CN besides the SANs: fetchmail 6.4 refuses a certificate without one
            # ("Server name not specified in certificate!") even when the SANs match.
            cert = ca.issue_cert(
                "localhost", "127.0.0.1", "::1", "pop3mock.localhost", common_name="localhost"
            )
            _state["ca"] = ca
            _state["cert"] = cert
        return _state["ca"], _state["cert"]


def server_context() -> ssl.SSLContext:
    """A server-side context with the throwaway certificate (made once per process)."""
    _, cert = _authority()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def client_context() -> ssl.SSLContext:
    """A client-side context that trusts the throwaway CA (hostname checks on)."""
    ca, _ = _authority()
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    return context


def ca_pem() -> bytes:
    """The throwaway CA certificate in PEM form."""
    ca, _ = _authority()
    return bytes(ca.cert_pem.bytes())


def ca_file() -> str:
    """Path of a PEM file with the throwaway CA (for curl --cacert and other clients)."""
    with _lock:
        path = _state.get("ca_file")
    if path is not None and os.path.exists(path):
        return str(path)
    directory = tempfile.mkdtemp(prefix="pop3mock-ca-")
    atexit.register(shutil.rmtree, directory, True)
    path = write_files(directory)["ca"]
    with _lock:
        _state["ca_file"] = path
    return path


def write_files(directory: str) -> dict[str, str]:
    """Write ca.pem, server-cert.pem and server-key.pem into `directory`; return the paths.

    A folder made here is private (0700) and the key is 0600. Each file is written under a
    fresh name (created exclusively, so a link planted there is never followed) and then
    renamed over its final name: a link or file already there is replaced, not written
    through, and a reader never sees half a file.
    """
    ca, cert = _authority()
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        os.chmod(directory, 0o700)  # makedirs' mode goes through the umask
    paths = {
        "ca": os.path.join(directory, "ca.pem"),
        "cert": os.path.join(directory, "server-cert.pem"),
        "key": os.path.join(directory, "server-key.pem"),
    }
    _write_new(paths["ca"], ca.cert_pem.bytes(), 0o644)
    _write_new(paths["cert"], cert.cert_chain_pems[0].bytes(), 0o644)
    _write_new(paths["key"], cert.private_key_pem.bytes(), 0o600)
    return paths


def _write_new(path: str, data: bytes, mode: int) -> None:
    folder, name = os.path.split(path)
    # mkstemp opens with O_CREAT | O_EXCL (and mode 0600) under a random name.
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
