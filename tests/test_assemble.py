"""One assembly path: the same bad value gives the same error from a `@pytest.mark.pop3`
option, a `pop3mock serve` flag and a key of its TOML file; only the name of the option
that holds it differs, as each front end spells it.

The marker's options go through `plugin.build_server`, which is what the `pop3_server`
fixture calls with them (test_plugin.py runs the fixture itself); the flags and the file
go through `cli.main`. Every case fails before a port is bound.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from pop3mock.cli import main
from pop3mock.errors import ConfigurationError
from pop3mock.plugin import build_server


@attrs.frozen
class Case:
    #: The marker's options, then the option name its error starts with.
    marker: Callable[[Path], dict[str, Any]]
    marker_label: str
    #: serve's flags, then the flag its error starts with.
    flags: Callable[[Path], list[str]]
    flag_label: str
    #: The TOML file, then the key its error names (after "FILE: ").
    toml: str
    toml_label: str


def _mail(tmp_path: Path) -> Path:
    mail = tmp_path / "mail"
    mail.mkdir(exist_ok=True)
    (mail / "1.eml").write_bytes(b"Subject: one\r\n\r\nOne\r\n")
    return mail


CASES = {
    "a fault spec with an unknown target": Case(
        lambda tmp: {"faults": "FETCH 1: error"},
        "faults",
        lambda tmp: ["--fault", "FETCH 1: error"],
        "--fault",
        'faults = ["FETCH 1: error"]\n',
        "faults[1]",
    ),
    "a fault for a user that does not exist": Case(
        lambda tmp: {"users": {"bob": "pw"}, "faults": ["PASS user=bobb: error [IN-USE] x"]},
        "faults",
        lambda tmp: ["--user", "bob:pw", "--fault", "PASS user=bobb: error [IN-USE] x"],
        "--fault",
        'faults = ["PASS user=bobb: error [IN-USE] x"]\n[[users]]\nname = "bob"\npassword = "pw"\n',
        "faults[1]",
    ),
    "a maildrop that does not exist": Case(
        lambda tmp: {"messages": str(tmp / "nope")},
        "messages",
        lambda tmp: ["--messages", str(tmp / "nope")],
        "--messages",
        'messages = "nope"\n',
        "messages",
    ),
    "a seed that no generated maildrop uses": Case(
        lambda tmp: {"messages": str(_mail(tmp)), "seed": 5},
        "seed",
        lambda tmp: ["--messages", str(_mail(tmp)), "--seed", "5"],
        "--seed",
        'messages = "mail"\nseed = 5\n',
        "seed",
    ),
    "a seed that is not an integer": Case(
        lambda tmp: {"fake": 2, "seed": "x"},
        "seed",
        lambda tmp: ["--fake", "2", "--seed", "x"],
        "--seed",
        'fake = 2\nseed = "x"\n',
        "seed",
    ),
    "too many generated messages": Case(
        lambda tmp: {"fake": 1_000_001},
        "fake",
        lambda tmp: ["--fake", "1000001"],
        "--fake",
        "fake = 1000001\n",
        "fake",
    ),
    "a user name with a space": Case(
        lambda tmp: {"users": {"a b": "pw"}},
        "users",
        lambda tmp: ["--user", "a b:pw"],
        "--user",
        '[[users]]\nname = "a b"\npassword = "pw"\n',
        "users[1]",
    ),
}


def _serve_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    """The error of `pop3mock serve ARGS` without the command's own frame around it."""
    try:
        status = main(["serve", "--port", "0", *args])
    except SystemExit as exc:  # a flag's value is refused by the parser
        status = exc.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert (status, out, err.count("\n")) == (2, "", 1), err
    usage = "pop3mock serve: error: argument "
    if err.startswith(usage):
        return err.removeprefix(usage).removesuffix(" (see 'pop3mock serve --help')\n")
    assert err.startswith("pop3mock: error: "), err
    return err.removeprefix("pop3mock: error: ").removesuffix("\n")


def _after(label: str, message: str) -> str:
    assert message.startswith((f"{label}: ", f"{label} ")), (label, message)
    return message[len(label) :]


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_the_same_bad_value_gives_the_same_error_everywhere(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigurationError) as info:
        build_server(case.marker(tmp_path))
    from_marker = _after(case.marker_label, str(info.value))
    from_flag = _after(case.flag_label, _serve_error(capsys, case.flags(tmp_path)))
    _mail(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(case.toml, encoding="utf-8")
    from_file = _after(
        f"{config}: {case.toml_label}", _serve_error(capsys, ["--config", str(config)])
    )
    assert from_marker == from_flag == from_file
