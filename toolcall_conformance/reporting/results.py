"""results.json: its name, how a judgement becomes a record, and how reports and comparisons read a document.

report.py writes the document (RunRecorder); html_report.py, summary_md.py and compare.py read it through the
functions here, so what a record holds is known in one place (schemas/results.schema.json describes it). No
jsonschema and no HTML here, so that `python -m toolcall_conformance compare` starts fast.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..judging.verdict import NEEDS_ATTENTION, Judgement, Verdict, Violation, severity
from ..redact import url_without_credentials
from .expectations import Change

RESULTS_FILE = "results.json"

Record = dict[str, Any]
Document = dict[str, Any]

# The four lists every baseline diff has, then lists shown only when a diff has them: (key, label).
BASELINE_LISTS = (("regressions", "regressions"), ("fixes", "fixed"), ("new", "new"), ("removed", "removed"))
BASELINE_EXTRA_LISTS = (("changed", "changed"), ("not_run", "not run"))


# ---------------------------------------------------------------- writing


def file_stem(test_id: str) -> str:
    """A test id as a file name without extension: test_required[a-b] -> test_required_a-b."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", test_id).strip("_")


def violation_record(violation: Violation) -> dict[str, Any]:
    """A violation as results.json, reproducers and generated logs hold it."""
    return {"check": violation.check, "level": violation.level.value, "message": violation.message, **violation.data}


def record_of(judgement: Judgement, labels: dict[str, str]) -> Record:
    """A judgement as a record of results.json's "tests"; labels are its place in the report matrix."""
    must = set(judgement.must_checks)  # a check's own result is named like a verdict: pass, fail or warn
    broken = {check: (Verdict.FAIL if check in must else Verdict.WARN).value for check in judgement.failed_checks}
    return {
        "test": judgement.test_id,
        **labels,
        "verdict": judgement.verdict.value,
        "checks": {check: broken.get(check, Verdict.PASS.value) for check in judgement.judged},
        "violations": [violation_record(violation) for violation in judgement.violations],
        "note": judgement.note,
        "duration": round(sum(e.elapsed for e in judgement.exchanges), 3),
        "retries": [retry for exchange in judgement.exchanges for retry in exchange.retries],
        "reproducer": judgement.reproducer,
        **judgement.extra,
    }


# ---------------------------------------------------------------- reading records


def tests_of(document: Document) -> list[Record]:
    """The document's test records (anything that is no record left out)."""
    return [record for record in document.get("tests") or [] if isinstance(record, dict) and "test" in record]


def record_verdict(record: Record) -> str:
    """A record's verdict, 'unknown' when it has none."""
    return str(record.get("verdict") or "unknown")


def outcome_of(record: Record) -> str | None:
    """A generated test's outcome (generated.Outcome: refused, server-error, ...); None for other tests."""
    outcome = record.get("outcome")
    return str(outcome) if outcome else None


def is_generated(record: Record) -> bool:
    """A generated (Hypothesis) test's record: its checks are those of the minimal failing example it reached."""
    return isinstance(record.get("generated"), dict)


def placement(record: Record) -> tuple[str, str, str] | None:
    """(feature, mode, choice): the record's place in the report matrix, None for a test that has none."""
    if record.get("feature") and record.get("mode"):
        return str(record["feature"]), str(record["mode"]), str(record.get("choice") or "")
    return None


def is_regression(record: Record) -> bool:
    return record.get("expectation") == Change.REGRESSION


def needs_attention(record: Record) -> bool:
    """Failures, warnings (refusals of generated tests among them), errors, timeouts and regressions."""
    return record_verdict(record) in NEEDS_ATTENTION or is_regression(record)


def attention_key(record: Record) -> tuple[bool, int]:
    """Regressions first, then by severity: the order of failure lists, and which test a report cell shows."""
    return not is_regression(record), severity(record_verdict(record))


def attention_order(records: Iterable[Record]) -> list[Record]:
    """The tests that need attention, regressions first, then by severity, then in run order."""
    return sorted((record for record in records if needs_attention(record)), key=attention_key)


def broken_checks(record: Record) -> list[str]:
    """The ids of the checks a test broke, failed (MUST) ones first."""
    checks = record.get("checks") or {}
    broken = [check for check, state in checks.items() if state == Verdict.FAIL]
    broken += [check for check, state in checks.items() if state == Verdict.WARN]
    for violation in record.get("violations") or []:
        if violation.get("check") and violation["check"] not in broken:
            broken.append(violation["check"])
    return broken


# ---------------------------------------------------------------- reading the run


def totals_of(document: Document) -> Counter[str]:
    """Tests per verdict, counted from the records (the totals field may predate a merge)."""
    return Counter(record_verdict(record) for record in tests_of(document))


def ordered_verdicts(totals: Iterable[str]) -> list[str]:
    """Verdicts most severe first."""
    return sorted(totals, key=severity)


def tests_count(count: int) -> str:
    return f"{count} test{'s' if count != 1 else ''}"


def endpoint_of(document: Document) -> str:
    """The target's endpoint without credentials."""
    target = document.get("target") or {}
    endpoint = target.get("endpoint") or (document.get("options") or {}).get("endpoint") or ""
    return url_without_credentials(str(endpoint)) if endpoint else "embedded target"


def model_of(document: Document) -> str:
    target = document.get("target") or {}
    return str(target.get("model") or (document.get("options") or {}).get("model") or "unknown model")


def server_of(document: Document) -> str:
    """The server as a report's title names it: vLLM by its GET /version, the embedded llama.cpp by its build."""
    target = document.get("target") or {}
    if target.get("engine") == "llamacpp" and target.get("engine_build"):
        return f"llama.cpp {target['engine_build']}"
    version = target.get("server_version")
    return f"vLLM {version}" if version else "server version unknown"


def sdk_of(document: Document) -> str:
    """The openai-python that judged the sdk.* checks, as "openai-python 3.60.0" ("" when not recorded)."""
    judged_with = (document.get("suite") or {}).get("judged_with")
    version = judged_with.get("openai") if isinstance(judged_with, dict) else None
    return f"openai-python {version}" if version else ""


def death_of(document: Document) -> str:
    """How the server died, without the 'SERVER DIED:' the terminal line puts before it."""
    return re.sub(r"^\s*SERVER DIED:?\s*", "", str(document.get("server_death") or ""))


def baseline_lists(document: Document) -> list[tuple[str, list[dict[str, Any]]]] | None:
    """The baseline diff as (label, items), regressions first, or None when the run was not compared."""
    baseline = document.get("baseline")
    if not isinstance(baseline, dict):
        return None
    lists = [(label, _baseline_items(baseline, name)) for name, label in BASELINE_LISTS]
    lists += [(label, _baseline_items(baseline, name)) for name, label in BASELINE_EXTRA_LISTS if baseline.get(name)]
    return lists


def _baseline_items(baseline: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = baseline.get(name)
    return [_baseline_item(item) for item in items] if isinstance(items, list) else []


def _baseline_item(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        return {"test": str(item), "checks": []}
    checks = item.get("checks") or []
    if isinstance(checks, dict):
        checks = [check for check, state in checks.items() if state != Verdict.PASS] or list(checks)
    elif isinstance(checks, str):
        checks = [checks]
    return {**item, "test": str(item.get("test", "?")), "checks": [str(check) for check in checks]}


def transition(item: dict[str, Any]) -> str:
    """'fail → pass' when a baseline item says what the verdict was and is."""
    before = _verdict_in(item.get("was", item.get("before")))
    after = _verdict_in(item.get("now", item.get("after", item.get("verdict"))))
    return f"{before} → {after}" if before and after else ""


def _verdict_in(state: Any) -> str | None:
    if isinstance(state, dict):
        state = state.get("verdict")
    return str(state) if state else None


# ---------------------------------------------------------------- loading a results.json


def results_file(path: Path) -> Path:
    """A results.json given as the file or as its run directory (e.g. reports/latest)."""
    return path / RESULTS_FILE if path.is_dir() else path


def read_json(path: Path) -> Any:
    """A JSON file's content; a ValueError that names the file and the problem when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None


def load_results(path: Path) -> Document:
    """A run's results.json, given as the file or as its run directory (e.g. reports/latest)."""
    path = results_file(Path(path))
    return valid_results(path, read_json(path))


def valid_results(path: Path, document: Any) -> Document:
    """The document, if it has what comparisons read; else a ValueError naming what it lacks."""
    problem = _results_problem(document)
    if problem:
        raise ValueError(f"{path}: not a valid results.json: {problem}")
    return document


def _results_problem(document: Any) -> str | None:
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list):
        return 'no list of "tests"'
    if "collected" in document and not is_string_list(document["collected"]):
        return '"collected" is not a list of test ids'
    for index, record in enumerate(document["tests"]):
        if not isinstance(record, dict):
            return f"tests[{index}] is not an object"
        for key, kind in (("test", str), ("verdict", str), ("violations", list)):
            if not isinstance(record.get(key), kind):
                return f'tests[{index}] has no "{key}" ({kind.__name__})'
        if not all(isinstance(v, dict) and {"check", "level"} <= v.keys() for v in record["violations"]):
            return f"tests[{index}]: a violation without check or level"
    return None


def is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
