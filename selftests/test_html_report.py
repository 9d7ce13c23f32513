"""report.html: every test shown, failures expandable with their evidence, server output escaped, no network,
and a page that renders in a real browser with the matrix colours."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from selftests.browser import near, png_colours, screenshot
from toolcall_conformance.reporting.expectations import Change
from toolcall_conformance.reporting.html_report import EXPECTATION_MARKS, render_html, write_html

SAMPLE_RUN = Path(__file__).parent / "data" / "sample-run"
HOSTILE = "<script>alert(1)</script>"
PASS_GREEN = (0x2E, 0x9E, 0x4F)
FAIL_RED = (0xD9, 0x30, 0x25)


# ---------------------------------------------------------------- documents


def sample_run(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A copy of a real run against vLLM 0.32.0 (its reproducers trimmed to a few tool sets)."""
    run_dir = tmp_path / "sample-run"
    shutil.copytree(SAMPLE_RUN, run_dir)
    return json.loads((run_dir / "results.json").read_text(encoding="utf-8")), run_dir


def record(
    test: str,
    verdict: str = "pass",
    *broken: str,
    feature: str = "weather-seed",
    mode: str = "blocking",
    choice: str = "required",
    **extra: Any,
) -> dict[str, Any]:
    """A results.json record; broken checks are MUST for a failing verdict and SHOULD otherwise."""
    level = "SHOULD" if verdict == "warn" else "MUST"
    return {
        "test": test,
        "feature": feature,
        "mode": mode,
        "choice": choice,
        "verdict": verdict,
        "checks": {"http.status": "pass", **{check: "warn" if level == "SHOULD" else "fail" for check in broken}},
        "violations": [{"check": check, "level": level, "message": f"{check} broke here"} for check in broken],
        "note": "",
        "duration": 0.5,
        "reproducer": None,
        **extra,
    }


def document(*records: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "suite": {"name": "toolcall-conformance", "version": "0.1.0"},
        "complete": True,
        "started": "2026-11-24T01:10:44Z",
        "finished": "2026-11-24T01:11:03Z",
        "target": {"endpoint": "http://127.0.0.1:8000/v1", "model": "tiny-llama", "server_version": "0.32.0"},
        "options": {"max_tokens": 256, "seed": 1234},
        "requests_sent": len(records),
        "server_death": None,
        "tests": list(records),
        **top,
    }


def write_reproducer(run_dir: Path, test: str, response: str, stream: bool = False) -> str:
    """A reproducer file as report.py writes one; returns its path relative to the run directory."""
    request = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    curl = f"curl -sS http://127.0.0.1:8000/v1/chat/completions -d '{json.dumps(request)}' # {test}"
    path = run_dir / "reproducers" / (re.sub(r"[^A-Za-z0-9._-]+", "_", test).strip("_") + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    exchange = {"url": "http://127.0.0.1:8000/v1/chat/completions", "request": request, "curl": curl}
    path.write_text(json.dumps({"test": test, "exchanges": [{**exchange, "status": 200, "response": response}]}))
    return str(path.relative_to(run_dir))


MATRIX_VERDICTS = ("pass", "fail", "warn", "truncated", "inconclusive", "timeout", "error", "not run")


def every_verdict(run_dir: Path) -> dict[str, Any]:
    """One curated test per verdict, a regression and a known failure, a generated test and a bad request."""
    records = []
    for index, verdict in enumerate(MATRIX_VERDICTS):
        test = f"test_required[set-{index}-blocking]"
        broken = ("args.schema",) if verdict in ("fail", "error") else ("stream.chunk-id",) if verdict == "warn" else ()
        records.append(record(test, verdict, *broken, feature=f"set-{index}", note=f"note of {verdict}"))
        if records[-1]["verdict"] in ("fail", "warn", "error", "timeout"):
            records[-1]["reproducer"] = write_reproducer(run_dir, test, f"HTTP 200 application/json\n{{}} {verdict}")
    regression = record("test_named[set-0-stream]", "fail", "call.id", mode="stream", choice="named", feature="set-0")
    known = record("test_named[set-1-stream]", "fail", "args.json", mode="stream", choice="named", feature="set-1")
    regression["expectation"], known["expectation"] = "regression", "known failure"
    generated = record("test_generated[blocking-named-strict]", "fail", "args.schema", feature="generated-strict")
    generated["generated"] = {"examples": 17, "outcomes": {"pass": 10, "fail": 7}, "broken_keywords": {"maxLength": 3}}
    bad = record("test_bad_request[unknown-tool-blocking]", "pass", feature="bad-request", choice="unknown-tool")
    return document(*records, regression, known, generated, bad)


# ---------------------------------------------------------------- reading the page


class PageReader(HTMLParser):
    """Each failure entry's text, every id and href, every tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.failures: dict[str, list[str]] = {}
        self._open_failure: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if attributes.get("href"):
            self.hrefs.append(str(attributes["href"]))
        if tag == "details" and "failure" in (attributes.get("class") or ""):
            self._open_failure, self._depth = str(attributes["id"]), 0
            self.failures[self._open_failure] = []
        elif tag == "details" and self._open_failure:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self._open_failure:
            if self._depth == 0:
                self._open_failure = None
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._open_failure:
            self.failures[self._open_failure].append(data)

    def failure_text(self, test: str) -> str:
        """The text of the failure entry whose summary names the test."""
        for parts in self.failures.values():
            text = "".join(parts)
            if f" {test} " in text[:400]:  # the summary line: verdict, test id, broken checks
                return text
        raise AssertionError(f"no failure entry for {test}")


def read(page: str) -> PageReader:
    reader = PageReader()
    reader.feed(page)
    return reader


def cell_of(page: str, test: str) -> str:
    """The <td> of the matrix cell whose title names the test."""
    found = re.search(r"<td class='cell ([^']*)' title='" + re.escape(test) + r":[^']*'>(.*?)</td>", page)
    assert found, f"no cell for {test}"
    return found.group(0)


# ---------------------------------------------------------------- the sample run


def test_every_test_of_the_sample_run_appears_on_the_page(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    page = render_html(results, run_dir)
    for test in results["tests"]:
        assert test["test"] in page, test["test"]
    assert "tiny-llama" in page and "vLLM 0.32.0" in page and "82 fail" in page and "118 pass" in page


def test_each_failure_of_the_sample_run_expands_to_its_checks_message_and_curl_line(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    reader = read(render_html(results, run_dir))
    failing = [test for test in results["tests"] if test["verdict"] == "fail"]
    assert len(reader.failures) == len(failing) == 82
    with_file = [test for test in failing if (run_dir / test["reproducer"]).exists()]
    assert len(with_file) == 16
    for test in with_file:
        text = reader.failure_text(test["test"])
        reproducer = json.loads((run_dir / test["reproducer"]).read_text())
        curls = [exchange["curl"] for exchange in reproducer.get("exchanges", [reproducer])]
        for check in [check for check, state in test["checks"].items() if state == "fail"]:
            assert check in text
        for violation in test["violations"]:
            assert violation["message"] in text
        for curl in curls:
            assert curl in text
        assert "Request JSON" in text and '"tools": [' in text


def test_a_missing_reproducer_file_is_said_not_hidden(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    reader = read(render_html(results, run_dir))
    text = reader.failure_text("test_required[unicode-stream]")
    assert "could not read the reproducer reproducers/test_required_unicode-stream.json" in text
    assert "args.json" in text


def test_matrix_cells_link_to_their_failure_entries(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    page = render_html(results, run_dir)
    reader = read(page)
    anchors = [href[1:] for href in reader.hrefs if href.startswith("#")]
    assert set(anchors) == set(reader.failures)
    seed_cell = cell_of(page, "test_required[weather-seed-blocking]")
    anchor = re.search(r"href='#([^']+)'", seed_cell)
    assert anchor and "test_required[weather-seed-blocking]" in "".join(reader.failures[anchor.group(1)])
    assert "href" not in cell_of(page, "test_required[weather-seed-strict-blocking]")


def test_the_matrix_has_a_row_per_tool_set_and_the_columns_of_the_run(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    page = render_html(results, run_dir)
    matrix = page[page.index("<section id='matrix'>") : page.index("</section>")]
    rows = re.findall(r"<tr><th class='rowhead'>([^<]+)</th>", matrix)
    assert rows[:3] == ["weather-seed", "weather-seed-strict", "anyof-null"]
    assert len(rows) == 24 + 1  # the tool sets and their strict variants, and the totals row
    assert re.findall(r"class='group'>(\w+)</th>", matrix) == ["blocking", "stream", "equivalence"]
    assert matrix.count("<th class='sub'>") == 8
    assert "generated" not in matrix


# ---------------------------------------------------------------- synthetic runs


def test_each_verdict_gets_its_colour_class_and_a_symbol_that_reads_without_colour(tmp_path: Path):
    page = render_html(every_verdict(tmp_path), tmp_path)
    symbols = {"pass": "✓", "fail": "✗", "warn": "!", "truncated": "…", "inconclusive": "?", "timeout": "◷"}
    symbols |= {"error": "⚠", "not run": "–"}
    for index, verdict in enumerate(MATRIX_VERDICTS):
        cell = cell_of(page, f"test_required[set-{index}-blocking]")
        assert f"v-{verdict.replace(' ', '-')}" in cell
        assert f"{symbols[verdict]} {verdict}<" in cell or f"{symbols[verdict]} {verdict}</a>" in cell


def test_a_regression_looks_different_from_a_known_failure(tmp_path: Path):
    page = render_html(every_verdict(tmp_path), tmp_path)
    regression, known = cell_of(page, "test_named[set-0-stream]"), cell_of(page, "test_named[set-1-stream]")
    assert "mark-regression" in regression and "REGRESSION" in regression
    assert "mark-known" in known and "known" in known and "REGRESSION" not in known
    reader = read(page)
    first = "".join(next(iter(reader.failures.values())))
    assert "test_named[set-0-stream]" in first, "regressions are listed first"


def test_failures_warnings_errors_and_timeouts_are_listed_passes_and_truncations_are_not(tmp_path: Path):
    page = render_html(every_verdict(tmp_path), tmp_path)
    reader = read(page)
    listed = "".join("".join(parts) for parts in reader.failures.values())
    for index, verdict in enumerate(MATRIX_VERDICTS):
        test = f"test_required[set-{index}-blocking]"
        assert (test in listed) == (verdict in ("fail", "warn", "timeout", "error")), verdict
    assert "note of truncated" in page, "not-judged tests keep their note"
    assert "stream.chunk-id" in reader.failure_text("test_required[set-2-blocking]")


def test_generated_tests_and_bad_requests_get_their_own_sections(tmp_path: Path):
    page = render_html(every_verdict(tmp_path), tmp_path)
    generated = page[page.index("<section id='generated'>") :]
    assert "test_generated[blocking-named-strict]" in generated[: generated.index("</section>")]
    assert "10 pass, 7 fail" in generated and "maxLength" in generated
    bad = page[page.index("<section id='bad-requests'>") :]
    assert "unknown-tool" in bad[: bad.index("</section>")]
    matrix = page[page.index("<section id='matrix'>") : page.index("<section id='generated'>")]
    assert "generated" not in matrix and "unknown-tool" not in matrix


def test_server_death_and_an_incomplete_run_are_banners(tmp_path: Path):
    died = "the server died at 01:11:00 UTC, after 12 good answers to 20 requests; last error: refused"
    page = render_html(document(record("t", "not run"), server_death=died, complete=False), tmp_path)
    header = page[: page.index("</header>")]
    assert "SERVER DIED" in header and died in header and "Incomplete run" in header
    quiet = render_html(document(record("t")), tmp_path)
    assert "SERVER DIED" not in quiet and "Incomplete run" not in quiet


def test_the_baseline_diff_shows_regressions_first_and_tolerates_its_shape(tmp_path: Path):
    baseline = {
        "against": "reports/expectations/vllm-0.32.0.json",
        "fixes": [{"test": "test_b", "checks": ["args.json"], "was": {"verdict": "fail"}, "now": {"verdict": "pass"}}],
        "new": ["test_c"],
        "removed": [{"test": "test_d", "checks": {"call.id": "fail"}}],
        "regressions": [{"test": "test_a", "checks": ["call.id"]}],
        "changed": [{"test": "test_e", "checks": []}],
    }
    page = render_html(document(record("test_a", "fail", "call.id"), baseline=baseline), tmp_path)
    header = page[: page.index("</header>")]
    assert "reports/expectations/vllm-0.32.0.json" in header
    assert "regressions: 1 · fixed: 1 · new: 1 · removed: 1 · changed: 1" in header
    assert header.index("test_a") < header.index("test_b") < header.index("test_c") < header.index("test_d")
    assert "fail → pass" in header and "call.id" in header
    assert "bl-regressions" in header and "href='#t0'" in header
    assert "Compared with" not in render_html(document(record("t")), tmp_path)


def test_server_output_is_escaped_everywhere(tmp_path: Path):
    test = "test_required[weather-seed-stream]"
    failing = record(test, "fail", "content.no-markup", mode="stream", note=f"note {HOSTILE}")
    failing["violations"][0]["message"] = f"content holds {HOSTILE} and <img src=x onerror=alert(2)>"
    failing["reproducer"] = write_reproducer(tmp_path, test, f"HTTP 200 text/event-stream\ndata: {HOSTILE}\n\n")
    hostile_target = {"endpoint": "http://h/v1", "model": f"m{HOSTILE}", "server_version": "<b>1</b>"}
    page = render_html(document(failing, target=hostile_target, server_death=HOSTILE), tmp_path)
    assert HOSTILE not in page and "<img" not in page and "<b>1</b>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert [tag for tag, _ in read(page).tags].count("script") == 1, "only the page's own script"
    assert HOSTILE in read(page).failure_text(test), "escaped, the text reads as the server sent it"


def test_the_page_references_nothing_outside_itself(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    page = render_html(results, run_dir)
    reader = read(page)
    assert all(href.startswith("#") for href in reader.hrefs)
    assert not [attributes for _, attributes in reader.tags if "src" in attributes]
    assert not [tag for tag, _ in reader.tags if tag in ("link", "img", "iframe", "object", "embed")]
    assert "@import" not in page and "url(" not in page
    assert not re.search(r"(src|href|action)\s*=\s*['\"]?\s*(https?:)?//", page, re.IGNORECASE)


def test_credentials_never_reach_the_page(tmp_path: Path):
    secret = "sk-very-secret-key"
    target = {"endpoint": f"http://user:{secret}@host:8000/v1", "model": "m"}
    options = {"endpoint": f"http://user:{secret}@host:8000/v1", "api_key": secret, "max_tokens": 5}
    page = render_html(document(record("t"), target=target, options=options), tmp_path)
    assert secret not in page and "user:" not in page and "api_key" not in page
    assert "http://host:8000/v1" in page and "option max_tokens" in page


def test_a_huge_response_is_cut_in_the_middle_keeping_its_end(tmp_path: Path):
    test = "test_required[weather-seed-stream]"
    body = 'data: {"first": 1}\n\n' + 'data: {"x": 0}\n\n' * 30_000 + "data: [DONE]\n\n"
    failing = record(test, "fail", "stream.done", mode="stream")
    failing["reproducer"] = write_reproducer(tmp_path, test, "HTTP 200 text/event-stream\n" + body, stream=True)
    page = render_html(document(failing), tmp_path)
    text = read(page).failure_text(test)
    assert '{"first": 1}' in text and "data: [DONE]" in text
    assert "characters left out here; the whole response is in reproducers/" in text
    assert len(page) < 60_000


def test_a_blocking_json_body_is_indented_and_a_stream_is_shown_as_received(tmp_path: Path):
    blocking = record("test_required[a-blocking]", "fail", "args.json")
    blocking["reproducer"] = write_reproducer(
        tmp_path, blocking["test"], 'HTTP 200 application/json\n{"id":"x","n":[1]}'
    )
    stream = record("test_required[a-stream]", "fail", "args.json", mode="stream")
    stream["reproducer"] = write_reproducer(
        tmp_path, stream["test"], 'HTTP 200 text/event-stream\ndata: {"id":"x"}\n\n'
    )
    reader = read(render_html(document(blocking, stream), tmp_path))
    assert '{\n  "id": "x",\n  "n": [\n    1\n  ]\n}' in reader.failure_text("test_required[a-blocking]")
    assert 'data: {"id":"x"}' in reader.failure_text("test_required[a-stream]")


def test_a_raw_request_body_is_shown_as_sent(tmp_path: Path):
    test = "test_bad_requests[malformed-json]"
    failing = record(test, "fail", "reject.status-4xx", feature="bad-request", choice="malformed-json")
    path = tmp_path / "reproducers" / "raw.json"
    path.parent.mkdir(parents=True)
    raw = '{"model": "x", "messages": ['
    exchange = {"request": raw, "curl": "curl --data-binary ...", "status": 200, "response": "HTTP 200\n{}"}
    path.write_text(json.dumps({"test": test, "exchanges": [exchange]}))
    failing["reproducer"] = "reproducers/raw.json"
    text = read(render_html(document(failing), tmp_path)).failure_text(test)
    assert "Request body, as sent" in text and raw in text and "Request JSON" not in text


def test_records_are_placed_by_their_labels_and_those_without_are_listed_apart(tmp_path: Path):
    """The matrix reads a record's feature, mode and choice, never its test id: every record the suite writes
    has them (the plugin's labels); one without them, from another plugin or an older run, is listed apart."""
    labelled = record("test_parallel_off[many-tools-stream]", "pass", feature="many-tools", choice="parallel-off")
    unlabelled = {key: value for key, value in labelled.items() if key not in ("feature", "mode", "choice")}
    unlabelled["test"] = "test_parallel_off[few-tools-stream]"
    odd = {"test": "test_something_else", "verdict": "pass"}
    page = render_html(document(labelled, unlabelled, odd), tmp_path)
    matrix = page[page.index("<section id='matrix'>") :]
    matrix = matrix[: matrix.index("</section>")]
    assert "many-tools" in matrix and "parallel-off" in matrix and "few-tools" not in matrix
    other = page[page.index("<section id='other'>") :]
    other = other[: other.index("</section>")]
    assert "test_something_else" in other and "test_parallel_off[few-tools-stream]" in other


def test_a_generated_test_whose_schemas_were_refused_shows_refused_not_a_verdict_of_its_own(tmp_path: Path):
    refused = record("test_generated[blocking-required-plain]", "warn", "generated.refused", feature="generated-plain")
    refused.update(outcome="refused", generated={"examples": 20, "outcomes": {"refused": 3, "pass": 17}})
    warned = record("test_generated[blocking-named-plain]", "warn", "generated.refused", feature="generated-plain")
    warned.update(outcome="fail", choice="named")
    page = render_html(document(refused, warned), tmp_path)
    generated = page[page.index("<section id='generated'>") :]
    generated = generated[: generated.index("</section>")]
    assert "⊘ refused" in generated and "! warn" in generated
    totals = page[page.index("<p class='totals'>") :]
    assert "2 warn" in totals[: totals.index("</p>")], "the totals count verdicts: a refusal is a warning"


def test_the_header_names_the_sdk_the_checks_judged_with(tmp_path: Path):
    suite = {"name": "toolcall-conformance", "version": "0.1.0", "judged_with": {"openai": "3.60.0"}}
    assert "judging with openai-python 3.60.0" in render_html(document(record("t"), suite=suite), tmp_path)
    assert "judging with" not in render_html(document(record("t")), tmp_path)


def test_write_html_writes_report_html_in_the_run_directory(tmp_path: Path):
    path = write_html(document(record("t")), tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------- in a real browser


def test_the_sample_report_renders_in_chromium_with_the_matrix_colours(tmp_path: Path):
    results, run_dir = sample_run(tmp_path)
    picture = tmp_path / "report.png"
    screenshot(write_html(results, run_dir), picture)
    width, height, colours = png_colours(picture.read_bytes())
    assert (width, height) == (1400, 1000)
    white = colours[(255, 255, 255)]
    assert white < 0.8 * width * height, "the page is (nearly) blank"
    assert len(colours) > 50, "a page with text has many colours"
    # 118 passing cells, 74 failing in the curated matrix: each cell is about 95 x 20 pixels.
    assert near(colours, PASS_GREEN) > 100 * 20 * 50
    assert near(colours, FAIL_RED) > 100 * 20 * 30


def test_every_way_a_verdict_meets_its_expectation_has_a_mark() -> None:
    """A new expectations.Change needs its mark on the page (as expected needs none)."""
    assert set(EXPECTATION_MARKS) == {change.value for change in Change} - {Change.AS_EXPECTED.value}
