"""Runs the conformance suite in a pytester subprocess against a server on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_suite(pytester: pytest.Pytester, endpoint: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    """Run the suite with the given options; return pytest's result and results.json ({} if none was written)."""
    report_dir = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        str(REPO / "tests"),
        f"--rootdir={REPO}",
        f"--endpoint={endpoint}",
        f"--report-dir={report_dir}",
        "-p",
        "no:cacheprovider",
        *args,
    )
    results = report_dir / "latest" / "results.json"
    return result, json.loads(results.read_text()) if results.exists() else {}
