"""Acceptance against a real Dovecot 2.3: probe it, serve what the probe wrote, and compare.

The Dovecot is private (benchmarks/_dovecot.py): its own config and Maildirs in a
temporary folder, on a free 127.0.0.1 port, with STLS (pop3mock's throwaway CA) and the
login mechanisms pop3mock's dovecot personality offers. scripts/install-test-clients.sh
installs dovecot-pop3d.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pop3mock
from pop3mock import Mailbox, POP3Server
from pop3mock.probe import Target, probe, render
from pop3mock.server import tls
from transcripts import SCRIPT, flatten, same_transcripts, session

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from _dovecot import Dovecot, unavailable

PASSWORD = "wonderland"
MESSAGES = [
    b"Subject: one\r\nFrom: a@example.org\r\n\r\nfirst line\r\nsecond line\r\n",
    b"Subject: two\r\n\r\n..a dot line\r\n",
    b"Subject: three\r\n\r\nthird\r\n",
]

pytestmark = [
    pytest.mark.slow,  # a private Dovecot, started for the module
    pytest.mark.skipif(
        unavailable() is not None,
        reason=f"no private Dovecot: {unavailable()} (scripts/install-test-clients.sh)",
    ),
]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[tuple[Dovecot, str]]:
    with tempfile.TemporaryDirectory(prefix="pop3mock-dovecot-tls-") as folder:
        files = tls.write_files(folder)
        maildrops = [{"alice": Mailbox("alice", PASSWORD, MESSAGES)}]
        server = Dovecot(
            maildrops,
            PASSWORD,
            certificate=(files["cert"], files["key"]),
            mechanisms="plain login cram-md5 apop",
        )
        try:
            server.start()
            yield server, server.names_for(maildrops[0])[0]
        finally:
            server.stop()


def probe_dovecot(server: Dovecot, user: str) -> dict[str, Any]:
    return probe(Target("127.0.0.1", server.port, user), PASSWORD, timeout=10)


def test_probe_of_dovecot_matches_the_builtin_personality(dovecot: tuple[Dovecot, str]) -> None:
    document = probe_dovecot(*dovecot)
    builtin = Path(pop3mock.__file__).parent / "protocol" / "personalities" / "dovecot.toml"
    written = flatten(document)
    shipped = flatten(tomllib.loads(builtin.read_text(encoding="utf-8")))
    both = sorted(set(written) & set(shipped))
    assert len(both) > 20
    assert {key: written[key] for key in both} == {key: shipped[key] for key in both}


def test_serving_the_probed_file_answers_like_dovecot(
    dovecot: tuple[Dovecot, str], tmp_path: Path
) -> None:
    server, user = dovecot
    path = tmp_path / "dovecot-probed.toml"
    path.write_text(render(probe_dovecot(server, user)), encoding="utf-8")
    real = session("127.0.0.1", server.port, SCRIPT, user, PASSWORD)
    with POP3Server(personality=path, stls=True) as copy:
        copy.add_user(user, PASSWORD, MESSAGES)
        served = session(copy.host, copy.port, SCRIPT, user, PASSWORD)
    assert same_transcripts(real, served)
