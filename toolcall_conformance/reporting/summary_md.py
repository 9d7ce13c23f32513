"""summary.md: a short Markdown summary of a run for a CI job page ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from ..judging.verdict import FAILED
from . import results
from .expectations import Change
from .judged import judged_of

SUMMARY_FILE = "summary.md"
MAX_FAILURE_ROWS = 25
MAX_BASELINE_ITEMS = 15
MARKDOWN_SPECIALS = "\\`*_[]|#~"


def render_markdown(document: dict[str, Any]) -> str:
    """Totals, target, baseline diff and the first failures, as GitHub-flavoured Markdown."""
    parts = [
        _headline(document),
        _target_line(document),
        *_banners(document),
        *_baseline(document),
        *_failures(document),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_markdown(document: dict[str, Any], run_dir: Path) -> Path:
    """Write run_dir/summary.md and return its path."""
    path = Path(run_dir) / SUMMARY_FILE
    path.write_text(render_markdown(document), encoding="utf-8")
    return path


def _text(value: Any) -> str:
    """Plain text that stays plain: no Markdown emphasis, links or table breaks, no HTML."""
    text = " ".join(str(value).split())
    text = "".join("\\" + char if char in MARKDOWN_SPECIALS else char for char in text)
    return escape(text, quote=False)


def _code(value: Any) -> str:
    """A code span; backticks cannot be escaped inside one, and a pipe would still end a table cell."""
    text = " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")
    return f"`{text}`"


def _headline(document: dict[str, Any]) -> str:
    totals = results.totals_of(document)
    counts = ", ".join(f"{totals[verdict]} {verdict}" for verdict in results.ordered_verdicts(totals))
    regressions = sum(1 for record in results.tests_of(document) if results.is_regression(record))
    failed = regressions or any(totals[verdict] for verdict in FAILED) or judged_of(document).too_little
    if document.get("exit_status") is not None:  # what CI saw: known failures pass, a dead server fails
        failed = document["exit_status"] != 0
    icon = "❌" if failed else "✅"
    if regressions:
        counts = f"**{regressions} regression{'s' if regressions != 1 else ''}** · {counts}"
    return f"### {icon} Tool-call conformance: {results.tests_count(sum(totals.values()))} — {counts or 'no tests'}"


def _target_line(document: dict[str, Any]) -> str:
    suite = document.get("suite") or {}
    sdk = results.sdk_of(document)
    return (
        f"**{_text(results.model_of(document))}** on {_text(results.server_of(document))} at {_code(results.endpoint_of(document))}"
        f" · suite {_text(suite.get('version', '?'))}{f' judging with {_text(sdk)}' if sdk else ''}"
        f" · started {_text(document.get('started', '?'))}"
    )


def _banners(document: dict[str, Any]) -> list[str]:
    banners = []
    if document.get("server_death"):
        banners.append(f"> **SERVER DIED**: {_text(results.death_of(document))}")
    if document.get("complete") is False:
        banners.append("> **Incomplete run**: the run was interrupted; tests that did not finish are missing.")
    share = judged_of(document)
    if share.too_little:
        banners.append(f"> **JUDGED TOO LITTLE**: {_text(share.line())}")
    elif share.unjudged:
        banners.append(f"Not judged: {_text(share.line())}")
    return banners


def _baseline(document: dict[str, Any]) -> list[str]:
    lists = results.baseline_lists(document)
    if lists is None:
        return []
    against = (document.get("baseline") or {}).get("against") or "an earlier run"
    counts = ", ".join(f"{label}: {len(items)}" for label, items in lists)
    return [f"**Against {_code(against)}**: {counts}"] + [
        _baseline_list(label, items) for label, items in lists if items
    ]


def _baseline_list(label: str, items: list[dict[str, Any]]) -> str:
    heading = f"{label.capitalize()} ({len(items)})"
    lines = [f"**{heading}**:" if label == "regressions" else f"{heading}:"]
    for item in items[:MAX_BASELINE_ITEMS]:
        details = [_text(results.transition(item))] if results.transition(item) else []
        details += [_code(check) for check in item["checks"]]
        lines.append(" ".join([f"- {_code(item['test'])}", *details]))
    if len(items) > MAX_BASELINE_ITEMS:
        lines.append(f"- ... and {len(items) - MAX_BASELINE_ITEMS} more")
    return "\n".join(lines)


def _failures(document: dict[str, Any]) -> list[str]:
    listed = results.attention_order(results.tests_of(document))
    if not listed:
        return []
    rows = ["| test | verdict | broken checks |", "|---|---|---|"]
    rows += [_failure_row(record) for record in listed[:MAX_FAILURE_ROWS]]
    table = "\n".join(rows)
    more = len(listed) - MAX_FAILURE_ROWS
    tail = f"... and {more} more; every one is in report.html beside results.json" if more > 0 else ""
    return [f"**Failures and warnings ({len(listed)})**", table, tail]


def _failure_row(record: dict[str, Any]) -> str:
    checks = ", ".join(_code(check) for check in results.broken_checks(record))
    return f"| {_code(record.get('test', '?'))} | {_verdict_cell(record)} | {checks} |"


def _verdict_cell(record: dict[str, Any]) -> str:
    verdict = _text(results.record_verdict(record))
    expectation = record.get("expectation")
    if results.is_regression(record):
        return f"**{verdict}, regression**"
    if expectation and expectation != Change.AS_EXPECTED:
        return f"{verdict} ({_text(expectation)})"
    return verdict
