"""Every TOML file and every `pop3mock` command line in README.md and docs/ runs.

Commands come from ```sh blocks (every line) and ```console blocks (the `$ ` lines, each
followed by the output it shows). A command runs in a fresh folder holding the files the
documentation mentions (see `_workdir`), with two substitutions so that runs in parallel
do not collide: fixed ports (`--port`, `--tls-port`, any `--NAME-port`, and `port` /
`NAME_port` keys of TOML files) become 0, any free port, and paths under /tmp/ move into
the folder. Then:

- a command whose shown output is an error (`pop3mock: error: ...`) must print exactly
  that on stderr and exit 2 (a port shown as "in use" is made busy first);
- `pop3mock serve ...` must print its `listening on` line; it is then stopped with SIGINT
  and must exit 0;
- any other `pop3mock ...` command must exit 0.

A ```toml block is loaded with the config loader and served (a personality file, one with
a `format` key, with `--personality FILE`); a block that starts with `# pyproject.toml` is
an ini section pytest must accept. A command that runs pop3mock in a
way these rules cannot (a pipeline, a chain, a script) must be in SPECIAL, with what to do
instead and why: a new one fails here until it is.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from pop3mock.cli._config_file import load_config
from pop3mock.protocol._personality import load_personality
from pop3mock.server import tls

# Every documented command runs `pop3mock` in a subprocess.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M
)
TIMEOUT = 60.0
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1"}


@attrs.frozen
class Command:
    where: str
    line: str  # as shown, continuations joined
    output: tuple[str, ...]  # the lines a console block shows after it
    block: str  # the whole block, for SPECIAL scripts


def _blocks() -> Iterator[tuple[str, str, str]]:
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            line = text[: match.start("body")].count("\n") + 1
            body = "\n".join(
                raw[len(match.group("indent")) :] for raw in match.group("body").splitlines()
            )
            yield f"{path.relative_to(ROOT)}:{line}", match.group("lang"), body


def _commands() -> list[Command]:
    found = []
    for where, lang, body in _blocks():
        if lang not in ("sh", "console"):
            continue
        lines = body.splitlines()
        number = 0
        while number < len(lines):
            raw = lines[number]
            start = number
            number += 1
            if lang == "console":
                if not raw.startswith("$ "):
                    continue
                raw = raw[2:]
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            while raw.rstrip().endswith("\\") and number < len(lines):
                raw = raw.rstrip()[:-1] + " " + lines[number].strip()
                number += 1
            output = []
            if lang == "console":
                while number < len(lines) and not lines[number].startswith("$ "):
                    output.append(lines[number])
                    number += 1
            found.append(Command(f"{where}+{start}", raw.strip(), tuple(output), body))
    return found


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _runs_pop3mock(tokens: list[str]) -> bool:
    return any(
        t == "pop3mock"
        or t.endswith("/pop3mock")
        or (t == "-m" and tokens[i + 1 : i + 2] == ["pop3mock"])
        for i, t in enumerate(tokens)
    )


def _pop3mock_args(tokens: list[str]) -> list[str] | None:
    """The arguments after `pop3mock` (or `python -m pop3mock`) of a plain command line."""
    if tokens[:1] == ["pop3mock"]:
        return tokens[1:]
    if len(tokens) > 2 and tokens[0].startswith("python") and tokens[1:3] == ["-m", "pop3mock"]:
        return tokens[3:]
    return None


# -- what the commands need ----------------------------------------------------------------

EML = b"From: a@example.test\r\nSubject: hello\r\n\r\nHello.\r\n"


def _workdir(folder: Path) -> None:
    """The files the documented commands name: ./mail and ./big-mail (folders of .eml
    files), mail/alice, server.pem / server.key / ca.pem (a certificate, its key and CA),
    session.jsonl (a recording)."""
    for sub in ("mail", "mail/alice", "big-mail"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for n in (1, 2, 3):
            (folder / sub / f"{n}.eml").write_bytes(EML)
    made = tls.write_files(str(folder / "generated"))
    shutil.copy(made["cert"], folder / "server.pem")
    shutil.copy(made["key"], folder / "server.key")
    shutil.copy(made["ca"], folder / "ca.pem")
    # A recording for `--replay session.jsonl` (docs/replay.md).
    shutil.copy(Path(__file__).parent / "recordings" / "hello.jsonl", folder / "session.jsonl")
    for path in _named_toml():
        name, text = path
        (folder / name).write_text(_free_ports(text))


def _named_toml() -> list[tuple[str, str]]:
    """TOML blocks whose first line names their file (`# pop3mock.toml`)."""
    out = []
    for _, lang, body in _blocks():
        first = body.splitlines()[0] if body else ""
        if (
            lang == "toml"
            and re.fullmatch(r"# [\w.-]+\.toml", first)
            and first != "# pyproject.toml"
        ):
            out.append((first[2:], body))
    return out


def _free_ports(toml: str) -> str:
    return re.sub(r"(?m)^((?:\w+_)?port\s*=\s*)\d+", r"\g<1>0", toml)


def _substitute(args: list[str], folder: Path) -> list[str]:
    out = []
    for i, arg in enumerate(args):
        if i and re.fullmatch(r"--([\w-]+-)?port", args[i - 1]) and arg.isdigit():
            arg = "0"
        elif arg.startswith("/tmp/"):
            arg = str(folder / arg[len("/tmp/") :])
        out.append(arg)
    return out


# -- running -------------------------------------------------------------------------------


def _pop3mock(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "pop3mock", *args]


def _serve(args: list[str], folder: Path, where: str) -> None:
    proc = subprocess.Popen(
        _pop3mock(args), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    lines: list[str] = []
    buffer = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + TIMEOUT
            while not any(line.startswith("listening on ") for line in lines):
                left = deadline - time.monotonic()
                assert left > 0 and selector.select(left), f"{where}: no 'listening on' line"
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffer += chunk
                *done, buffer = buffer.split(b"\n")
                lines += [line.decode() for line in done]
        assert any(line.startswith("listening on ") for line in lines), (
            f"{where}: {args} exited ({proc.wait()}): {lines} {proc.stderr.read().decode()}"  # type: ignore[union-attr]
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, f"{where}: {args} exited {proc.returncode}: {err.decode()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)


def _run(args: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _pop3mock(args), cwd=folder, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _is_error(output: tuple[str, ...]) -> bool:
    return bool(output) and re.match(r"pop3mock( serve)?: error: ", output[0]) is not None


def _expect_error(command: Command, args: list[str], folder: Path) -> None:
    expected = "\n".join(command.output)
    if "Address already in use" in expected:
        # The documented port, made busy (by a free port: the documented one may be in use
        # by something else, or by nothing).
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = str(taken.getsockname()[1])
            shown = re.findall(r":(\d+): Address already in use", expected)[0]
            args[args.index("--port") + 1] = busy
            expected = expected.replace(f":{shown}:", f":{busy}:")
            result = _run(args, folder)
    else:
        result = _run(args, folder)
    assert (result.returncode, result.stderr.rstrip("\n")) == (2, expected), command.where


def _run_script(command: Command, folder: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["sh", "-e", "-c", command.block],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command.where}\n{result.stdout}\n{result.stderr}"
    assert result.stdout, f"{command.where}: the script printed nothing"


def _not_run(reason: str) -> Callable[[Command, Path], None]:
    def handler(command: Command, folder: Path) -> None:
        assert reason

    handler.reason = reason  # type: ignore[attr-defined]
    return handler


def _with_file(name: str, text: str) -> Callable[[Command, Path], None]:
    def handler(command: Command, folder: Path) -> None:
        (folder / name).write_text(text)
        _plain(command, folder)

    return handler


#: Commands the rules above cannot run, by the line as shown: what to do instead.
SPECIAL: dict[str, Callable[[Command, Path], None]] = {
    # README's quick start: a new virtual environment and an install of the clone; the suite
    # runs on that install, and the command it ends with, `pop3mock serve`, runs here as
    # docs/cli.md's first example.
    "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/pop3mock serve": _not_run(
        "installs the package into a new virtual environment"
    ),
    # The CI recipe: a background server, its first line, curl, then the trap stops it.
    "pop3mock serve --quiet --journal pop3.jsonl > pop3.out &": _run_script,
    # Probing a server and serving what the probe wrote: background servers, files, curl.
    "pop3mock serve --personality dovecot --user alice:wonderland --quiet --ready-file "
    "pop3.ready &": _run_script,
    # Recording through pop3mock proxy, then replaying: background servers, files, curl.
    "pop3mock serve --user alice:wonderland --quiet --ready-file upstream.ready &": _run_script,
    # The error case needs a config file with the misspelt key.
    "pop3mock serve --config pop3mock.toml": _with_file("pop3mock.toml", "prot = 1110\n"),
}


def _plain(command: Command, folder: Path) -> None:
    tokens = _tokens(command.line)
    if tokens[-1:] == ["&"]:
        tokens = tokens[:-1]  # the server in the background: here, watched in the foreground
    args = _pop3mock_args(tokens)
    assert args is not None and not SHELL_OPERATORS & set(tokens), (
        f"{command.where}: cannot run {command.line!r} as one command: add it to SPECIAL"
    )
    args = _substitute(args, folder)
    if _is_error(command.output):
        _expect_error(command, args, folder)
    elif args[:1] == ["serve"]:
        _serve(args, folder, command.where)
    else:
        result = _run(args, folder)
        assert result.returncode == 0, f"{command.where}: {result.stderr}"


COMMANDS = [c for c in _commands() if _runs_pop3mock(_tokens(c.line))]
# A script runs once, for the line that names it in SPECIAL; its other lines run with it.
SCRIPT_BLOCKS = {c.block for c in COMMANDS if SPECIAL.get(c.line) is _run_script}
COMMANDS = [
    c for c in COMMANDS if c.block not in SCRIPT_BLOCKS or SPECIAL.get(c.line) is _run_script
]


def test_the_documentation_has_command_lines() -> None:
    assert len(COMMANDS) > 20
    assert any(_is_error(c.output) for c in COMMANDS)
    shown = {c.line for c in _commands()}
    assert set(SPECIAL) <= shown, f"SPECIAL names commands no longer shown: {set(SPECIAL) - shown}"


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_command(command: Command, tmp_path: Path) -> None:
    _workdir(tmp_path)
    SPECIAL.get(command.line, _plain)(command, tmp_path)


# -- TOML --------------------------------------------------------------------------------------

TOML = [(where, body) for where, lang, body in _blocks() if lang == "toml"]


def test_the_documentation_has_toml() -> None:
    assert len(TOML) >= 2


@pytest.mark.parametrize(("where", "body"), TOML, ids=[w for w, _ in TOML])
def test_toml(where: str, body: str, tmp_path: Path) -> None:
    _workdir(tmp_path)
    if body.startswith("# pyproject.toml\n"):
        (tmp_path / "pyproject.toml").write_text(body)
        (tmp_path / "test_ini.py").write_text("def test_ini(pop3_server):\n    pass\n")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:faker",
                "-W",
                "error::pytest.PytestConfigWarning",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"
        return
    path = tmp_path / "shown.toml"
    path.write_text(_free_ports(body))
    if re.search(r"(?m)^format\s*=", body):
        # A personality file (docs/personalities.md): loaded, then served as one.
        load_personality(path)
        _serve(["serve", "--personality", str(path)], tmp_path, where)
        return
    load_config(path)
    _serve(["serve", "--config", str(path)], tmp_path, where)


def test_a_command_these_rules_cannot_run_fails_until_it_is_in_special(tmp_path: Path) -> None:
    for line in ("pop3mock serve | head -1", "cd x && pop3mock serve"):
        command = Command("new.md:1", line, (), line)
        assert _runs_pop3mock(_tokens(line))
        with pytest.raises(AssertionError, match="add it to SPECIAL"):
            _plain(command, tmp_path)
