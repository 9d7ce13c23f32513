"""report.html: one self-contained page that shows a run at a glance, then every failure with its evidence."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

from ..jsontext import cut
from ..judging.catalogue import all_checks
from ..judging.generated import Outcome
from ..judging.verdict import SKIPPED, Verdict, severity
from ..redact import url_without_credentials
from .judged import judged_of
from .results import (
    Record,
    attention_key,
    attention_order,
    baseline_lists,
    broken_checks,
    death_of,
    endpoint_of,
    model_of,
    needs_attention,
    ordered_verdicts,
    outcome_of,
    placement,
    record_verdict,
    sdk_of,
    server_of,
    tests_count,
    tests_of,
    totals_of,
    transition,
)

REPORT_FILE = "report.html"
MODES = ("blocking", "stream", "equivalence")
CHOICES = ("required", "named", "parallel-off")
GENERATED_PREFIX = "generated"
BAD_REQUEST = "bad-request"
# What a cell says: a verdict, or "refused" for a generated test whose server refused its schemas and broke
# nothing else (its verdict is warn; its outcome, refused, is why).
REFUSED = Outcome.REFUSED.value
SYMBOLS = {
    Verdict.PASS: "✓",
    Verdict.FAIL: "✗",
    Verdict.WARN: "!",
    REFUSED: "⊘",
    Verdict.TRUNCATED: "…",
    Verdict.INCONCLUSIVE: "?",
    Verdict.TIMEOUT: "◷",
    Verdict.ERROR: "⚠",
    Verdict.NOT_RUN: "–",
}
# How a verdict compares with the expectation file; "as expected" needs no mark.
EXPECTATION_MARKS = {
    "regression": ("regression", "REGRESSION"),
    "known failure": ("known", "known"),
    "fixed": ("fixed", "fixed"),
    "new test": ("new", "new"),
    "changed": ("changed", "changed"),
    "other example": ("known", "known, other example"),
}
RESPONSE_HEAD = 6000
RESPONSE_TAIL = 2000
FIRST_MESSAGE = 110
MOST_BROKEN = 8
SECRET_KEY = re.compile(r"api[_-]?key|secret|password|authorization", re.IGNORECASE)

Column = tuple[str, str]


def _state(record: Record) -> str:
    """What a record's cell and badge say (see SYMBOLS)."""
    verdict = record_verdict(record)
    return REFUSED if verdict == Verdict.WARN and outcome_of(record) == REFUSED else verdict


def _state_order(state: str) -> tuple[int, bool]:
    """Verdicts by severity; refused right after warn, the verdict it has."""
    return severity(Verdict.WARN if state == REFUSED else state), state == REFUSED


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class Page:
    """What every section reads: the run, where its files are, and each listed test's anchor."""

    document: dict[str, Any]
    run_dir: Path
    anchors: dict[str, str]

    @property
    def tests(self) -> list[Record]:
        return tests_of(self.document)


def render_html(document: dict[str, Any], run_dir: Path) -> str:
    """The whole report page; run_dir is where the reproducer files named in the document live."""
    tests = tests_of(document)
    anchors = {record["test"]: f"t{index}" for index, record in enumerate(tests) if needs_attention(record)}
    page = Page(document, Path(run_dir), anchors)
    sections = [
        _header(page),
        _matrix_section(page),
        _generated_section(page),
        _bad_request_section(page),
        _other_section(page),
        _failures_section(page),
        _not_judged_section(page),
        _run_details(page),
    ]
    title = f"{model_of(document)} on {server_of(document)}: tool-call conformance"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>",
            f"<style>{asset('report.css')}</style></head><body>",
            *(section for section in sections if section),
            f"<script>{asset('report.js')}</script>",
            "</body></html>",
        ]
    )


def write_html(document: dict[str, Any], run_dir: Path) -> Path:
    """Write run_dir/report.html and return its path."""
    path = Path(run_dir) / REPORT_FILE
    path.write_text(render_html(document, run_dir), encoding="utf-8")
    return path


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


# ---------------------------------------------------------------- header


def _header(page: Page) -> str:
    document = page.document
    return "\n".join(
        [
            "<header>",
            "<p class='kicker'>tool-call conformance</p>",
            f"<h1>{_e(model_of(document))} <span class='on'>on</span> {_e(server_of(document))}</h1>",
            f"<p class='meta'>{_meta_line(document)}</p>",
            _banners(document),
            _totals_line(page),
            _most_broken(page),
            _baseline(page),
            "</header>",
        ]
    )


def _meta_line(document: dict[str, Any]) -> str:
    suite = document.get("suite") or {}
    facts = [
        f"endpoint <code>{_e(endpoint_of(document))}</code>",
        f"suite {_e(suite.get('name', 'toolcall-conformance'))} {_e(suite.get('version', '?'))}",
        *([f"judging with {_e(sdk_of(document))}"] if sdk_of(document) else []),
        _e(_time_span(document.get("started"), document.get("finished"))),
    ]
    if document.get("requests_sent") is not None:
        facts.append(f"{_e(document['requests_sent'])} requests")
    return " · ".join(facts)


def _time_span(started: Any, finished: Any) -> str:
    begin, end = _parse_time(started), _parse_time(finished)
    if begin is None:
        return "time unknown"
    text = begin.strftime("%Y-%m-%d %H:%M:%S UTC")
    if end is not None:
        text += f", {round((end - begin).total_seconds())} s"
    return text


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _banners(document: dict[str, Any]) -> str:
    banners = []
    if document.get("server_death"):
        banners.append(f"<div class='banner death'><b>SERVER DIED</b> {_e(death_of(document))}</div>")
    if document.get("complete") is False:
        banners.append(
            "<div class='banner incomplete'><b>Incomplete run</b> the run was interrupted; "
            "tests that did not finish are missing from this report</div>"
        )
    share = judged_of(document)
    if share.too_little:
        banners.append(f"<div class='banner unjudged'><b>JUDGED TOO LITTLE</b> {_e(share.line())}</div>")
    elif share.unjudged:
        banners.append(f"<p class='judged'><a href='#not-judged'>Not judged</a>: {_e(share.line())}</p>")
    return "\n".join(banners)


def _totals_line(page: Page) -> str:
    totals = totals_of(page.document)
    badges = [
        f"<span class='badge {verdict_class(verdict)}'>{_e(SYMBOLS.get(verdict, ''))} {totals[verdict]} {_e(verdict)}</span>"
        for verdict in ordered_verdicts(totals)
    ]
    marks = Counter(record.get("expectation") for record in page.tests if record.get("expectation"))
    badges += [
        f"<span class='badge mark-{css}'>{marks[name]} {_e(name)}</span>"
        for name, (css, _) in EXPECTATION_MARKS.items()
        if marks[name]
    ]
    return f"<p class='totals'><span class='count'>{tests_count(sum(totals.values()))}</span> {' '.join(badges)}</p>"


def _most_broken(page: Page) -> str:
    counts = Counter(check for record in page.tests for check in broken_checks(record))
    if not counts:
        return ""
    shown = " · ".join(f"<code>{_e(check)}</code> in {count}" for check, count in counts.most_common(MOST_BROKEN))
    more = f" · {len(counts) - MOST_BROKEN} more" if len(counts) > MOST_BROKEN else ""
    return f"<p class='broken'>Broken checks (tests): {shown}{more}</p>"


def _baseline(page: Page) -> str:
    lists = baseline_lists(page.document)
    if lists is None:
        return ""
    against = (page.document.get("baseline") or {}).get("against") or "an earlier run"
    counts = " · ".join(f"{_e(label)}: {len(items)}" for label, items in lists)
    blocks = "".join(_baseline_list(page, label, items) for label, items in lists if items)
    return f"<div class='baseline'><p>Compared with <code>{_e(against)}</code>: {counts}</p>{blocks}</div>"


def _baseline_list(page: Page, label: str, items: list[dict[str, Any]]) -> str:
    entries = []
    for item in items:
        checks = " ".join(f"<code>{_e(check)}</code>" for check in item["checks"])
        entries.append(f"<li>{_test_link(page, item['test'])} {_e(transition(item))} {checks}</li>")
    css = re.sub(r"[^a-z]+", "-", label)
    return f"<div class='bl bl-{css}'><b>{_e(label.capitalize())} ({len(items)})</b><ul>{''.join(entries)}</ul></div>"


def _test_link(page: Page, test: str) -> str:
    anchor = page.anchors.get(test)
    if anchor:
        return f"<a href='#{anchor}'><code>{_e(test)}</code></a>"
    return f"<code>{_e(test)}</code>"


# ---------------------------------------------------------------- matrices


@dataclass(frozen=True)
class Grid:
    """Tests laid out by row (a tool set or a case) and column (mode and choice)."""

    rows: list[str]
    columns: list[Column]
    cells: dict[tuple[str, Column], list[Record]]


def _grid(records: list[Record], row_of: Callable[[Record], str], column_of: Callable[[Record], Column]) -> Grid:
    cells: dict[tuple[str, Column], list[Record]] = {}
    for record in records:
        cells.setdefault((row_of(record), column_of(record)), []).append(record)
    rows = list(dict.fromkeys(row_of(record) for record in records))
    columns = sorted({column_of(record) for record in records}, key=_column_order)
    return Grid(rows, columns, cells)


def _column_order(column: Column) -> tuple[int, int, str]:
    mode, choice = column
    mode_rank = MODES.index(mode) if mode in MODES else len(MODES)
    choice_rank = CHOICES.index(choice) if choice in CHOICES else len(CHOICES)
    return mode_rank, choice_rank, f"{mode} {choice}"


def _placed(record: Record) -> tuple[str, str, str]:
    """The placement of a record the matrices hold (they hold only records that have one)."""
    placed = placement(record)
    if placed is None:
        raise ValueError(f"{record.get('test')} has no place in a matrix")
    return placed


def _kind(record: Record) -> str:
    placed = placement(record)
    if placed is None:
        return "other"
    if placed[0].startswith(GENERATED_PREFIX):
        return "generated"
    if placed[0] == BAD_REQUEST:
        return "bad-request"
    return "curated"


def _of_kind(page: Page, kind: str) -> list[Record]:
    return [record for record in page.tests if _kind(record) == kind]


def _feature_order(features: list[str]) -> list[str]:
    """Run order, each tool set's -strict variant right after it."""
    first = {feature.removesuffix("-strict"): index for index, feature in reversed(list(enumerate(features)))}
    return sorted(features, key=lambda feature: (first[feature.removesuffix("-strict")], feature.endswith("-strict")))


def _matrix_section(page: Page) -> str:
    records = _of_kind(page, "curated")
    if not records:
        return ""
    grid = _grid(records, lambda record: _placed(record)[0], lambda record: _placed(record)[1:])
    grid = Grid(_feature_order(grid.rows), grid.columns, grid.cells)
    return "\n".join(
        [
            "<section id='matrix'><h2>Tool sets × mode × tool_choice</h2>",
            _grid_table(page, grid, "tool set"),
            _legend(),
            "</section>",
        ]
    )


def _grid_table(page: Page, grid: Grid, row_label: str) -> str:
    body = [_grid_row(page, grid, row) for row in grid.rows]
    return "\n".join(
        [
            "<table class='matrix'>",
            _grid_head(grid.columns, row_label),
            "<tbody>",
            *body,
            "</tbody>",
            _grid_foot(grid),
            "</table>",
        ]
    )


def _grid_head(columns: list[Column], row_label: str) -> str:
    groups = list(dict.fromkeys(mode for mode, _ in columns))
    spans = Counter(mode for mode, _ in columns)
    if all(not choice for _, choice in columns):
        cells = "".join(f"<th>{_e(mode)}</th>" for mode in groups)
        return f"<thead><tr><th class='rowhead'>{_e(row_label)}</th>{cells}<th>total</th><th>broken checks</th></tr></thead>"
    top = "".join(f"<th colspan='{spans[mode]}' class='group'>{_e(mode)}</th>" for mode in groups)
    sub = "".join(f"<th class='sub'>{_e(choice)}</th>" for _, choice in columns)
    return (
        f"<thead><tr><th rowspan='2' class='rowhead'>{_e(row_label)}</th>{top}"
        "<th rowspan='2'>total</th><th rowspan='2'>broken checks</th></tr>"
        f"<tr>{sub}</tr></thead>"
    )


def _grid_row(page: Page, grid: Grid, row: str) -> str:
    cells = "".join(_cell(page, grid.cells.get((row, column), [])) for column in grid.columns)
    records = [record for column in grid.columns for record in grid.cells.get((row, column), [])]
    checks = list(dict.fromkeys(check for record in records for check in broken_checks(record)))
    shown = " ".join(f"<code>{_e(check)}</code>" for check in checks)
    return f"<tr><th class='rowhead'>{_e(row)}</th>{cells}<td class='tally'>{_tally(records)}</td><td class='checks'>{shown}</td></tr>"


def _grid_foot(grid: Grid) -> str:
    columns = [[record for row in grid.rows for record in grid.cells.get((row, column), [])] for column in grid.columns]
    everything = [record for records in columns for record in records]
    cells = "".join(f"<td class='tally'>{_tally(records)}</td>" for records in columns)
    return f"<tfoot><tr><th class='rowhead'>total</th>{cells}<td class='tally'>{_tally(everything)}</td><td></td></tr></tfoot>"


def _cell(page: Page, records: list[Record]) -> str:
    if not records:
        return "<td class='empty'></td>"
    shown = min(records, key=attention_key)
    state = _state(shown)
    mark = EXPECTATION_MARKS.get(str(shown.get("expectation")))
    word = mark[1] if mark else state
    classes = [verdict_class(state)] + ([f"mark-{mark[0]}"] if mark else [])
    text = f"{SYMBOLS.get(state, '?')} {word}" + (f" ×{len(records)}" if len(records) > 1 else "")
    title = "\n".join(_cell_title(record) for record in records)
    anchor = page.anchors.get(shown["test"])
    inner = f"<a href='#{anchor}'>{_e(text)}</a>" if anchor else _e(text)
    return f"<td class='cell {' '.join(classes)}' title='{_e(title)}'>{inner}</td>"


def _cell_title(record: Record) -> str:
    parts = [f"{record.get('test')}: {_state(record)}"]
    if record.get("expectation"):
        parts.append(f"({record['expectation']})")
    if broken := broken_checks(record):
        parts.append("— " + ", ".join(broken))
    if record.get("note"):
        parts.append(f"— {record['note']}")
    return " ".join(parts)


def verdict_class(verdict: str) -> str:
    return "v-" + re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")


def _tally(records: list[Record]) -> str:
    counts = Counter(_state(record) for record in records)
    return " ".join(
        f"<span class='t {verdict_class(state)}' title='{_e(state)}'>{counts[state]}{_e(SYMBOLS.get(state, '?'))}</span>"
        for state in sorted(counts, key=_state_order)
    )


def _legend() -> str:
    verdicts = "".join(
        f"<span class='key {verdict_class(verdict)}'>{_e(symbol)} {_e(verdict)}</span>"
        for verdict, symbol in SYMBOLS.items()
    )
    marks = (
        "<span class='key v-fail mark-regression'>✗ REGRESSION</span>"
        "<span class='key v-fail mark-known'>✗ known</span>"
        "<span class='key v-pass mark-fixed'>✓ fixed</span>"
        "<span class='key v-fail mark-new'>✗ new</span>"
        "<span class='key v-fail mark-known'>✗ known, other example</span>"
    )
    return (
        f"<p class='legend'>{verdicts}<span class='gap'></span>{marks}</p>"
        "<p class='hint'>Against an expectation file: REGRESSION fails the run; known = a failure the file "
        "expects; fixed = passes where a failure was expected; new = a test the file does not know; known, other "
        "example = a Hypothesis test failing as expected, its minimal example breaking other checks. "
        "Click a coloured cell for its failure; hover for the test id.</p>"
    )


def _generated_section(page: Page) -> str:
    records = _of_kind(page, "generated")
    if not records:
        return ""
    rows = "".join(_generated_row(page, record) for record in records)
    return (
        "<section id='generated'><h2>Generated tool sets (Hypothesis)</h2>"
        "<table class='compact'><thead><tr><th>test</th><th>verdict</th><th>examples</th><th>outcomes</th>"
        f"<th>broken keywords</th><th>refused keywords</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _generated_row(page: Page, record: Record) -> str:
    facts = record.get("generated") or {}
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in (facts.get("outcomes") or {}).items())
    return (
        f"<tr><td><code>{_e(record.get('test'))}</code></td>{_cell(page, [record])}"
        f"<td class='num'>{_e(facts.get('examples', ''))}</td><td>{_e(outcomes)}</td>"
        f"<td>{_keywords(facts.get('broken_keywords'))}</td><td>{_keywords(facts.get('refused_keywords'))}</td></tr>"
    )


def _keywords(counts: Any) -> str:
    if not counts:
        return ""
    if isinstance(counts, dict):
        return " ".join(f"<code>{_e(keyword)}</code>×{_e(count)}" for keyword, count in counts.items())
    return " ".join(f"<code>{_e(keyword)}</code>" for keyword in counts)


def _bad_request_section(page: Page) -> str:
    records = _of_kind(page, "bad-request")
    if not records:
        return ""
    grid = _grid(records, lambda record: _placed(record)[2], lambda record: (_placed(record)[1], ""))
    return f"<section id='bad-requests'><h2>Bad requests</h2>{_grid_table(page, grid, 'case')}</section>"


def _other_section(page: Page) -> str:
    records = _of_kind(page, "other")
    if not records:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(record.get('test'))}</code></td>{_cell(page, [record])}<td>{_e(record.get('note', ''))}</td></tr>"
        for record in records
    )
    return (
        "<section id='other'><h2>Other tests</h2><table class='compact'>"
        f"<thead><tr><th>test</th><th>verdict</th><th>note</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


# ---------------------------------------------------------------- failures and their evidence


def _failures_section(page: Page) -> str:
    listed = attention_order(page.tests)
    if not listed:
        return "<section id='failures'><h2>Failures and warnings</h2><p>None.</p></section>"
    entries = [_failure_entry(page, record) for record in listed]
    return "\n".join(
        [
            f"<section id='failures'><h2>Failures and warnings ({len(listed)}) {_tally(listed)}</h2>",
            "<p class='hint'><button type='button' id='expand'>expand all</button> "
            "<button type='button' id='collapse'>collapse all</button></p>",
            *entries,
            "</section>",
        ]
    )


def _failure_entry(page: Page, record: Record) -> str:
    test = str(record.get("test"))
    state = _state(record)
    mark = EXPECTATION_MARKS.get(str(record.get("expectation")))
    badge_classes = verdict_class(state) + (f" mark-{mark[0]}" if mark else "")
    badge_text = f"{SYMBOLS.get(state, '?')} {state}" + (f" · {mark[1]}" if mark else "")
    checks = " ".join(f"<code>{_e(check)}</code>" for check in broken_checks(record))
    reproducer = _load_reproducer(page.run_dir, record.get("reproducer"))
    return "\n".join(
        [
            f"<details class='failure' id='{page.anchors[test]}'>",
            f"<summary><span class='badge {badge_classes}'>{_e(badge_text)}</span> <code class='test'>{_e(test)}</code> {checks}"
            f" <span class='first'>{_e(_first_message(record))}</span></summary>",
            "<div class='evidence'>",
            _violations(record),
            _note(record),
            _generated_facts(reproducer),
            _exchanges(reproducer, str(record.get("reproducer"))),
            "</div></details>",
        ]
    )


def _first_message(record: Record) -> str:
    violations = record.get("violations") or []
    text = str(violations[0].get("message", "")) if violations else str(record.get("note") or "")
    return cut(text, FIRST_MESSAGE)


def _violations(record: Record) -> str:
    by_check: dict[str, list[dict[str, Any]]] = {}
    for violation in record.get("violations") or []:
        by_check.setdefault(str(violation.get("check")), []).append(violation)
    items = [_violation_group(check, violations) for check, violations in by_check.items()]
    return f"<ul class='violations'>{''.join(items)}</ul>" if items else ""


def _violation_group(check: str, violations: list[dict[str, Any]]) -> str:
    level = str(violations[0].get("level", ""))
    registered = all_checks().get(check)
    rule = f"<span class='rule'>{_e(registered.rule)} ({_e(registered.source)})</span>" if registered else ""
    messages = "".join(f"<li>{_e(violation.get('message', ''))}</li>" for violation in violations)
    return (
        f"<li><code>{_e(check)}</code> <span class='level level-{_e(level.lower())}'>{_e(level)}</span> {rule}"
        f"<ul>{messages}</ul></li>"
    )


def _note(record: Record) -> str:
    parts = []
    if record.get("note"):
        parts.append(f"<p class='note'>{_e(record['note'])}</p>")
    if record.get("retries"):
        parts.append(f"<p class='note'>{len(record['retries'])} retries: {_e(json.dumps(record['retries']))}</p>")
    if record.get("duration"):
        parts.append(f"<p class='small'>answered in {_e(record['duration'])} s</p>")
    return "".join(parts)


def _load_reproducer(run_dir: Path, relative: Any) -> dict[str, Any] | str:
    """The reproducer document, or a sentence saying why there is none."""
    if not relative:
        return "no reproducer file was written for this test"
    path = (run_dir / str(relative)).resolve()
    if not path.is_relative_to(run_dir.resolve()):
        return f"reproducer path {relative} lies outside the run directory"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        return f"could not read the reproducer {relative}: {problem}"
    return loaded if isinstance(loaded, dict) else f"{relative} is not a reproducer"


def _generated_facts(reproducer: dict[str, Any] | str) -> str:
    if not isinstance(reproducer, dict):
        return ""
    parts = []
    if reproducer.get("broken_keywords"):
        parts.append(f"<p>schema keywords broken: {_keywords(reproducer['broken_keywords'])}</p>")
    if reproducer.get("keywords"):
        parts.append(f"<p>tool set uses: {_keywords(reproducer['keywords'])}</p>")
    if reproducer.get("replay"):
        parts.append(f"<p class='label'>replay</p><pre class='curl'>{_e(reproducer['replay'])}</pre>")
    return "".join(parts)


def _exchanges(reproducer: dict[str, Any] | str, path: str) -> str:
    if isinstance(reproducer, str):
        return f"<p class='small'>{_e(reproducer)}</p>"
    exchanges = reproducer.get("exchanges")
    if not isinstance(exchanges, list):
        exchanges = [reproducer] if "request" in reproducer else []
    link = f"<p class='small'>reproducer file: <code>{_e(path)}</code></p>"
    return link + "".join(_exchange(exchange, path) for exchange in exchanges if isinstance(exchange, dict))


def _exchange(exchange: dict[str, Any], path: str) -> str:
    request = exchange.get("request")
    mode = "stream" if isinstance(request, dict) and request.get("stream") else "blocking"
    status, body = _status_and_body(exchange)
    indented = _indented_json(body)
    label = "Response (JSON body indented for reading)" if indented else "Response, as received"
    return "\n".join(
        [
            f"<div class='exchange'><h4>{mode} request</h4>",
            "<p class='label'>Reproduce with</p>",
            f"<pre class='curl'>{_e(exchange.get('curl', '(no curl line)'))}</pre>",
            f"<p class='label'>{label}</p>",
            f"<pre class='response'>{_e(status)}\n{_e(_cut_middle(indented or body, path))}</pre>",
            *_request_lines(request),
            "</div>",
        ]
    )


def _request_lines(request: Any) -> list[str]:
    if isinstance(request, str):  # a body sent byte for byte, not JSON (a bad request)
        return ["<p class='label'>Request body, as sent</p>", f"<pre class='request'>{_e(request)}</pre>"]
    return [
        "<p class='label'>Request JSON</p>",
        f"<pre class='request'>{_e(json.dumps(request, indent=2, ensure_ascii=False))}</pre>",
    ]


def _status_and_body(exchange: dict[str, Any]) -> tuple[str, str]:
    """The status line and the body; reproducers of curated tests hold both in one text, generated ones apart."""
    text = str(exchange.get("response", "(no response recorded)"))
    if text.startswith("HTTP "):
        status, _, body = text.partition("\n")
        return status, body
    if exchange.get("status") is None:
        return "", text
    return f"HTTP {exchange['status']}", text


def _indented_json(body: str) -> str | None:
    """A JSON document body, indented; None for streams, cut bodies and anything else."""
    if not body.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def _cut_middle(text: str, path: str) -> str:
    """Head and tail of a long body: a stream's end ([DONE], finish_reason) matters as much as its start."""
    if len(text) <= RESPONSE_HEAD + RESPONSE_TAIL:
        return text
    left_out = len(text) - RESPONSE_HEAD - RESPONSE_TAIL
    return f"{text[:RESPONSE_HEAD]}\n\n… {left_out} characters left out here; the whole response is in {path} …\n\n{text[-RESPONSE_TAIL:]}"


def _not_judged_section(page: Page) -> str:
    records = [record for record in page.tests if record_verdict(record) in SKIPPED and not needs_attention(record)]
    if not records:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(record.get('test'))}</code></td>{_cell(page, [record])}<td>{_e(record.get('note', ''))}</td></tr>"
        for record in records
    )
    return (
        f"<section id='not-judged'><details><summary><h2>Not judged ({len(records)}) {_tally(records)}</h2></summary>"
        "<table class='compact'><thead><tr><th>test</th><th>verdict</th><th>why</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details></section>"
    )


def _run_details(page: Page) -> str:
    document = page.document
    rows = [("target " + key, value) for key, value in (document.get("target") or {}).items()]
    rows += [("option " + key, value) for key, value in (document.get("options") or {}).items()]
    shown = "".join(
        f"<tr><th>{_e(key)}</th><td><code>{_e(_display(key, value))}</code></td></tr>"
        for key, value in rows
        if not SECRET_KEY.search(key)
    )
    return f"<section id='run'><details><summary><h2>Run details</h2></summary><table class='compact'>{shown}</table></details></section>"


def _display(key: str, value: Any) -> str:
    if key.endswith("endpoint") and isinstance(value, str):
        return url_without_credentials(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@cache
def asset(name: str) -> str:
    """The page's style sheet or script, kept beside this module as a file of its own."""
    return (Path(__file__).parent / name).read_text(encoding="utf-8")
