"""The benchmark script runs end to end (`--quick`) and reports every workload.

No figure is asserted: timings belong to the machine. What is checked is that every
workload ran against both pop3mock and the floor, and that the report is complete.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# Benchmark smoke runs: each starts the benchmark script and runs its workloads.
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

WORKLOADS = [
    "start + stop (threads joined)",
    "pytest start, empty suite (floor: plugin blocked)",
    "generating messages (fake_messages), default mix",
    "sessions/s, 1 client thread",
    "sessions/s, 8 client threads",
    "RETR 10 MB messages",
    "RETR 100 KB messages",
    "RETR 2 KB messages, one session",
    "LIST on 10,000 messages (1st in session)",
    "UIDL on 10,000 messages (1st in session)",
    "what a test sees: RETR 2 KB messages, poplib in-process",
    "what a test sees: sessions/s, poplib in-process",
    "STAT on 100,000 generated messages, from start",
    "without generating: POP3Server() to STAT",
    "peak memory of that process",
]

_NUMBER = r"[\d,]+(?:\.\d+)?"


def test_quick_run_reports_every_workload_against_the_floor() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        # A bound against a hang, not a speed check: on a loaded 2-CPU machine, beside the
        # rest of the suite, the whole quick run has taken more than 120 s.
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = out.stdout
    assert re.search(r"^python \d+\.\d+", report, re.M)
    assert re.search(r"^load average before: [\d.]+ [\d.]+ [\d.]+$", report, re.M)
    assert re.search(r"\b\d+ CPUs\b", report)
    for label in WORKLOADS:
        # label, unit, target, pop3mock, floor, cost vs floor (1.23x), met (yes/NO)
        row = re.search(
            rf"^\s*{re.escape(label)}\s+\S+\s+[<>]= {_NUMBER}x?\s+({_NUMBER})\s+({_NUMBER})"
            rf"\s+({_NUMBER})x\s+(yes|NO)$",
            report,
            re.M,
        )
        assert row, f"no complete row for {label!r} in:\n{report}"
        pop3mock, floor = (float(v.replace(",", "")) for v in row.group(1, 2))
        assert pop3mock > 0 and floor > 0, row.group(0)


def test_quick_run_reports_the_fixture_cost_without_a_floor() -> None:
    out = _run("--quick", "--only", "pop3_server fixture")
    assert out.returncode == 0, out.stderr
    row = re.search(
        rf"^pytest: pop3_server fixture, added per test\s+ms\s+<= {_NUMBER}\s+(-?{_NUMBER})"
        rf"\s+-\s+-\s+(yes|NO)$",
        out.stdout,
        re.M,
    )
    assert row, out.stdout
    assert re.search(r"ms per test with the fixture, [\d.]+ without", out.stdout)


def test_quick_run_reports_the_soak_rows_without_a_floor() -> None:
    out = _run("--quick", "--only", "soak")
    assert out.returncode == 0, out.stderr
    for label in (
        "soak: memory growth over 100,000 sessions (p=0.1 fault, journal_keep=100)",
        "soak: memory growth over 1,000,000 NOOPs in one session",
    ):
        row = re.search(
            rf"^{re.escape(label)}\s+MB\s+<= {_NUMBER}\s+(-?{_NUMBER})\s+-\s+-\s+(yes|NO)$",
            out.stdout,
            re.M,
        )
        assert row, out.stdout
    assert re.search(r"500 sessions, growth after the first 100: from [\d.]+ MB", out.stdout)
    assert re.search(r"5,000 commands, growth from the login on: from [\d.]+ MB", out.stdout)


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return _script("run.py", *args)


@pytest.mark.parametrize(
    "args",
    [("--quick", "--repeat", "-2"), ("--quick", "--repeat", "0"), ("--repeat", "0")],
)
def test_a_repeat_below_one_is_an_error_before_anything_runs(args: tuple[str, ...]) -> None:
    out = _run(*args)
    assert out.returncode == 2
    assert f"--repeat must be 1 or more, not {args[-1]}" in out.stderr
    assert out.stdout == ""


def test_only_matching_no_workload_is_an_error_listing_the_names() -> None:
    out = _run("--quick", "--only", "nothingmatches", "--only", "norThis")
    assert out.returncode == 2
    assert "--only nothingmatches norThis: no workload matches" in out.stderr
    for label in WORKLOADS:
        assert f"\n  {label}\n" in out.stderr + "\n", label
    assert out.stdout == ""


def _profile(*args: str) -> subprocess.CompletedProcess[str]:
    return _script("profile_workload.py", *args)


@pytest.mark.parametrize(
    ("name", "label"),
    [("sessions", "sessions/s, 8 client threads"), ("retr2k", "RETR 2 KB messages, one session")],
)
def test_the_profiling_script_runs_a_workload_and_reports_its_figure(name: str, label: str) -> None:
    out = _profile(name, "--seconds", "0.05")
    assert out.returncode == 0, out.stderr
    figure = re.search(rf"^{re.escape(label)}: ({_NUMBER}) \S+ \(median of \d+ round", out.stdout)
    assert figure and float(figure.group(1).replace(",", "")) > 0, out.stdout
    assert re.search(r"^CPU of this process: user [\d.]+ s, system [\d.]+ s", out.stdout, re.M)


def test_own_time_ranks_the_server_threads_leaf_frames(tmp_path: Path) -> None:
    boot = "Thread.run (threading.py:982);POP3Server._connection_thread (pop3mock/server.py:334)"
    raw = tmp_path / "profile.txt"
    raw.write_text(
        f"{boot};_Connection._answer (pop3mock/server.py:600) 6\n"
        f"{boot};_Connection._answer (pop3mock/server.py:640) 2\n"
        f"{boot};_Connection._answer (pop3mock/server.py:640);Session.handle (p.py:9) 2\n"
        "<module> (profile_workload.py:67);main (profile_workload.py:55) 90\n"
    )
    out = _profile("--own-time", str(raw))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        " 80.0%  _Connection._answer (pop3mock/server.py)",
        " 20.0%  Session.handle (p.py)",
    ]


def test_the_profiling_script_needs_a_workload_or_a_profile() -> None:
    out = _profile()
    assert out.returncode == 2
    assert "name a workload (retr2k, sessions) or give --own-time FILE" in out.stderr


@pytest.mark.parametrize("args", [(), ("--changed",), ("--deleted",)])
def test_the_listing_cpu_script_reports_both_commands(args: tuple[str, ...]) -> None:
    out = _script("listing_cpu.py", "--sessions", "2", *args)
    assert out.returncode == 0, out.stderr
    for command in ("LIST", "UIDL"):
        assert re.search(
            rf"^{command}: login {_NUMBER} ms, first {command} {_NUMBER} ms, QUIT {_NUMBER} ms",
            out.stdout,
            re.M,
        ), out.stdout


def test_the_cpu_cost_script_reports_both_servers_per_operation() -> None:
    out = _script("cpu_cost.py", "--quick")
    assert out.returncode == 0, out.stderr
    for label in ("RETR 2 KB", "session, 1 thread"):
        for server in ("pop3mock", "floor"):
            line = re.search(
                rf"^{re.escape(label)} +{server} +CPU +({_NUMBER}) us \(user {_NUMBER}, system "
                rf"{_NUMBER}\); context switches: voluntary {_NUMBER}, involuntary {_NUMBER}$",
                out.stdout,
                re.M,
            )
            assert line and float(line.group(1)) > 0, out.stdout
        assert re.search(rf"^{re.escape(label)} +CPU cost vs floor {_NUMBER}x$", out.stdout, re.M)


def test_the_recording_floor_script_reports_three_servers_against_the_floor() -> None:
    out = _script("recording_floor.py", "--quick")
    assert out.returncode == 0, out.stderr
    for title, unit in (
        ("RETR 2 KB messages, one session: 300 RETRs", "msg/s"),
        ("sessions/s, 1 client thread: 50 sessions", "/s"),
    ):
        block = out.stdout.split(f"{title}; medians of 1 round(s)\n", 1)
        assert len(block) == 2, out.stdout
        rows = block[1].splitlines()[:3]
        for server, row in zip(("floor", "floor that records", "pop3mock"), rows, strict=True):
            line = re.fullmatch(
                rf"{server} +({_NUMBER}) {re.escape(unit)} +cost vs floor ({_NUMBER})x", row
            )
            assert line and float(line.group(1).replace(",", "")) > 0, out.stdout
            if server == "floor":
                assert line.group(2) == "1.00"


def test_the_recording_floor_script_needs_a_round() -> None:
    out = _script("recording_floor.py", "--rounds", "0")
    assert out.returncode == 2
    assert "--rounds must be 1 or more, not 0" in out.stderr


def test_the_cpu_cost_script_needs_a_round() -> None:
    out = _script("cpu_cost.py", "--rounds", "0")
    assert out.returncode == 2
    assert "--rounds must be 1 or more, not 0" in out.stderr
