"""The package's public names, and what loading it (as the pytest plugin does) imports."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import pop3mock


def test_every_public_name_is_the_object_its_module_defines() -> None:
    homes = pop3mock._HOMES
    assert sorted(pop3mock.__all__) == sorted([*homes, "__version__"])
    for name, home in homes.items():
        module = importlib.import_module(f"pop3mock.{home}")
        assert getattr(pop3mock, name) is getattr(module, name), name
    assert set(pop3mock.__all__) <= set(dir(pop3mock))


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from pop3mock import *", namespace)
    assert set(pop3mock.__all__) <= set(namespace)
    assert namespace["POP3Server"] is pop3mock.POP3Server


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'pop3mock' has no attribute 'Pop3Server'"):
        _ = pop3mock.Pop3Server  # type: ignore[attr-defined]
    assert not hasattr(pop3mock, "no_such_name")
    # Submodules still import by name.
    from pop3mock import tls

    assert tls.__name__ == "pop3mock.tls"


def _modules_loaded_by(statement: str) -> list[str]:
    probe = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = json.loads(output)
    return loaded


def test_loading_the_plugin_imports_no_server_machinery() -> None:
    # pytest imports the plugin at every start: the server, the message model, attrs,
    # ssl and Faker wait until a test builds a server.
    loaded = _modules_loaded_by("import pop3mock.plugin")
    ours = {m for m in loaded if m.startswith("pop3mock")}
    assert ours == {
        "pop3mock",
        "pop3mock._version",
        "pop3mock.errors",
        "pop3mock.personality",
        "pop3mock.plugin",
    }
    for heavy in ("attr", "ssl", "faker"):
        assert heavy not in loaded, heavy


def test_a_public_name_loads_only_what_it_needs() -> None:
    loaded = _modules_loaded_by("from pop3mock import ConfigurationError")
    assert "pop3mock.server" not in loaded
    loaded = _modules_loaded_by("from pop3mock import POP3Server")
    assert "pop3mock.server" in loaded
    assert "faker" not in loaded
