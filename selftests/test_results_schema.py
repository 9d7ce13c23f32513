"""schemas/results.schema.json documents results.json: real runs of the suite validate, broken documents do not."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from jsonschema import Draft202012Validator

from selftests.fault_server import FaultServer
from selftests.suite_run import REPO, run_suite
from selftests.test_generated_against_faults import run_generated
from toolcall_conformance.judging.catalogue import all_checks
from toolcall_conformance.judging.generated import Outcome
from toolcall_conformance.judging.verdict import NOT_JUDGED, Verdict
from toolcall_conformance.reporting.compare import diff
from toolcall_conformance.reporting.expectations import FORMAT, Change, Expected
from toolcall_conformance.settings import Settings
from toolcall_conformance.target.launcher import BACKENDS
from toolcall_conformance.target.llamacpp import ENGINES

SCHEMA = json.loads((REPO / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)
SEED = "weather-seed and not strict"
SEED_REQUIRED = "weather-seed and not strict and test_required"
CURATED = "test_required or test_named or test_parallel_off or test_stream_matches_blocking"


def problems(document: dict[str, Any]) -> list[str]:
    """Every place the document breaks the schema, as 'path: message'."""
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}" for error in errors]


# ---------------------------------------------------------------- the schema itself


def test_the_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def properties_of(schema: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every property definition anywhere in the schema, with its path."""
    if isinstance(schema, dict):
        for name, definition in schema.get("properties", {}).items():
            yield f"{path}/{name}", definition
        for key, value in schema.items():
            yield from properties_of(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from properties_of(value, f"{path}/{index}")


def test_every_property_and_definition_is_described():
    undescribed = [path for path, definition in properties_of(SCHEMA) if "description" not in definition]
    undescribed += [f"$defs/{name}" for name, definition in SCHEMA["$defs"].items() if "description" not in definition]
    assert undescribed == []


def test_enums_match_the_code():
    definitions, record = SCHEMA["$defs"], SCHEMA["$defs"]["record"]["properties"]
    assert {verdict.value for verdict in Verdict} <= set(definitions["verdict"]["enum"])
    assert set(record["outcome"]["enum"]) == {outcome.value for outcome in Outcome}
    assert set(record["expectation"]["enum"]) == {change.value for change in Change}
    by_verdict = SCHEMA["properties"]["judged"]["properties"]["by_verdict"]["propertyNames"]["enum"]
    assert set(by_verdict) == {verdict.value for verdict in NOT_JUDGED}
    options, target = SCHEMA["properties"]["options"]["properties"], SCHEMA["properties"]["target"]["properties"]
    assert options["target_backend"]["enum"] == list(BACKENDS) == target["structured_outputs_backend"]["enum"]
    assert options["target_engine"]["enum"] == list(ENGINES) == target["engine"]["enum"]


def test_every_registered_check_id_matches_the_check_id_pattern():
    ids = list(all_checks())
    check_id = {"$ref": "#/$defs/check_id", "$defs": SCHEMA["$defs"]}
    assert [check for check in ids if not Draft202012Validator(check_id).is_valid(check)] == []


def test_every_option_is_documented():
    options = {field.name for field in dataclasses.fields(Settings)} - {"api_key"}
    assert options - SCHEMA["properties"]["options"]["properties"].keys() == set()


# ---------------------------------------------------------------- real runs


def run_against(pytester: pytest.Pytester, fault: str, *args: str) -> dict[str, Any]:
    with FaultServer(fault) as server:
        _, document = run_suite(pytester, server.base_url, *args)
    assert document, "no results.json written"
    return document


def verdicts(document: dict[str, Any]) -> set[str]:
    return {record["verdict"] for record in document["tests"]}


def test_a_run_against_a_correct_server_validates(pytester: pytest.Pytester):
    document = run_against(pytester, "none", "-k", SEED)
    assert problems(document) == []
    assert verdicts(document) == {"pass"}
    assert document["suite"]["judged_with"]["openai"] == openai.__version__  # the SDK the sdk.* checks ran
    if "collected" in document:  # before -k deselected all but these
        assert {record["test"] for record in document["tests"]} < set(document["collected"])


def test_a_failing_run_validates_and_its_reproducers_are_relative_to_the_run_directory(pytester: pytest.Pytester):
    document = run_against(pytester, "args-schema-violation", "-k", SEED)
    assert problems(document) == []
    assert "fail" in verdicts(document)
    run_dir = pytester.path / "reports" / "latest"
    reproducers = [record["reproducer"] for record in document["tests"] if record["reproducer"]]
    assert reproducers and all((run_dir / reproducer).is_file() for reproducer in reproducers)
    schema_violations = [v for record in document["tests"] for v in record["violations"] if v["check"] == "args.schema"]
    assert any("pointer" in violation for violation in schema_violations)


def test_a_run_whose_server_dies_validates(pytester: pytest.Pytester):
    document = run_against(pytester, "die-after-3", "--concurrency=2", "-k", CURATED)
    assert problems(document) == []
    assert document["server_death"] and "not run" in verdicts(document)


def test_a_repeated_run_validates(pytester: pytest.Pytester):
    document = run_against(pytester, "none", "--repeat=2", "-k", SEED_REQUIRED)
    assert problems(document) == []
    assert {(record["repeat"], record["pass_all"]) for record in document["tests"]} == {(2, True)}


def test_a_run_with_expectations_validates(pytester: pytest.Pytester, tmp_path: Path):
    tests = {f"test_required[weather-seed-{mode}]": {"verdict": "pass"} for mode in ("blocking", "stream")}
    path = tmp_path / "expected.json"
    path.write_text(json.dumps({"format": FORMAT, "tests": tests}))
    document = run_against(pytester, "args-schema-violation", f"--baseline={path}", "-k", SEED_REQUIRED)
    assert problems(document) == []
    assert {record["expectation"] for record in document["tests"]} == {"regression"}
    if "baseline" in document:
        assert [entry["test"] for entry in document["baseline"]["regressions"]] == sorted(tests)


@pytest.mark.parametrize(
    ("fault", "selection", "outcome"),
    [("ignore-maximum", "blocking-required-strict", "fail"), ("refuse-pattern", "blocking-required-plain", "refused")],
)
def test_runs_of_the_generated_tests_validate(pytester: pytest.Pytester, fault: str, selection: str, outcome: str):
    _, records = run_generated(pytester, fault, selection)
    document = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert problems(document) == []
    assert [record["outcome"] for record in records.values()] == [outcome]
    assert all("generated" in record for record in records.values())


# ---------------------------------------------------------------- what it rejects


def minimal_document() -> dict[str, Any]:
    """A valid results.json with one failed test."""
    return {
        "suite": {"name": "toolcall-conformance", "version": "0.1.0"},
        "complete": True,
        "started": "2026-01-02T03:04:05Z",
        "finished": "2026-01-02T03:04:09Z",
        "target": {"endpoint": "http://127.0.0.1:8000/v1", "model": "m", "server_version": None},
        "options": {
            "endpoint": "http://127.0.0.1:8000/v1",
            "model": None,
            "request_timeout": 60.0,
            "max_tokens": 256,
            "seed": 1234,
            "temperature": None,
            "concurrency": 16,
            "repeat": 1,
        },
        "requests_sent": 1,
        "request_phase_seconds": 0.5,
        "requests_seconds": 0.4,
        "server_death": None,
        "exit_status": 0,
        "totals": {"fail": 1},
        "judged": {
            "tests": 1,
            "unjudged": 0,
            "by_verdict": {"truncated": 0, "inconclusive": 0},
            "max_unjudged": 0.5,
            "too_little": False,
        },
        "tests": [
            {
                "test": "test_required[weather-seed-blocking]",
                "feature": "weather-seed",
                "mode": "blocking",
                "choice": "required",
                "verdict": "fail",
                "checks": {"http.status": "pass", "args.schema": "fail"},
                "violations": [{"check": "args.schema", "level": "MUST", "message": "at /city: not a string"}],
                "note": "",
                "duration": 0.4,
                "retries": [],
                "reproducer": "reproducers/test_required_weather-seed-blocking.json",
            }
        ],
    }


def test_the_minimal_document_validates_with_every_optional_extra():
    document = minimal_document()
    assert problems(document) == []
    document["collected"] = ["test_required[weather-seed-blocking]", "test_required[weather-seed-stream]"]
    document["hypothesis"] = {"profile": "ci", "seed": None}
    baseline = {test: Expected("pass") for test in document["collected"]} | {
        "test_required[gone]": Expected("fail", frozenset({"call.id"}))
    }
    document["baseline"] = diff(baseline, document, against="old.json").to_json()
    document["tests"][0].update(expectation="regression", repeat=3, passed=2, pass_rate=0.667, pass_all=False)
    assert problems(document) == []
    assert [len(document["baseline"][kind]) for kind in ("regressions", "not_run", "removed")] == [1, 1, 1]


def broken(change: str) -> dict[str, Any]:
    """The minimal document with one thing broken."""
    document = copy.deepcopy(minimal_document())
    record = document["tests"][0]
    if change == "unknown verdict":
        record["verdict"] = "skipped"
    elif change == "unknown check result":
        record["checks"]["args.schema"] = "broken"
    elif change == "malformed check id":
        record["violations"][0]["check"] = "Args Schema"
    elif change == "record without checks":
        del record["checks"]
    elif change == "unknown record key":
        record["verdit"] = "pass"
    elif change == "absolute reproducer":
        record["reproducer"] = "/tmp/reports/runs/x/reproducers/t.json"
    elif change == "repeat without pass rate":
        record["repeat"] = 2
    elif change == "credentials in the endpoint":
        document["target"]["endpoint"] = "http://user:secret@127.0.0.1:8000/v1"
    elif change == "unknown verdict in totals":
        document["totals"] = {"failed": 1}
    elif change == "no requests_seconds":
        del document["requests_seconds"]
    elif change == "unjudged share over 1":
        document["judged"]["max_unjudged"] = 2
    elif change == "unjudged by a judged verdict":
        document["judged"]["by_verdict"]["pass"] = 1
    return document


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ("unknown verdict", "tests/0/verdict: 'skipped' is not one of"),
        ("unknown check result", "tests/0/checks/args.schema: 'broken' is not one of"),
        ("malformed check id", "tests/0/violations/0/check: 'Args Schema' does not match"),
        ("record without checks", "tests/0: 'checks' is a required property"),
        ("unknown record key", "tests/0: Additional properties are not allowed ('verdit' was unexpected)"),
        ("absolute reproducer", "tests/0/reproducer: '/tmp/reports/runs/x/reproducers/t.json' is not valid"),
        ("repeat without pass rate", "tests/0: 'passed' is a dependency of 'repeat'"),
        ("credentials in the endpoint", "target/endpoint: 'http://user:secret@127.0.0.1:8000/v1' does not match"),
        ("unknown verdict in totals", "totals: 'failed' is not one of"),
        ("no requests_seconds", ": 'requests_seconds' is a required property"),
        ("unjudged share over 1", "judged/max_unjudged: 2 is greater than the maximum of 1"),
        ("unjudged by a judged verdict", "judged/by_verdict: 'pass' is not one of"),
    ],
)
def test_a_broken_document_is_rejected(change: str, where: str):
    found = problems(broken(change))
    assert found and found[0].startswith(where), found
