"""What generated tests leave to read: a failure's explanation, its reproducer, each test's log of examples
(generated/<test>.json), and the keyword table made from those logs.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..inputs.strategies import Tool
from ..jsontext import indent
from ..judging.generated import Example, Outcome, Tally
from .explain import curl_line, exchange_lines, render
from .results import violation_record


def explain(example: Example, seed: int | str | None, reproducer: str | None, replay: str) -> str:
    """The failure message: what broke, the minimal tool set, the request JSON, curl line, response, replay."""
    judgement = example.judgement
    judgement.reproducer = reproducer
    head = render(judgement) if example.outcome is Outcome.FAIL else _short_render(example)
    lines = [
        f"generated example: {example.outcome.value}"
        + (f"; schema keywords broken: {', '.join(example.broken)}" if example.broken else ""),
        f"tool set uses: {', '.join(example.keywords) or '(no keywords)'}",
        "minimal tool set:",
        indent(json.dumps(example.tools, indent=2, ensure_ascii=False)),
        "",
        head,
        "",
        "request JSON:",
        indent(json.dumps(example.exchange.request, indent=2, ensure_ascii=False)),
        "",
        f"replay: {replay}",
    ]
    return "\n".join(lines)


def _short_render(example: Example) -> str:
    lines = [f"{example.judgement.test_id}: {example.outcome.value}: {example.judgement.note}"]
    lines += [violation.line() for violation in example.judgement.violations]
    return "\n".join([*lines, *exchange_lines(example.exchange, example.judgement.reproducer)])


def example_reproducer(example: Example, seed: int | str | None, replay: str) -> dict[str, Any]:
    """The reproducer file of a minimal failing example: tool set, keywords, request, curl line, response."""
    exchange = example.exchange
    return {
        "test": example.judgement.test_id,
        "outcome": example.outcome.value,
        "seed": seed,
        "replay": replay,
        "keywords": example.keywords,
        "broken_keywords": example.broken,
        "violations": [violation_record(violation) for violation in example.judgement.violations],
        "note": example.judgement.note,
        "tools": example.tools,
        "request": exchange.request,
        "curl": curl_line(exchange),
        "status": exchange.status,
        "response": exchange.raw.decode("utf-8", errors="replace")[:200_000],
    }


def log_document(test_id: str, tally: Tally, seed: int | str | None) -> dict[str, Any]:
    """What generated/<test>.json under the run directory holds: the summary and every example."""
    return {"test": test_id, "seed": seed, **tally.summary(), "examples": tally.records}


# ---------------------------------------------------------------- keyword table


@dataclass
class KeywordRow:
    """How one keyword fared: refusals, calls that broke it, calls that held, per strict and plain tools."""

    refused: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)


def keyword_table(records: Iterable[dict[str, Any]]) -> dict[str, KeywordRow]:
    """Per keyword: examples refused, and calls (strict / plain) that broke it or were valid where it applied."""
    rows: dict[str, KeywordRow] = defaultdict(KeywordRow)
    for record in records:
        if record["outcome"] == Outcome.REFUSED:
            strictness = _strictness(record.get("tools") or [])
            for keyword in record["refused"]:
                rows[keyword].refused[strictness] += 1
        for call in record["calls"]:
            strictness = "strict" if call["strict"] else "plain"
            for keyword in call["broken"]:
                rows[keyword].broken[strictness] += 1
            if not call["broken"]:
                for keyword in call["keywords"]:
                    rows[keyword].held[strictness] += 1
    return dict(rows)


def _strictness(tools: list[Tool]) -> str:
    flags = {tool["function"].get("strict") is True for tool in tools}
    return "strict" if flags == {True} else "plain" if flags == {False} else "mixed"


def read_logs(run_dir: Path) -> list[dict[str, Any]]:
    """Every example recorded under a run directory's generated/."""
    records = []
    for path in sorted((run_dir / "generated").glob("*.json")):
        records += json.loads(path.read_text(encoding="utf-8"))["examples"]
    return records


def markdown_table(rows: dict[str, KeywordRow], strictness: tuple[str, ...] = ("strict", "plain")) -> str:
    """The keyword table as markdown: one column per strictness, cells "refused / broken / held" counts."""
    header = "| keyword | " + " | ".join(f"{name}: refused / broken / held" for name in strictness) + " |"
    lines = [header, "|---|" + "---|" * len(strictness)]
    for keyword in sorted(rows):
        row = rows[keyword]
        cells = [f"{row.refused[s]} / {row.broken[s]} / {row.held[s]}" for s in strictness]
        lines.append(f"| `{keyword}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m toolcall_conformance keywords [RUN_DIR]`: the keyword table of a run's generated tests."""
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance keywords", description=main.__doc__)
    parser.add_argument("run_dir", type=Path, nargs="?", default=Path("reports/latest"))
    args = parser.parse_args(argv)
    print(markdown_table(keyword_table(read_logs(args.run_dir))))
    return 0
