"""The contract's coverage map (schemas/contract.json): which check enforces each statement of OpenAI's contract.

python -m toolcall_conformance contract prints the coverage table docs/reference/contract.md shows; with --check it exits 1
when the map and the suite disagree: a check no statement names, a statement naming no check that exists, or a
field of openai-python's response models that no statement covers (as after an SDK upgrade adds one).
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .data import CONTRACT_FILE

OBJECTS = ("chat.completion", "chat.completion.chunk")


@dataclass(frozen=True)
class Statement:
    """One statement of the contract and what the suite does about it."""

    id: str
    object: str
    fields: tuple[str, ...]
    says: str
    source: str
    checks: tuple[str, ...] = ()
    out_of_scope: str = ""


def statements() -> list[Statement]:
    """The map's statements, in the file's order."""
    document = json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))
    return [
        Statement(
            entry["id"],
            entry["object"],
            tuple(entry["fields"]),
            entry["says"],
            entry["source"],
            tuple(entry.get("checks", ())),
            entry.get("out_of_scope", ""),
        )
        for entry in document["statements"]
    ]


def _model_types(annotation: Any) -> Iterator[tuple[str, Any]]:
    """The types inside an annotation, each with "[]" when it sits in a list."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _model_types(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for argument in typing.get_args(annotation):
            yield from _model_types(argument)
    elif origin is list:
        yield from (("[]" + suffix, inner) for suffix, inner in _model_types(typing.get_args(annotation)[0]))
    else:
        yield "", annotation


def model_fields(model: Any, prefix: str = "") -> list[str]:
    """Every field path of a pydantic model, nested models walked into: "choices[].delta.tool_calls[].index"."""
    from pydantic import BaseModel

    paths = []
    for name, info in model.model_fields.items():
        path = prefix + name
        paths.append(path)
        for suffix, inner in _model_types(info.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                paths.extend(model_fields(inner, f"{path}{suffix}."))
    return list(dict.fromkeys(paths))


def response_fields() -> dict[str, list[str]]:
    """The field paths of openai-python's ChatCompletion and ChatCompletionChunk."""
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    return {"chat.completion": model_fields(ChatCompletion), "chat.completion.chunk": model_fields(ChatCompletionChunk)}


def covers(pattern: str, path: str) -> bool:
    """Whether a map field ("usage" or "moderation.*") covers a model field path."""
    if pattern.endswith(".*"):
        stem = pattern[:-2]
        return path == stem or path.startswith(stem + ".") or path.startswith(stem + "[]")
    return pattern == path


def problems(check_ids: set[str] | None = None) -> list[str]:
    """Where the map and the suite disagree; empty when they agree."""
    if check_ids is None:
        from .judging.catalogue import all_checks

        check_ids = set(all_checks())
    found = []
    entries = statements()
    ids = [entry.id for entry in entries]
    found += [f"statement id {name!r} used twice" for name in sorted({i for i in ids if ids.count(i) > 1})]
    named = {check for entry in entries for check in entry.checks}
    found += [f"check {name} enforces no statement of the map" for name in sorted(check_ids - named)]
    found += [f"the map names check {name}, which does not exist" for name in sorted(named - check_ids)]
    fields = response_fields()
    for kind, paths in fields.items():
        patterns = [pattern for entry in entries if entry.object == kind for pattern in entry.fields]
        found += [
            f"{kind} field {path} has no statement" for path in paths if not any(covers(p, path) for p in patterns)
        ]
        found += [
            f"{kind} map field {p} is no field of openai-python's model"
            for p in patterns
            if not any(covers(p, path) for path in paths)
        ]
    return found


def coverage() -> dict[str, int]:
    """How many statements a check enforces, how many are out of scope, and all."""
    entries = statements()
    covered = sum(1 for entry in entries if entry.checks)
    return {"covered": covered, "out of scope": len(entries) - covered, "total": len(entries)}


def markdown_table() -> str:
    """The coverage table as docs/reference/contract.md shows it: counts, then one row per statement."""
    counts = coverage()
    lines = [
        f"{counts['total']} statements: {counts['covered']} enforced by a check, {counts['out of scope']} out of scope.",
        "",
        "| statement | object: fields | says | source | enforced by |",
        "|---|---|---|---|---|",
    ]
    for entry in statements():
        where = entry.object + (": " + ", ".join(f"`{field}`" for field in entry.fields) if entry.fields else "")
        enforced = ", ".join(f"`{check}`" for check in entry.checks) or f"out of scope: {entry.out_of_scope}"
        lines.append(f"| `{entry.id}` | {where} | {entry.says} | {entry.source} | {enforced} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance contract", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--check", action="store_true", help="exit 1 when the map and the suite disagree")
    options = parser.parse_args(argv)
    if options.check:
        found = problems()
        for problem in found:
            print(problem)
        print(f"contract map: {'disagrees with the suite' if found else 'agrees with the suite and the SDK'}")
        return 1 if found else 0
    print(markdown_table())
    return 0
