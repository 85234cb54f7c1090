"""pop3mock: a real POP3 server for tests.

Start one with `POP3Server` (or the `pop3_server` pytest fixture), give it users and
messages, point any POP3 client at it, then assert on what the client did.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pop3mock.errors import (
        ClientViolationError,
        ConfigurationError,
        Pop3MockError,
        ServerError,
        UnfiredFaultError,
    )
    from pop3mock.fake._factory import MessageFactory, fake_messages, lazy_fake_messages
    from pop3mock.faults._faultset import FaultSet, Rule
    from pop3mock.journal._journal import CommandRecord, Journal, SessionRecord, Violation
    from pop3mock.maildrop._entries import LazyMaildrop
    from pop3mock.maildrop._mailbox import Mailbox
    from pop3mock.maildrop._message import LazyMessage, Message
    from pop3mock.maildrop._sources import load_messages
    from pop3mock.protocol._config import ServerConfig
    from pop3mock.protocol._personality import PERSONALITIES
    from pop3mock.protocol._session import Response, Session, State
    from pop3mock.server._server import POP3Server

__all__ = [
    "PERSONALITIES",
    "ClientViolationError",
    "CommandRecord",
    "ConfigurationError",
    "FaultSet",
    "Journal",
    "LazyMaildrop",
    "LazyMessage",
    "Mailbox",
    "Message",
    "MessageFactory",
    "POP3Server",
    "Pop3MockError",
    "Response",
    "Rule",
    "ServerConfig",
    "ServerError",
    "Session",
    "SessionRecord",
    "State",
    "UnfiredFaultError",
    "Violation",
    "__version__",
    "fake_messages",
    "lazy_fake_messages",
    "load_messages",
]

# The module each public name comes from. A module is imported the first time one of its
# names is used: pytest loads the plugin (and so this package) at every start of every
# suite that has pop3mock installed, and most of those runs never start a server.
_HOMES: dict[str, str] = {
    "PERSONALITIES": "protocol._personality",
    "ClientViolationError": "errors",
    "CommandRecord": "journal._journal",
    "ConfigurationError": "errors",
    "FaultSet": "faults._faultset",
    "Journal": "journal._journal",
    "LazyMaildrop": "maildrop._entries",
    "LazyMessage": "maildrop._message",
    "Mailbox": "maildrop._mailbox",
    "Message": "maildrop._message",
    "MessageFactory": "fake._factory",
    "POP3Server": "server._server",
    "Pop3MockError": "errors",
    "Response": "protocol._session",
    "Rule": "faults._rules",
    "ServerConfig": "protocol._config",
    "ServerError": "errors",
    "Session": "protocol._session",
    "SessionRecord": "journal._journal",
    "State": "protocol._session",
    "UnfiredFaultError": "errors",
    "Violation": "journal._journal",
    "fake_messages": "fake._factory",
    "lazy_fake_messages": "fake._factory",
    "load_messages": "maildrop._sources",
}


def lazy_exports(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` that import each name's module on first use.

    `homes` maps each public name to its module, relative to `package`.
    """
    namespace = sys.modules[package].__dict__

    def getattr_(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *homes})

    return getattr_, dir_


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)


# Module paths that README.md and docs/ showed before the modules moved into the layer
# subpackages: `import pop3mock.config` still gives the module that now holds those names
# (the same object, so monkeypatching either name patches both).
_MOVED: dict[str, str] = {
    "config": "protocol._config",
    "personality": "protocol._personality",
    "sources": "maildrop._sources",
    "steps": "protocol._steps",
    "tls": "server.tls",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers `import pop3mock.<old name>` with the module at its new place."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self,
        fullname: str,
        path: object = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.partition(".")
        if package != __name__ or name not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(f"{__name__}.{_MOVED[spec.name.partition('.')[2]]}")
        self._specs[module.__name__] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system wrote the old name's spec onto the module: give it back its own,
        # so that reload() and tools reading __spec__ see where the code lives.
        module.__spec__ = self._specs.get(module.__name__, module.__spec__)


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
