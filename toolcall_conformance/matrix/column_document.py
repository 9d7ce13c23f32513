"""One column's document (matrix --column): all that a matrix merged from columns run elsewhere needs of it.

    {"format": "toolcall-conformance/matrix-column/1", "suite": "0.1.0", "started": ..., "wall_seconds": ...,
     "command": ..., "column": {the column's entry in matrix.json}, "cells": {TEST: {"verdict", "checks"}},
     "results": {"target": {...}, "totals": {...}, "collected": [...], "tests": [...]} or null}

"results" is the column's results.json cut down to what the matrix reads of it: the target facts and totals
its entry shows, and what the baseline diff between two columns (compare.diff, with compare.run_expectations)
reads: the collected test ids and, per test, its id, verdict, MUST violations (their check ids make the
checks, the first message a failure's reason), the note of a test that judged nothing (its reason) and the
record of a generated test (its checks are a minimal example's). So a merge needs no other file.

"cells" are the column's verdicts as matrix.json's "tests" hold them, there to be read in a job's artifact
without the suite. A merge computes them again from "results", as a one-machine matrix does, and refuses a
document whose "cells" say otherwise (one edited by hand, or made by a suite that reads its results otherwise).

Like matrix.json it holds no secret (the caller passes it through Secrets.data), and no absolute path of the
machine it ran on, its command line and the reasons it quotes included: OUT (the document's folder) is ".",
so paths inside it are relative to the document; the folder of the release venvs (--venvs) is "VENVS"; the
home folder is "~".
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .. import __version__
from ..judging.verdict import JUDGED, Level
from ..redact import map_strings
from . import document as matrix_document
from .columns import VLLM, VLLM_DEFAULT, Column
from .run import ColumnRun, Status

FORMAT = "toolcall-conformance/matrix-column/1"
FILE_NAME = "column.json"
# The target facts a column's entry in matrix.json shows (document.build reads them from results.json).
_TARGET_FACTS = ("server_version", "engine_build", "packages", "startup_seconds")


def build(run: ColumnRun, *, started: str, wall_seconds: float, command: str, out: Path, venvs: Path) -> dict[str, Any]:
    """The document of one column run, made by the same document.build a one-machine matrix uses."""
    one = matrix_document.build([run], started=started, wall_seconds=wall_seconds, command=command, out=out)
    document = {
        "format": FORMAT,
        "suite": __version__,
        "started": one["started"],
        "wall_seconds": one["wall_seconds"],
        "command": one["command"],
        "column": one["columns"][0],
        "cells": matrix_document.cells_of(run),
        "results": for_merging(run.results) if run.results is not None else None,
    }
    return without_machine_paths(document, out, venvs)


def for_merging(results: dict[str, Any]) -> dict[str, Any]:
    """A results.json cut down to what document.build and compare.diff read of it."""
    target = results.get("target") or {}
    kept: dict[str, Any] = {
        "target": {fact: target[fact] for fact in _TARGET_FACTS if fact in target},
        "totals": results.get("totals", {}),
        "tests": [_record(record) for record in results["tests"]],
    }
    if "collected" in results:
        kept["collected"] = results["collected"]  # diff tells a removed test from one that did not run by it
    return kept


def _record(record: dict[str, Any]) -> dict[str, Any]:
    # Only MUST violations count (expectations.from_results); a SHOULD one neither fails nor gives a reason.
    must = [
        {"check": violation["check"], "level": violation["level"], "message": violation["message"]}
        for violation in record["violations"]
        if violation["level"] == Level.MUST
    ]
    kept: dict[str, Any] = {"test": record["test"], "verdict": record["verdict"], "violations": must}
    if record["verdict"] not in JUDGED and record.get("note"):
        kept["note"] = record["note"]
    if isinstance(record.get("generated"), dict):
        kept["generated"] = record["generated"]
    return kept


def without_machine_paths(value: Any, out: Path, venvs: Path) -> Any:
    """The data with OUT written ".", the venvs folder "VENVS" and the home folder "~", wherever they appear."""
    names = {}
    for folder, name in ((Path.home(), "~"), (Path(venvs), "VENVS"), (Path(out), ".")):
        for spelling in (str(folder.absolute()), str(folder.resolve())):
            if spelling != os.sep:  # a folder that is the root would make every path "."
                names[spelling] = name
    # Longest first, so that an OUT inside the home folder is "." and not "~/...". A folder's name ends at a
    # separator, a space, a quote or the like (its path, a command-line word, a word of a sentence): /tmp/out is
    # not the start of /tmp/outside or /tmp/out.json.
    ends = r"(?=$|[/\s'\"=:;,()\[\]])"
    folders = re.compile("|".join(re.escape(spelling) + ends for spelling in sorted(names, key=len, reverse=True)))

    def relative(text: str) -> str:
        return folders.sub(lambda found: names[found.group(0)], text)

    return map_strings(value, relative)


# ---------------------------------------------------------------- reading one back


def load(path: Path) -> dict[str, Any]:
    """A column document; ValueError naming the file when it is none."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read a column document: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("format"), str):
        raise ValueError(f"{path}: not a column document (format {FORMAT})")
    if document["format"] != FORMAT:
        raise ValueError(f"{path}: format {document['format']}, but this suite merges {FORMAT}")
    entry, results = document.get("column"), document.get("results")
    if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or entry.get("status") not in set(Status):
        raise ValueError(f"{path}: a column document needs 'column' with a 'label' and a matrix column's 'status'")
    if ("release" in entry) == ("endpoint" in entry):
        raise ValueError(f"{path}: a column is a 'release' or an 'endpoint', exactly one of the two")
    settings = ("release", "tool_call_parser", "strict_level", "structured_outputs_backend")
    if "release" in entry and not all(isinstance(entry.get(key), str) for key in settings):
        raise ValueError(f"{path}: a release column needs {', '.join(settings)}")
    if "reasoning_parser" in entry and not isinstance(entry["reasoning_parser"], str):
        raise ValueError(f"{path}: a column's 'reasoning_parser' is the name of one, or left out for none")
    if "endpoint" in entry and not isinstance(entry["endpoint"], str):
        raise ValueError(f"{path}: an endpoint column's 'endpoint' is its URL")
    if results is not None and not (isinstance(results, dict) and isinstance(results.get("tests"), list)):
        raise ValueError(f"{path}: 'results' must be null or hold a list of 'tests'")
    # The cells build wrote, made again the same way from the results that came along.
    read_back = ColumnRun(column_of(entry), Status(entry["status"]), results=results)
    try:
        cells = matrix_document.cells_of(read_back)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: its 'results' cannot be read as a run's verdicts: {exc!r}") from None
    if document.get("cells") != cells:
        raise ValueError(f"{path}: its 'cells' are not the verdicts its 'results' give (was it edited?)")
    return document


def column_of(entry: dict[str, Any]) -> Column:
    """The Column an entry of matrix.json describes (an endpoint's URL is the one without credentials)."""
    if "release" not in entry:
        return Column(label=entry["label"], endpoint=entry.get("endpoint"))
    strict_level = entry.get("strict_level", VLLM_DEFAULT)
    return Column(
        label=entry["label"],
        release=entry["release"],
        parser=entry["tool_call_parser"],
        strict_level=None if strict_level == VLLM_DEFAULT else strict_level,
        backend=entry["structured_outputs_backend"],
        engine=entry.get("engine", VLLM),
        reasoning=entry.get("reasoning_parser"),
    )


def run_of(document: dict[str, Any], folder: Path) -> ColumnRun:
    """The column run a document records; its results.json path when that file is beside it (a whole OUT)."""
    entry = document["column"]
    results_path = Path(folder) / entry["results"] if isinstance(entry.get("results"), str) else None
    return ColumnRun(
        column=column_of(entry),
        status=Status(entry["status"]),
        reason=entry.get("reason", ""),
        results=document.get("results"),
        results_path=results_path.resolve() if results_path is not None and results_path.is_file() else None,
        install_seconds=entry.get("install_seconds", 0.0),
        suite_seconds=entry.get("suite_seconds", 0.0),
        exit_status=entry.get("exit_status"),
    )
