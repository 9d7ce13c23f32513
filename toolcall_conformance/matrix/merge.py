"""matrix --merge: one matrix from column documents run on other machines (a CI system's job matrix).

The column runs are read back from their documents (column_document.run_of) and go through the same
document.build as a one-machine run, so differences, by_check and tests are what one machine would have
computed for those columns. Only what belongs to a run is the merge's own: "started" is the earliest column's
start, "wall_seconds" the columns' seconds added up (machine time, not the CI's wall-clock time), "command" the
merge's command line, and a column's "results" path is there only when its results.json came along.

The order is the one columns.plan gives, whatever order the files come in: release columns per parser (in the
tiny model's PARSERS order, hermes first), strict level (default, auto, function, parameter) and backend
(auto first, then BACKENDS' order), releases oldest first within each; then llama.cpp's column; then the
endpoint columns by label
(a one-machine run keeps them in the order given: name them so that their labels sort the way they compare,
e.g. 1-before and 2-after).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..target.launcher import AUTO_BACKEND, BACKENDS
from ..target.llamacpp import ENGINES
from ..target.tinymodel import PARSERS
from . import column_document
from .columns import DEFAULT_PARSER, NO_REASONING, REASONING_CHOICES, STRICT_CHOICES, VLLM, VLLM_DEFAULT, Column, plan
from .run import ColumnRun


def find(paths: Sequence[Path]) -> list[Path]:
    """The column documents: each file given, and every column.json under each folder given (any depth)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.rglob(column_document.FILE_NAME))
            if not inside:
                raise ValueError(f"{path}: no {column_document.FILE_NAME} in it or below it")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    return list(dict.fromkeys(path.resolve() for path in found))  # a file reached twice counts once


def read(paths: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every column document found, checked to be of one suite version and to name each column once."""
    documents = [(path, column_document.load(path)) for path in find(paths)]
    versions = {document.get("suite") for _, document in documents}
    if len(versions) > 1:
        said = "; ".join(f"{path}: {document.get('suite')}" for path, document in documents)
        raise ValueError(f"column documents of different suite versions cannot be merged ({said})")
    where: dict[str, Path] = {}
    for path, document in documents:
        label = document["column"]["label"]
        if label in where:
            raise ValueError(f"two column documents are both column {label!r}: {where[label]} and {path}")
        where[label] = path
    return documents


def runs(paths: Sequence[Path]) -> tuple[list[ColumnRun], list[dict[str, Any]]]:
    """The column runs of the documents found, in matrix order, with their documents in the same order."""
    read_back = [(column_document.run_of(document, path.parent), document) for path, document in read(paths)]
    by_label = {run.column.label: (run, document) for run, document in read_back}
    order = ordered([run.column for run, _ in read_back])
    merged = [by_label[column.label] for column in order]
    return [run for run, _ in merged], [document for _, document in merged]


def ordered(columns: Sequence[Column]) -> list[Column]:
    """The columns in the order columns.plan gives them (see the module's docstring); ValueError if it cannot."""
    releases = [column for column in columns if column.release]
    endpoints = sorted((column for column in columns if not column.release), key=lambda column: column.label)
    vllm = [column for column in releases if column.engine == VLLM]
    planned = plan(
        sorted({str(column.release) for column in vllm}),
        _in_order_of(PARSERS, [column.parser for column in vllm]) or [DEFAULT_PARSER],
        _in_order_of(STRICT_CHOICES, [column.strict_level or VLLM_DEFAULT for column in vllm]) or [VLLM_DEFAULT],
        backends=_in_order_of(BACKENDS, [column.backend for column in vllm]) or [AUTO_BACKEND],
        engines=_in_order_of(ENGINES, [column.engine for column in releases]),
        reasonings=_in_order_of(REASONING_CHOICES, [column.reasoning or NO_REASONING for column in vllm])
        or [NO_REASONING],
    )
    position = {_settings(column): index for index, column in enumerate(planned)}
    for column in releases:
        if _settings(column) not in position:
            said = f"engine {column.engine}, release {column.release}, parser {column.parser}"
            raise ValueError(f"column {column.label!r}: not a column this suite plans ({said})")
        expected = planned[position[_settings(column)]].label
        if column.label != expected:
            raise ValueError(f"column {column.label!r}: its settings make the label {expected!r}")
    return sorted(releases, key=lambda column: position[_settings(column)]) + endpoints


def _in_order_of(known: Sequence[str], used: Sequence[str]) -> list[str]:
    # Unknown values go last, so that plan refuses them with its own message.
    return sorted(set(used), key=lambda value: (known.index(value), "") if value in known else (len(known), value))


def _settings(column: Column) -> tuple[str, str | None, str, str | None, str, str | None]:
    return column.engine, column.release, column.parser, column.strict_level, column.backend, column.reasoning


def started_and_seconds(documents: Sequence[dict[str, Any]]) -> tuple[str, float]:
    """The earliest column's start, and the columns' seconds added up."""
    starts = [document["started"] for document in documents if isinstance(document.get("started"), str)]
    seconds = sum(float(document.get("wall_seconds") or 0) for document in documents)
    return (min(starts) if starts else ""), seconds
