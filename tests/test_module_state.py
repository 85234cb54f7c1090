"""No process-wide mutable state in the protocol core, the journal and the faults: their
module-level tables are read-only, the one cache is bounded and hands out read-only
values, and wire UIDs live with their mailbox."""

from __future__ import annotations

import collections
import importlib
import pkgutil
import types
import weakref
from pathlib import Path

import pytest

from pop3mock import ConfigurationError, Mailbox, POP3Server, ServerConfig
from pop3mock.protocol import PERSONALITIES, SERVER_DEFAULTS, _personality, personality_config

_MUTABLE = (
    dict,
    list,
    set,
    bytearray,
    collections.deque,
    weakref.WeakKeyDictionary,
    weakref.WeakValueDictionary,
    weakref.WeakSet,
)
# The lazy-import tables of the packages' __init__ (read by pop3mock.lazy_exports only).
_ALLOWED = {"_HOMES"}


def _modules(package: str) -> list[types.ModuleType]:
    root = importlib.import_module(f"pop3mock.{package}")
    names = [m.name for m in pkgutil.walk_packages(root.__path__, f"{root.__name__}.")]
    return [root, *(importlib.import_module(name) for name in names)]


@pytest.mark.parametrize("package", ["protocol", "journal", "faults"])
def test_no_module_level_mutable_containers(package: str) -> None:
    found = [
        f"{module.__name__}.{name}: {type(value).__name__}"
        for module in _modules(package)
        for name, value in vars(module).items()
        if isinstance(value, _MUTABLE)
        and name not in _ALLOWED
        and not name.startswith("__")
        # A name imported from elsewhere is checked where it is defined.
        and not isinstance(value, types.ModuleType)
    ]
    assert found == []


def test_the_tables_cannot_be_changed() -> None:
    from pop3mock.protocol import DEFAULT_TEXTS
    from pop3mock.protocol._text import SECRET_ARGUMENTS

    with pytest.raises(TypeError):
        DEFAULT_TEXTS["greeting"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        SECRET_ARGUMENTS["USER"] = 0  # type: ignore[index]


def test_a_personality_handed_out_cannot_change_later_servers() -> None:
    dovecot = PERSONALITIES["dovecot"]
    greeting = dovecot["texts"]["greeting"]
    with pytest.raises(TypeError):
        dovecot["texts"]["greeting"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        dovecot["strict_arguments"] = True  # type: ignore[index]
    with pytest.raises(TypeError):
        SERVER_DEFAULTS["gmail"]["implicit_tls"] = False  # type: ignore[index]
    assert personality_config("dovecot").text("greeting") == greeting
    assert personality_config("dovecot") == personality_config("dovecot")


def test_the_personality_file_cache_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "own.toml"
    for n in range(_personality._CACHED_FILES + 20):
        # A different size each time: a rewritten file is read again.
        path.write_text(f'format = 1\n[greeting]\ntext = "ready {"x" * n}"\n', encoding="utf-8")
        assert personality_config(path).text("greeting") == f"ready {'x' * n}"
    assert _personality._load.cache_info().currsize <= _personality._CACHED_FILES


def test_wire_uids_live_with_their_mailbox() -> None:
    # Two mailboxes with the same user and messages get the same UIDs, each kept by its own
    # mailbox: the first listing of one does not number the other.
    config = ServerConfig(uid_format="dovecot")
    first = Mailbox("alice", "pw", [b"Subject: a\r\n\r\na\r\n", b"Subject: b\r\n\r\nb\r\n"])
    second = Mailbox("alice", "pw", [b"Subject: b\r\n\r\nb\r\n"])
    assert config.visible_uids(first) == (
        "00000001" + _validity(first),
        "00000002" + _validity(first),
    )
    assert config.visible_uids(second) == ("00000001" + _validity(second),)
    first.add(b"Subject: c\r\n\r\nc\r\n")
    assert config.visible_uids(first)[2].startswith("00000003")
    assert config.visible_uids(second) == ("00000001" + _validity(second),)


def _validity(box: Mailbox) -> str:
    import zlib

    return f"{zlib.crc32(box.user.encode()) or 1:08x}"


def test_a_mailbox_shared_by_two_servers_shows_the_same_uids() -> None:
    box = Mailbox("alice", "pw", [b"Subject: a\r\n\r\na\r\n"])
    with (
        POP3Server(users={"alice": box}, personality="dovecot") as one,
        POP3Server(users={"alice": box}, personality="dovecot") as two,
    ):
        assert one.config.visible_uids(box) == two.config.visible_uids(box)
    one.check()
    two.check()


def test_an_unknown_personality_key_is_still_refused() -> None:
    with pytest.raises(ConfigurationError):
        personality_config("dovecot", no_such_option=1)
