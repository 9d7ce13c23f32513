"""The example failure messages of selftests/data/check-failures.json, without a server.

The fault tests compare each example with what the run that proves its check writes; these tests make sure there is
one example per registered check, and that each names a run that does compare it, so none is left unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftests import check_failures
from selftests.fault_server import FaultServer
from selftests.test_generated_against_faults import REFUSED
from selftests.test_suite_against_faults import EXPECTED
from toolcall_conformance.judging.catalogue import all_checks

DOCUMENT = json.loads(check_failures.DATA.read_text(encoding="utf-8"))
EXAMPLES: dict[str, dict[str, str]] = DOCUMENT["examples"]


def test_the_file_names_exactly_the_registered_checks_in_the_catalogue_s_order() -> None:
    assert list(EXAMPLES) == list(all_checks()), f"regenerate: {check_failures.REGENERATE}"
    assert set(DOCUMENT) == {"about", "examples"} and DOCUMENT["about"] == check_failures.ABOUT


@pytest.mark.parametrize("check", list(EXAMPLES))
def test_every_example_is_a_message_of_a_run_that_compares_it(check: str) -> None:
    """Its fault is one the server knows, and the run proving the check with that fault holds its test failing that
    check: hold_examples there fails when the message changes."""
    example = EXAMPLES[check]
    assert set(example) == {"fault", "test", "message"} and example["message"].strip()
    FaultServer(example["fault"])  # raises on a fault the server does not know; binds nothing
    if example["fault"] == REFUSED[0]:
        assert example["test"] == f"test_generated[{REFUSED[1]}]"
        return
    expected = EXPECTED[example["fault"]][1][example["test"]]
    assert check in (expected if isinstance(expected, set) else expected.partition(":")[2].split(","))


def _tests(*violations: tuple[str, str, str]) -> list[dict]:
    """results.json test records holding the given (test, check, message) violations."""
    by_test: dict[str, list[dict]] = {}
    for test, check, message in violations:
        by_test.setdefault(test, []).append({"check": check, "level": "MUST", "message": message})
    return [{"test": test, "violations": found} for test, found in by_test.items()]


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data file of its own, with one example, for the helpers to read and write."""
    path = tmp_path / "check-failures.json"
    example = {"fault": "http-500", "test": "t[a]", "message": "cannot connect to http://127.0.0.1:<port>/v1"}
    path.write_text(json.dumps({"about": "", "examples": {"http.status": example}}))
    monkeypatch.setattr(check_failures, "DATA", path)
    monkeypatch.delenv(check_failures.RECORD_VARIABLE, raising=False)
    return path


def test_a_changed_message_fails_the_run_that_wrote_it(data: Path) -> None:
    check_failures.hold_examples(
        "run", "http-500", _tests(("t[a]", "http.status", "cannot connect to http://127.0.0.1:4711/v1"))
    )
    check_failures.hold_examples("run", "zero-calls", _tests(("t[a]", "http.status", "other")))  # another fault
    check_failures.hold_examples("run", "http-500", _tests(("t[b]", "http.status", "other")))  # another test
    with pytest.raises(AssertionError, match=r"no longer writes .*check_failures DIR DIR2"):
        check_failures.hold_examples(
            "run", "http-500", _tests(("t[a]", "http.status", "cannot connect, said otherwise"))
        )


def test_recorded_runs_merge_into_one_example_per_check_kept_while_still_written(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only messages both recordings wrote count; the kept example wins over a shorter one; else the shortest."""
    messages = [("t[a]", "http.status", "cannot connect to http://127.0.0.1:5000/v1"), ("t[b]", "http.status", "500")]
    first, second = tmp_path / "first", tmp_path / "second"
    for directory, port in ((first, 5001), (second, 5002)):
        monkeypatch.setenv(check_failures.RECORD_VARIABLE, str(directory))
        variable = [("t[a]", "args.json", f"created {port}"), ("t[a]", "args.json", "... and more")]
        check_failures.hold_examples("run", "http-500", _tests(*messages, *variable))
    seen = check_failures.recorded(first) & check_failures.recorded(second)
    examples, missing = check_failures.choose(seen, check_failures.load_examples())
    assert examples["http.status"]["test"] == "t[a]" and "args.json" in missing
    examples, _ = check_failures.choose(seen, {})
    assert examples["http.status"] == {"fault": "http-500", "test": "t[b]", "message": "500"}
    assert check_failures.main([str(first), str(second)]) == 1  # checks without an example: nothing written
    assert json.loads(data.read_text())["about"] == ""
