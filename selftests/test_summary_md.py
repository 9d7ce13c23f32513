"""summary.md: totals first, the target, the baseline diff when there is one, and a capped table of failures."""

from __future__ import annotations

import re
from pathlib import Path

from selftests.test_html_report import HOSTILE, document, record, sample_run
from toolcall_conformance.reporting.summary_md import (
    MAX_BASELINE_ITEMS,
    MAX_FAILURE_ROWS,
    render_markdown,
    write_markdown,
)


def table_rows(markdown: str) -> list[str]:
    """The failure table's data rows."""
    return [line for line in markdown.splitlines() if line.startswith("| `")]


def cells(row: str) -> list[str]:
    """A table row split on the pipes that end cells (escaped pipes stay inside)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_the_first_line_gives_the_totals(tmp_path: Path):
    results, _ = sample_run(tmp_path)
    first = render_markdown(results).splitlines()[0]
    assert first.startswith("### ❌ ") and "200 tests" in first and "82 fail" in first and "118 pass" in first
    assert render_markdown(document(record("t"))).splitlines()[0].startswith("### ✅ ")


def test_the_target_is_named_without_credentials(tmp_path: Path):
    target = {"endpoint": "http://user:sk-secret@host:8000/v1", "model": "tiny-llama", "server_version": "0.32.0"}
    markdown = render_markdown(document(record("t"), target=target, options={"api_key": "sk-secret"}))
    assert "**tiny-llama** on vLLM 0.32.0 at `http://host:8000/v1`" in markdown
    assert "sk-secret" not in markdown and "user:" not in markdown


def test_the_sdk_judged_with_is_named_when_recorded():
    suite = {"name": "toolcall-conformance", "version": "0.1.0", "judged_with": {"openai": "3.60.0"}}
    assert "suite 0.1.0 judging with openai-python 3.60.0 ·" in render_markdown(document(record("t"), suite=suite))
    assert "judging with" not in render_markdown(document(record("t")))


def test_failures_are_a_table_capped_with_a_count_of_the_rest(tmp_path: Path):
    results, _ = sample_run(tmp_path)
    markdown = render_markdown(results)
    rows = table_rows(markdown)
    assert len(rows) == MAX_FAILURE_ROWS
    assert f"... and {82 - MAX_FAILURE_ROWS} more" in markdown
    assert cells(rows[0]) == ["`test_generated[blocking-required-strict]`", "fail", "`args.json`, `args.schema`"]


def test_a_short_run_lists_every_failure_and_no_tail():
    failures = [record(f"test_{index}", "fail", "call.id") for index in range(3)]
    markdown = render_markdown(document(*failures, record("test_ok")))
    assert len(table_rows(markdown)) == 3 and "more" not in markdown and "test_ok" not in markdown


def test_regressions_come_first_and_stand_out():
    known = record("test_known", "fail", "args.json", expectation="known failure")
    regression = record("test_regressed", "fail", "call.id", expectation="regression")
    warning = record("test_warned", "warn", "stream.chunk-id")
    markdown = render_markdown(document(warning, known, regression))
    rows = [cells(row) for row in table_rows(markdown)]
    assert rows[0] == ["`test_regressed`", "**fail, regression**", "`call.id`"]
    assert rows[1] == ["`test_known`", "fail (known failure)", "`args.json`"]
    assert rows[2][0] == "`test_warned`"
    assert "**1 regression** · 2 fail, 1 warn" in markdown.splitlines()[0]


def test_the_baseline_diff_is_shown_when_present_and_capped():
    many = [{"test": f"test_new_{index}", "checks": []} for index in range(MAX_BASELINE_ITEMS + 4)]
    baseline = {
        "against": "reports/expectations/vllm-0.32.0.json",
        "regressions": [
            {"test": "test_a", "checks": ["call.id"], "was": {"verdict": "pass"}, "now": {"verdict": "fail"}}
        ],
        "fixes": [{"test": "test_b", "checks": ["args.json"]}],
        "new": many,
        "removed": [],
    }
    markdown = render_markdown(document(record("test_a", "fail", "call.id"), baseline=baseline))
    assert (
        f"**Against `reports/expectations/vllm-0.32.0.json`**: regressions: 1, fixed: 1, new: {len(many)}, removed: 0"
        in markdown
    )
    assert "**Regressions (1)**:\n- `test_a` pass → fail `call.id`" in markdown
    assert "Fixed (1):\n- `test_b` `args.json`" in markdown
    assert markdown.index("Regressions (1)") < markdown.index("Fixed (1)") < markdown.index("New (")
    assert f"- `test_new_{MAX_BASELINE_ITEMS - 1}`" in markdown and f"`test_new_{MAX_BASELINE_ITEMS}`" not in markdown
    assert "- ... and 4 more" in markdown
    assert "Against" not in render_markdown(document(record("t")))


def test_server_death_and_an_incomplete_run_are_said():
    markdown = render_markdown(
        document(record("t", "not run"), server_death="the server died at 01:11", complete=False)
    )
    assert "> **SERVER DIED**: the server died at 01:11" in markdown
    assert "> **Incomplete run**" in markdown


def test_server_strings_cannot_inject_markup_or_break_the_table():
    target = {"endpoint": "http://h/v1", "model": f"m`{HOSTILE}", "server_version": "[x](javascript:alert(1))"}
    odd = record("test_odd[a|b`c]", "fail", "call.id")
    markdown = render_markdown(document(odd, target=target, server_death=f"{HOSTILE} *bold* | pipe"))
    assert "<script>" not in markdown and "[x](javascript" not in markdown
    assert "&lt;script&gt;" in markdown and r"\*bold\*" in markdown and r"\[x\](javascript" in markdown
    assert cells(table_rows(markdown)[0]) == [r"`test_odd[a\|b'c]`", "fail", "`call.id`"]


def test_write_markdown_writes_summary_md_in_the_run_directory(tmp_path: Path):
    path = write_markdown(document(record("t", "fail", "call.id")), tmp_path)
    assert path == tmp_path / "summary.md"
    assert path.read_text(encoding="utf-8").startswith("### ❌ Tool-call conformance: 1 test — 1 fail")
