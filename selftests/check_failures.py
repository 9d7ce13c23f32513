"""One example failure message for every check, each a message the suite wrote against the fault server.

The check reference shows them, so they must be real and current: the fault test that proves a check can fail
compares every example of its fault with what that run wrote (hold_examples), and a changed message fails there.

Regenerating: run the fault tests with TCC_RECORD_FAILURES=DIR (each proving run then writes the violations it saw
to a file of its own in DIR, so xdist workers never share one), then `python -m selftests.check_failures DIR...`.
Given several directories (the tests recorded more than once), only messages every one of them holds count: a
message that differs between runs is no example. An example still recorded is kept, so the file does not churn.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from toolcall_conformance import reference
from toolcall_conformance.judging.catalogue import all_checks

DATA = Path(__file__).resolve().parent.parent / reference.RECORDED_FAILURES  # where the check reference reads them
RECORD_VARIABLE = "TCC_RECORD_FAILURES"
REGENERATE = (
    f"{RECORD_VARIABLE}=DIR .venv/bin/python -m pytest -n 2 selftests/test_suite_against_faults.py "
    "selftests/test_generated_against_faults.py -p no:cacheprovider, twice with another DIR2, then "
    ".venv/bin/python -m selftests.check_failures DIR DIR2"
)
ABOUT = (
    "For every registered check, in the catalogue's order, one violation message the conformance suite wrote in "
    "results.json for the named test when run against the fault server (selftests/fault_server.py) with the named "
    "fault (Unix times, random uuids and the server's port replaced by <Unix time>, <Unix time in ms>, <uuid> and "
    "<port>), held true by the fault test that proves the check (selftests/test_suite_against_faults.py, "
    f"selftests/test_generated_against_faults.py); regenerate with {REGENERATE}."
)
# What differs from run to run in a message, and what stands for it in the file: the fault server's clock and
# random ids, the port it listens on. Recorded and compared messages alike are normalised so.
NORMALISED = (
    (re.compile(r"\b1[5-9]\d{11}\b"), "<Unix time in ms>"),
    (re.compile(r"\b1[5-9]\d{8}\b"), "<Unix time>"),
    (re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
)

Example = dict[str, str]  # {"fault", "test", "message"}
Seen = tuple[str, str, str, str]  # (check, fault, test, message)


def violations(tests: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(test, check, message) of every violation in results.json's test records: what an example is drawn from."""
    return [(record["test"], found["check"], found["message"]) for record in tests for found in record["violations"]]


def normalise(message: str) -> str:
    """The message with what would differ in the next run replaced by its placeholder (NORMALISED)."""
    for pattern, placeholder in NORMALISED:
        message = pattern.sub(placeholder, message)
    return message


def load_examples() -> dict[str, Example]:
    """The examples by check id; none while the file is not there yet (the unit test requires it)."""
    return json.loads(DATA.read_text(encoding="utf-8"))["examples"] if DATA.exists() else {}


def hold_examples(run: str, fault: str, tests: list[dict[str, Any]]) -> None:
    """Record this run's violations when TCC_RECORD_FAILURES is set; otherwise fail unless every example of this
    fault whose test the run holds is among that test's messages of its check: the run that made it compares it."""
    seen = violations(tests)
    directory = os.environ.get(RECORD_VARIABLE)
    if directory:  # a recording run takes what the suite writes now; the comparison is for the runs after it
        path = Path(directory) / f"{run}[{fault}].json"
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [{"test": test, "check": check, "message": message} for test, check, message in seen]
        path.write_text(json.dumps({"run": run, "fault": fault, "violations": records}, indent=1), encoding="utf-8")
        return
    ran = {record["test"] for record in tests}
    written = {(test, check, normalise(message)) for test, check, message in seen}
    stale = [
        f"{check} in {example['test']}: {example['message']!r}"
        for check, example in load_examples().items()
        if example["fault"] == fault
        and example["test"] in ran
        and (example["test"], check, example["message"]) not in written
    ]
    assert not stale, f"{DATA.name} shows messages this run no longer writes (regenerate: {REGENERATE}):\n" + "\n".join(
        stale
    )


def recorded(directory: Path) -> set[Seen]:
    """Every (check, fault, test, normalised message) the recording runs wrote to one directory."""
    found: set[Seen] = set()
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        found |= {(v["check"], document["fault"], v["test"], normalise(v["message"])) for v in document["violations"]}
    return found


def choose(seen: set[Seen], existing: dict[str, Example]) -> tuple[dict[str, Example], list[str]]:
    """An example per registered check, in the catalogue's order, and the checks left without one.

    The existing example when still recorded; else the shortest message (ties: by fault, then test), for a
    reference that is read, not scrolled."""
    examples: dict[str, Example] = {}
    missing = []
    for check in all_checks():
        candidates = sorted(
            (len(message), fault, test, message)
            for found, fault, test, message in seen
            if found == check and not message.startswith("...")  # "... and more": a count, not an example
        )
        kept = existing.get(check)
        if kept and any((kept["fault"], kept["test"], kept["message"]) == c[1:] for c in candidates):
            examples[check] = kept
        elif candidates:
            _, fault, test, message = candidates[0]
            examples[check] = {"fault": fault, "test": test, "message": message}
        else:
            missing.append(check)
    return examples, missing


def main(argv: list[str] | None = None) -> int:
    """Merge recorded directories into the data file; exit 1 (writing nothing) if a check got no example."""
    parser = argparse.ArgumentParser(prog="python -m selftests.check_failures", description=__doc__)
    parser.add_argument("directories", nargs="+", type=Path, help=f"directories the {RECORD_VARIABLE} runs wrote")
    arguments = parser.parse_args(argv)
    runs = [recorded(directory) for directory in arguments.directories]
    if not all(runs):
        parser.error("a directory holds no recorded run")
    examples, missing = choose(set.intersection(*runs), load_examples())
    if missing:
        print(f"no deterministic example recorded for: {', '.join(missing)}", file=sys.stderr)
        return 1
    document = {"about": ABOUT, "examples": examples}
    DATA.parent.mkdir(parents=True, exist_ok=True)
    DATA.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{DATA.relative_to(DATA.parents[2])}: {len(examples)} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
