"""docs/conformance.md explains every conformance item the code cites, and its tests exist.

Comments, docstrings and docs cite an item as a capital C, a hyphen and three digits; a test
function cites it in its name (`test_c` and the three digits, several in a row allowed). Every
item cited anywhere in src/, tests/ or docs/ needs an entry in docs/conformance.md, in number
order, in this form:

    - **C-nnn** The rule as pop3mock implements it, in a sentence or two.
      Level: MUST. Source: RFC 1939 §7.
      Tests: `tests/test_file.py::test_name`, `tests/other.py::test_other`.

Each check below is a pure function over texts that returns its problems; the tests run them
on the repository, and on small made-up pages so that none of them can pass by finding nothing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "conformance.md"
DOC_NAME = "docs/conformance.md"
SCANNED = ("src", "tests", "docs")

CITATION = re.compile(r"(?<![\w-])C-(\d{3})(?!\d)")
TEST_NAME_CITATIONS = re.compile(r"\s*(?:async\s+)?def test_((?:c\d{3}_)+)")
ENTRY_HEAD = re.compile(r"- \*\*C-(\d{3})\*\*(?= \S)")
FIELDS = re.compile(
    r"Level: (?P<level>.+?)\. Source: (?P<source>.+?)\.\s+Tests: (?P<tests>.+)$", re.S
)
TEST_REFERENCE = re.compile(r"`([^`\s]+?\.py)::([^`\s]+)`")
LEVELS = ("MUST NOT", "SHOULD NOT", "MUST", "SHOULD", "MAY", "COMPAT", "DESIGN", "INFO")
LINK = re.compile(r"\]\((?!https?:)([^)#\s]*)(?:#([^)\s]+))?\)")
TEMPLATE = (
    "- **C-{n}** <the rule as pop3mock implements it, in its own words>\n"
    "  Level: <{levels}>. Source: <RFC and section, or the client's source file>.\n"
    "  Tests: `tests/<file>.py::<test function>`."
)


@attrs.frozen
class Entry:
    """One item of docs/conformance.md: its number, the line it starts on, and its text."""

    number: str
    line: int
    text: str


# -- reading the citations ------------------------------------------------------------------


def citations_in_text(text: str) -> Iterator[tuple[str, int]]:
    """(number, line) of every item cited in a text."""
    for n, line in enumerate(text.splitlines(), 1):
        for match in CITATION.finditer(line):
            yield match[1], n


def citations_in_test_names(source: str) -> Iterator[tuple[str, int]]:
    """(number, line) of every item a function name cites (`def test_c042_c043_...`)."""
    for n, line in enumerate(source.splitlines(), 1):
        match = TEST_NAME_CITATIONS.match(line)
        if match:
            for number in re.findall(r"c(\d{3})", match[1]):
                yield number, n


def citations(root: Path) -> dict[str, list[str]]:
    """Every item cited in src/, tests/ and docs/ (the page itself left out), with where."""
    found: dict[str, list[str]] = {}
    for top in SCANNED:
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            name = path.relative_to(root).as_posix()
            if name == DOC_NAME:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            cited = list(citations_in_text(text))
            if path.suffix == ".py":
                cited += citations_in_test_names(text)
            for number, line in cited:
                found.setdefault(number, []).append(f"{name}:{line}")
    return found


# -- reading the page -----------------------------------------------------------------------


def entries(page: str) -> list[Entry]:
    """The entries of the page: a `- **C-nnn**` line and the indented lines under it."""
    found: list[Entry] = []
    lines = page.splitlines()
    i = 0
    while i < len(lines):
        head = ENTRY_HEAD.match(lines[i])
        if head is None:
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
            i += 1
        text = " ".join(line.strip() for line in lines[start:i])
        found.append(Entry(head[1], start + 1, text))
    return found


def headings(page: str) -> set[str]:
    """GitHub's anchors for the headings of a page (fenced code left out)."""
    anchors = set()
    fenced = False
    for line in page.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def defines(module: ast.Module, name: str) -> bool:
    """Whether a parsed test file defines `name` (`function` or `Class::method`)."""
    scope: Iterable[ast.stmt] = module.body
    *classes, function = name.split("::")
    for class_name in classes:
        found = [n for n in scope if isinstance(n, ast.ClassDef) and n.name == class_name]
        if not found:
            return False
        scope = found[0].body
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    return any(isinstance(n, kinds) and n.name == function for n in scope)


# -- the checks -----------------------------------------------------------------------------


def missing_entries(cited: dict[str, list[str]], page: str) -> list[str]:
    listed = sorted({entry.number for entry in entries(page)})
    problems = []
    for number in sorted(set(cited) - set(listed)):
        places = sorted(
            cited[number], key=lambda p: (p.rpartition(":")[0], int(p.rpartition(":")[2]))
        )
        where = ", ".join(places[:5]) + (" ..." if len(places) > 5 else "")
        before = [n for n in listed if n < number]
        after = [n for n in listed if n > number]
        position = []
        if before:
            position.append(f"after C-{before[-1]}")
        if after:
            position.append(f"before C-{after[0]}")
        template = TEMPLATE.format(n=number, levels="|".join(LEVELS))
        problems.append(
            f"C-{number} is cited at {where} but has no entry in {DOC_NAME}. Add one in its "
            f"checklist section, {' and '.join(position) or 'as the first entry'}:\n{template}"
        )
    return problems


def order_problems(page: str) -> list[str]:
    problems = []
    previous: Entry | None = None
    seen: dict[str, int] = {}
    for entry in entries(page):
        if entry.number in seen:
            problems.append(
                f"C-{entry.number} has two entries in {DOC_NAME} (lines {seen[entry.number]} "
                f"and {entry.line}): keep one"
            )
        elif previous is not None and entry.number < previous.number:
            problems.append(
                f"C-{entry.number} ({DOC_NAME} line {entry.line}) comes after "
                f"C-{previous.number}: entries go in number order"
            )
        seen.setdefault(entry.number, entry.line)
        previous = entry
    return problems


def field_problems(page: str) -> list[str]:
    problems = []
    for entry in entries(page):
        where = f"C-{entry.number} ({DOC_NAME} line {entry.line})"
        fields = FIELDS.search(entry.text)
        if fields is None:
            problems.append(
                f"{where} lacks its 'Level: ... Source: ... Tests: ...' lines; the form is:\n"
                + TEMPLATE.format(n=entry.number, levels="|".join(LEVELS))
            )
            continue
        if not fields["level"].startswith(LEVELS):
            problems.append(
                f"{where}: level {fields['level']!r} does not start with one of {', '.join(LEVELS)}"
            )
        if not TEST_REFERENCE.search(fields["tests"]):
            problems.append(
                f"{where} names no test; write it as `tests/<file>.py::<test function>`"
            )
        rule = entry.text[len(f"- **C-{entry.number}** ") : fields.start()].strip()
        if len(rule) < 20:
            problems.append(f"{where} does not say what the rule is")
    return problems


def reference_problems(page: str, root: Path) -> list[str]:
    problems = []
    modules: dict[str, ast.Module | None] = {}
    item = None
    for n, line in enumerate(page.splitlines(), 1):
        head = ENTRY_HEAD.match(line)
        if head is not None:
            item = head[1]
        elif not (line.startswith("  ") and line.strip()):
            item = None
        where = f"C-{item} ({DOC_NAME} line {n})" if item else f"{DOC_NAME} line {n}"
        for path, written in TEST_REFERENCE.findall(line):
            name = re.sub(r"\[.*\]$", "", written)  # a parametrised test, by its function
            if path not in modules:
                file = root / path
                modules[path] = (
                    ast.parse(file.read_text(encoding="utf-8")) if file.is_file() else None
                )
            module = modules[path]
            if not path.startswith("tests/") or not name.split("::")[-1].startswith("test_"):
                problems.append(f"{where} names {path}::{name}, which is not a test")
            elif module is None:
                problems.append(f"{where} names {path}::{name}, but there is no file {path}")
            elif not defines(module, name):
                again = f"C-{item}" if item else "it"
                problems.append(
                    f"{where} names {path}::{name}, but {path} defines no test {name} "
                    f"(renamed or removed? name the test that now checks {again})"
                )
    return problems


def link_problems(page: str, docs: Path) -> list[str]:
    problems = []
    for n, line in enumerate(page.splitlines(), 1):
        for target, anchor in LINK.findall(line):
            file = docs / target
            if target and not file.is_file():
                problems.append(f"{DOC_NAME} line {n} links to {target}, which does not exist")
                continue
            if anchor and anchor not in headings(file.read_text() if target else page):
                problems.append(
                    f"{DOC_NAME} line {n} links to {target}#{anchor}, but "
                    f"{target or 'the page'} has no such heading (renamed?)"
                )
    return problems


# -- on the repository ----------------------------------------------------------------------

PAGE = DOC.read_text(encoding="utf-8")


def test_every_cited_item_has_an_entry() -> None:
    cited = citations(ROOT)
    assert len(cited) >= 100  # the scan found the citations there are
    problems = missing_entries(cited, PAGE)
    assert not problems, "\n\n".join(problems)


def test_entries_are_in_order_and_unique() -> None:
    assert len(entries(PAGE)) >= 100
    problems = order_problems(PAGE)
    assert not problems, "\n".join(problems)


def test_every_entry_has_a_rule_a_level_a_source_and_tests() -> None:
    problems = field_problems(PAGE)
    assert not problems, "\n\n".join(problems)


@pytest.mark.slow
def test_every_test_named_exists() -> None:
    assert len(TEST_REFERENCE.findall(PAGE)) >= 200
    problems = reference_problems(PAGE, ROOT)
    assert not problems, "\n".join(problems)


def test_links_lead_to_pages_and_headings() -> None:
    assert len(LINK.findall(PAGE)) >= 10
    problems = link_problems(PAGE, DOC.parent)
    assert not problems, "\n".join(problems)


# -- the checks find what they are for --------------------------------------------------------

# Item numbers below are built at run time, so that this file cites none of them.
A, B, C = (f"C-{n}" for n in ("901", "902", "903"))
GOOD = f"""# Items

- **{A}** The server does the first thing, in every state.
  Level: MUST. Source: RFC 1939 §3.
  Tests: `tests/test_conformance_doc.py::test_every_test_named_exists`.
- **{B}** The server does the second thing, see [here](conformance.md#choices-and-deviations).
  Level: COMPAT (poplib). Source: poplib.py.
  Tests: `tests/test_conformance_doc.py::test_every_cited_item_has_an_entry[x]`.
"""


def test_the_checks_pass_a_well_formed_page() -> None:
    cited = {"901": ["src/x.py:1"], "902": ["tests/y.py:2"]}
    assert [e.number for e in entries(GOOD)] == ["901", "902"]
    assert missing_entries(cited, GOOD) == []
    assert order_problems(GOOD) == []
    assert field_problems(GOOD) == []
    assert reference_problems(GOOD, ROOT) == []
    assert link_problems(GOOD, DOC.parent) == []


def test_a_citation_without_entry_is_named_with_where_it_is_cited() -> None:
    cited = {"901": ["src/x.py:1"], "903": ["src/pop3mock/z.py:7", "tests/t.py:9"]}
    (problem,) = missing_entries(cited, GOOD)
    assert problem.startswith(f"{C} is cited at src/pop3mock/z.py:7, tests/t.py:9 but has no")
    assert f"Add one in its checklist section, after {B}:\n- **{C}** <the rule" in problem
    (between,) = missing_entries({"901": ["x:1"], "902": ["x:2"]}, GOOD.replace(B, C))
    assert f"checklist section, after {A} and before {C}:" in between


def test_citations_are_read_from_text_and_from_test_names() -> None:
    text = f"# see {A} and {B}, not XC-903 or C-9031\n"
    assert list(citations_in_text(text)) == [("901", 1), ("902", 1)]
    source = "def test_c901_c902_thing():\n    pass\n\ndef test_c9_no():\n    pass\n"
    assert list(citations_in_test_names(source)) == [("901", 1), ("902", 1)]


def test_disorder_and_duplicates_are_named() -> None:
    swapped = GOOD.replace(f"**{A}**", "**TMP**").replace(f"**{B}**", f"**{A}**")
    swapped = swapped.replace("**TMP**", f"**{B}**")
    assert order_problems(swapped) == [
        f"{A} ({DOC_NAME} line 6) comes after {B}: entries go in number order"
    ]
    twice = GOOD.replace(f"**{B}**", f"**{A}**")
    assert order_problems(twice) == [f"{A} has two entries in {DOC_NAME} (lines 3 and 6): keep one"]


def test_missing_fields_and_unknown_tests_are_named() -> None:
    test_line = "  Tests: `tests/test_conformance_doc.py::test_every_test_named_exists`."
    no_tests = GOOD.replace(test_line, "  Tests: none.")
    assert field_problems(no_tests) == [
        f"{A} ({DOC_NAME} line 3) names no test; write it as `tests/<file>.py::<test function>`"
    ]
    no_level = GOOD.replace("  Level: MUST. Source: RFC 1939 §3.\n", "")
    assert field_problems(no_level) == [
        f"{A} ({DOC_NAME} line 3) lacks its 'Level: ... Source: ... Tests: ...' lines; the form "
        "is:\n" + TEMPLATE.format(n="901", levels="|".join(LEVELS))
    ]
    bad_level = GOOD.replace("Level: MUST.", "Level: OPTIONAL.")
    assert field_problems(bad_level)[0].startswith(f"{A} ({DOC_NAME} line 3): level 'OPTIONAL'")
    no_rule = GOOD.replace("The server does the first thing, in every state.", "Rule.")
    assert field_problems(no_rule) == [f"{A} ({DOC_NAME} line 3) does not say what the rule is"]
    renamed = GOOD.replace("test_every_test_named_exists`", "test_gone`")
    assert reference_problems(renamed, ROOT) == [
        f"{A} ({DOC_NAME} line 5) names tests/test_conformance_doc.py::test_gone, but "
        "tests/test_conformance_doc.py defines no test test_gone (renamed or removed? name the "
        f"test that now checks {A})"
    ]
    no_file = GOOD.replace("tests/test_conformance_doc.py::test_every_test", "tests/no.py::test_x")
    assert reference_problems(no_file, ROOT) == [
        f"{A} ({DOC_NAME} line 5) names tests/no.py::test_x_named_exists, but there is no file "
        "tests/no.py"
    ]
    outside = GOOD + "\nSee also `tests/test_conformance_doc.py::test_gone`.\n"
    assert reference_problems(outside, ROOT) == [
        f"{DOC_NAME} line 10 names tests/test_conformance_doc.py::test_gone, but "
        "tests/test_conformance_doc.py defines no test test_gone (renamed or removed? name the "
        "test that now checks it)"
    ]
    not_a_test = GOOD.replace("tests/test_conformance_doc.py::test_every_test", "src/x.py::f")
    assert reference_problems(not_a_test, ROOT) == [
        f"{A} ({DOC_NAME} line 5) names src/x.py::f_named_exists, which is not a test"
    ]


def test_a_link_to_a_missing_heading_is_named() -> None:
    broken = GOOD.replace("#choices-and-deviations", "#no-such-heading")
    assert link_problems(broken, DOC.parent) == [
        f"{DOC_NAME} line 6 links to conformance.md#no-such-heading, but conformance.md has "
        "no such heading (renamed?)"
    ]
    assert link_problems("# Top\n\n[up](#top), [down](#bottom)\n", DOC.parent) == [
        f"{DOC_NAME} line 3 links to #bottom, but the page has no such heading (renamed?)"
    ]
    assert link_problems("[x](nothing.md)\n", DOC.parent) == [
        f"{DOC_NAME} line 1 links to nothing.md, which does not exist"
    ]
    assert headings("# SASL: `AUTH` (RFC 5034)\n```\n# not a heading\n```\n") == {
        "sasl-auth-rfc-5034"
    }
