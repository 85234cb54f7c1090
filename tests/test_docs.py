"""The code in README.md and docs/ is run, so what the documentation shows is what happens.

A block marked `<!-- fragment -->` (a piece of a larger program) is only compiled; a block
that defines tests is run by pytest; every other block is run as a script.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?P<mark><!-- fragment -->\s*\n)?(?P<indent>[ \t]*)```python\n(?P<code>.*?)```", re.S
)


def blocks() -> list[tuple[str, str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text[: match.start("code")].count("\n")
            code = textwrap.dedent(match.group("code"))
            kind = "fragment" if match.group("mark") else "test" if "def test_" in code else "run"
            found.append((f"{path.relative_to(ROOT)}:{line}", kind, code))
    return found


BLOCKS = blocks()


def test_the_documentation_has_code() -> None:
    kinds = {kind for _, kind, _ in BLOCKS}
    assert kinds == {"fragment", "test", "run"}
    assert len(BLOCKS) > 30


@pytest.mark.slow
@pytest.mark.parametrize(("where", "kind", "code"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block(where: str, kind: str, code: str, tmp_path: Path) -> None:
    compile(code, where, "exec")
    if kind == "fragment":
        return
    if kind == "test":
        (tmp_path / "test_doc_block.py").write_text(code)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:faker"]
        result = subprocess.run(
            [*command, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"
        return
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{where}\n{result.stdout}\n{result.stderr}"


def fault_table() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    start = text.index("| fault | Python (`server.faults....`) | spec |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append((cells[1].strip("`"), cells[2].strip("`")))
    return rows


@pytest.mark.parametrize(("python", "spec"), fault_table())
def test_readme_fault_table_python_and_spec_are_the_same_rule(python: str, spec: str) -> None:
    from pop3mock import POP3Server
    from pop3mock.faults._faultset import parse_spec

    server = POP3Server()
    rule = eval(f"server.faults.{python}", {"server": server})
    assert parse_spec(spec) == rule
