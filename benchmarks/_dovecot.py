"""A private Dovecot for comparison: own config, own Maildirs, loopback only, torn down after.

Nothing of the system's Dovecot is used but its binaries: the instance runs in the
foreground from a temporary directory with a generated config (plaintext USER/PASS on
127.0.0.1, a passwd-file, one Maildir per benchmark user) and is stopped at the end.
The benchmarks use it as it is; the test suite (tests/test_dovecot.py) also turns on STLS
and the login mechanisms Debian's package offers, to compare pop3mock's dovecot
personality with the real server.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Dovecot", "unavailable"]

DOVECOT = "/usr/sbin/dovecot"

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = pop3
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
# High-performance mode: login and pop3 processes serve one connection after another
# instead of a fork and exec per connection (Dovecot's default, about 10x slower here).
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  # No pop3s on port 995: with ssl = yes it would be on by default, and a second instance
  # (another test module in parallel) would fail to start with "Address already in use".
  inet_listener pop3s {{
    port = 0
  }}
  service_count = 0
  process_min_avail = 2
}}
service pop3 {{
  service_count = 0
  process_min_avail = 2
  process_limit = 100
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
}}
"""


def unavailable() -> str | None:
    """Why a private Dovecot cannot run here, or None when it can."""
    if not Path(DOVECOT).exists():
        return f"{DOVECOT} not installed (apt-get install dovecot-pop3d)"
    if os.geteuid() != 0:
        return "Dovecot's own privilege separation needs root"
    try:
        pwd.getpwnam("dovenull")
        pwd.getpwnam("dovecot")
    except KeyError:
        return "the dovecot and dovenull system users are missing"
    return None


def _free_port() -> int:
    # Dovecot needs a number in its config; the window between close and its bind is tiny.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Dovecot:
    """One Dovecot instance holding every workload's maildrops under prefixed user names."""

    def __init__(
        self,
        maildrops: Sequence[Mapping[str, Any]],
        password: str,
        *,
        certificate: tuple[str, str] | None = None,
        mechanisms: str = "plain",
    ) -> None:
        """`certificate` (cert and key PEM files) turns on STLS; `mechanisms` are Dovecot's
        auth_mechanisms ("apop" adds a timestamp to the greeting)."""
        self.maildrops = maildrops
        self.password = password
        self.certificate = certificate
        self.mechanisms = mechanisms
        self.root = Path(tempfile.mkdtemp(prefix="pop3mock-bench-dovecot-"))
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def names_for(self, users: Mapping[str, Any]) -> list[str]:
        """The Dovecot user names standing for one workload's users, in order."""
        k = next(i for i, drop in enumerate(self.maildrops) if drop is users)
        return [f"w{k}{name}" for name in users]

    def start(self) -> None:
        nobody = pwd.getpwnam("nobody")
        passwd = []
        for k, users in enumerate(self.maildrops):
            for name, mailbox in users.items():
                login = f"w{k}{name}"
                passwd.append(f"{login}:{{PLAIN}}{self.password}\n")
                cur = self.root / "mail" / login / "cur"
                cur.mkdir(parents=True)
                (self.root / "mail" / login / "new").mkdir()
                (self.root / "mail" / login / "tmp").mkdir()
                for n, message in enumerate(mailbox.messages, 1):
                    name_ = f"{1700000000 + n}.M{n}P1.bench,S={message.size}:2,S"
                    (cur / name_).write_bytes(message.data)
        (self.root / "passwd").write_text("".join(passwd))
        (self.root / "home").mkdir()
        config = self.root / "dovecot.conf"
        ssl = "ssl = no"
        if self.certificate is not None:
            cert, key = self.certificate
            ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        config.write_text(
            _CONFIG.format(
                root=self.root,
                uid=nobody.pw_uid,
                gid=nobody.pw_gid,
                port=self.port,
                ssl=ssl,
                mechanisms=self.mechanisms,
            )
        )
        for sub in ("mail", "home"):
            for path in (self.root / sub).rglob("*"):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            os.chown(self.root / sub, nobody.pw_uid, nobody.pw_gid)
        self.root.chmod(0o755)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(config)])
        self._wait_listening()
        # Dovecot indexes a Maildir on first access: do that before anything is timed.
        for users in self.maildrops:
            for login in self.names_for(users):
                self._login_once(login)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                log = self.root / "dovecot.log"
                detail = log.read_text() if log.exists() else ""
                raise RuntimeError(f"dovecot exited with {self.proc.returncode}\n{detail}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)  # an external daemon: nothing to wait on but its port
        raise RuntimeError(f"dovecot did not listen on port {self.port} within 10 s")

    def _login_once(self, login: str) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            stream = sock.makefile("rwb")
            stream.readline()
            for line in (f"USER {login}", f"PASS {self.password}", "LIST", "QUIT"):
                stream.write(line.encode() + b"\r\n")
                stream.flush()
                reply = stream.readline()
                if not reply.startswith(b"+OK"):
                    raise RuntimeError(f"dovecot answered {line.split()[0]} with {reply!r}")
                if line == "LIST":
                    while stream.readline() != b".\r\n":
                        pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
