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
    from pop3mock import server

    assert server.__name__ == "pop3mock.server"


def _modules_loaded_by(statement: str) -> list[str]:
    probe = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded: list[str] = json.loads(output)
    return loaded


@pytest.mark.slow
def test_loading_the_plugin_imports_no_server_machinery() -> None:
    # pytest imports the plugin at every start: the server, the message model, attrs,
    # ssl and Faker wait until a test builds a server.
    loaded = _modules_loaded_by("import pop3mock.plugin")
    ours = {m for m in loaded if m.startswith("pop3mock")}
    assert ours == {
        "pop3mock",
        "pop3mock.errors",
        "pop3mock.protocol",
        "pop3mock.protocol._personality",
        "pop3mock.plugin",
    }
    for heavy in ("attr", "ssl", "faker"):
        assert heavy not in loaded, heavy


@pytest.mark.slow
def test_a_public_name_loads_only_what_it_needs() -> None:
    loaded = _modules_loaded_by("from pop3mock import ConfigurationError")
    assert "pop3mock.server._server" not in loaded
    loaded = _modules_loaded_by("from pop3mock import POP3Server")
    assert "pop3mock.server._server" in loaded
    assert "faker" not in loaded


# Every module path README.md and docs/ have shown, and the names they took from it. The
# modules now live in the layer subpackages; these paths keep working.
DOCUMENTED_PATHS = {
    "pop3mock.config": ("ALL_CAPABILITIES", "ServerConfig"),
    "pop3mock.personality": ("load_personality", "personality_config", "PERSONALITIES"),
    "pop3mock.sources": ("load_messages",),
    "pop3mock.steps": ("Close", "Send", "Sleep"),
    "pop3mock.tls": ("client_context", "ca_file", "ca_pem"),
    "pop3mock.fake": ("lazy_fake_messages", "fake_messages", "MessageFactory"),
    "pop3mock.faults": ("parse_spec", "FaultPoint", "FaultSet", "Rule"),
    "pop3mock.journal": ("Journal", "CommandRecord", "SessionRecord", "Violation"),
    "pop3mock.probe": ("Target", "probe", "render"),
    "pop3mock.protocol": ("system_error", "Session", "Response", "State"),
    "pop3mock.admin": ("AdminServer",),
    "pop3mock.errors": ("ConfigurationError", "ServerError"),
    "pop3mock.plugin": ("pytest_configure",),
    "pop3mock.cli": ("main",),
}


@pytest.mark.parametrize("path", sorted(DOCUMENTED_PATHS))
def test_every_documented_import_path_works(path: str) -> None:
    # In a fresh interpreter, so that an earlier import cannot make it pass.
    names = ", ".join(DOCUMENTED_PATHS[path])
    statement = f"from {path} import {names}; import {path} as m; print(m.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_an_old_path_is_the_same_module_as_the_new_one() -> None:
    import pop3mock.config as old
    import pop3mock.steps as old_steps

    from pop3mock.protocol import _config, _steps

    # One module object: monkeypatching either name patches both.
    assert old is _config
    assert old_steps is _steps
    # ... and it keeps its own spec, which importlib.reload() and tools read.
    assert old.__spec__ is not None and old.__spec__.name == "pop3mock.protocol._config"


def test_an_unknown_old_path_still_fails() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"pop3mock\.no_such_module"):
        importlib.import_module("pop3mock.no_such_module")
