"""The control API's benchmark rows run end to end (`--quick --only admin`); no figure is
asserted (timings belong to the machine), only that every row has one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# A benchmark smoke run: the benchmark script runs its control-API workloads.
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
ROWS = [
    "admin GET /health p50, 8 POP3 client threads",
    "admin GET /health p99, 8 POP3 client threads",
    "admin POST 2 KB message p50, 8 POP3 threads",
    "admin POST 2 KB message p99, 8 POP3 threads",
    "admin POST 10,000 messages in one call",
]
BESIDE = "sessions/s, 8 threads, beside 200 admin calls/s (floor: none)"
NUMBER = r"[\d,]+(?:\.\d+)?"


def test_quick_admin_rows() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--quick", "--only", "admin"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    for label in ROWS:
        row = re.search(
            rf"^{re.escape(label)}\s+ms\s+<= {NUMBER}\s+({NUMBER})\s+-\s+-\s+(yes|NO)$",
            out.stdout,
            re.M,
        )
        assert row, f"no row for {label!r} in:\n{out.stdout}"
        assert float(row.group(1).replace(",", "")) > 0
    beside = rf"^{re.escape(BESIDE)}\s+/s\s+<= 1\.05x\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x\s+(yes|NO)$"
    assert re.search(beside, out.stdout, re.M), out.stdout
