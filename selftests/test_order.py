"""The order tests run in: each stream-versus-blocking comparison right after the tests of its answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Loaded into the collecting pytest (-p): writes, per item in run order, its id, whether it is a comparison
# and the requests it asks for, as the plugin itself sees them.
PROBE = """
import json, os
from toolcall_conformance.session import asked, cases_of, is_comparison

def pytest_collection_finish(session):
    rows = [
        {"id": item.nodeid, "comparison": is_comparison(item), "asks": [repr(asked(c)) for c in cases_of(item)]}
        for item in session.items
    ]
    with open(os.environ["ORDER_OUT"], "w") as out:
        json.dump(rows, out)
"""


def _collected(folder: Path) -> list[dict]:
    (folder / "order_probe.py").write_text(PROBE)
    out = folder / "order.json"
    env = {"PYTHONPATH": str(folder), "ORDER_OUT": str(out), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "order_probe",
               "tests", "--endpoint=http://127.0.0.1:9/v1"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    return _collected(tmp_path_factory.mktemp("order"))


def test_each_comparison_runs_right_after_the_last_test_asking_for_its_answers(rows: list[dict]) -> None:
    comparisons = [row for row in rows if row["comparison"]]
    assert len(comparisons) >= 40, "the curated suite compares every tool set's answers"
    for position, row in enumerate(rows):
        if not row["comparison"]:
            continue
        before = [other for other in rows[:position] if not other["comparison"]]
        after = [other for other in rows[position + 1 :] if not other["comparison"]]
        assert all(any(asked in other["asks"] for other in before) for asked in row["asks"]), row["id"]
        assert not any(set(row["asks"]) & set(other["asks"]) for other in after), f"{row['id']} runs too early"
        assert set(row["asks"]) & set(before[-1]["asks"]), f"{row['id']} waits after {before[-1]['id']}"


def test_the_order_loses_no_test_and_keeps_bad_requests_last(rows: list[dict], tmp_path: Path) -> None:
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    bad = [position for position, test_id in enumerate(ids) if "test_bad_requests" in test_id]
    assert bad and bad == list(range(len(ids) - len(bad), len(ids)))
    again = _collected(tmp_path)  # the same collection twice: the order is deterministic
    assert [row["id"] for row in again] == ids
