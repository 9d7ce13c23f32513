"""Generated tool sets through the suite's machinery: send one, judge the answer, say what kind of outcome it is.

Outcomes: pass / warn / fail / truncated as for curated cases; "refused" when the server answers 4xx saying
the schema or grammar is unsupported (a clear refusal, recorded with the keywords the tools used, and the
SHOULD check generated.refused); "server-error" for a 5xx or a connection the server broke; "timeout" for a
hang; "error" when the server cannot be reached. An example's verdict comes from verdict.py like any test's
(a 5xx fails, a broken connection or a hang does not judge); once the server is dead the test is not run.
Also: the Hypothesis profiles (ci, default, thorough), and a command line that probes a server one schema
keyword at a time and prints which keywords it refuses, breaks, or holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import unittest
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import hypothesis
import hypothesis.database
from hypothesis import strategies as st

from .answer import Answer, Call, answer_of
from .cases import EMPTY_PARAMETERS, Case, Choice, Mode, ToolSet
from .checks import Subject, check, judge_exchange
from .client import TRANSPORT_BROKEN, TRANSPORT_TIMEOUT, Exchange, error_message
from .explain import curl_line, render, response_text
from .jsontext import indent
from .results import file_stem, violation_record
from .schema import shorten, validator
from .settings import OPTIONS, Settings
from .strategies import KEYWORD_PROBES, Tool, keyword_tool_sets, keywords_used, schema_keywords
from .verdict import FAILED, Judgement, Level, Verdict, Violation, transport_judgement, verdict_of

GENERATED_ID = "generated"
REFUSAL = re.compile(r"unsupported|not supported|not implemented|grammar|schema", re.IGNORECASE)
ARGUMENTS_NOT_JSON = "(arguments not a JSON object)"


class Outcome(StrEnum):
    """What one generated example came to."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    TRUNCATED = "truncated"
    REFUSED = "refused"
    SERVER_ERROR = "server-error"
    TIMEOUT = "timeout"
    ERROR = "error"


# The outcome of an exchange that broke; its verdict is verdict.transport_judgement's (timeout, or error).
TRANSPORT_OUTCOMES = {TRANSPORT_TIMEOUT: Outcome.TIMEOUT, TRANSPORT_BROKEN: Outcome.SERVER_ERROR}
# An answer's outcome by its verdict (verdict.verdict_of), unless a 5xx makes it a server error.
ANSWER_OUTCOMES = {Verdict.FAIL: Outcome.FAIL, Verdict.WARN: Outcome.WARN, Verdict.TRUNCATED: Outcome.TRUNCATED}


class NotRun(unittest.SkipTest):
    """The server had died before an example's request was sent: the test is not run, as a curated one would not be.

    A skip exception, so that Hypothesis stops at once instead of shrinking; the plugin concludes the test."""

    def __init__(self, judgement: Judgement) -> None:
        super().__init__(judgement.note)
        self.judgement = judgement


def register_profiles() -> None:
    """Hypothesis profiles: "ci" (Hypothesis's own, fewer examples, one failure shrunk), "thorough" (hundreds).

    "default" stays Hypothesis's own (100 examples). Choose one with --hypothesis-profile=NAME.
    """
    profiles = hypothesis.settings
    profiles.register_profile("ci", profiles.get_profile("ci"), max_examples=20, report_multiple_bugs=False)
    profiles.register_profile("thorough", profiles.get_profile("default"), max_examples=500)


register_profiles()


class ReportDatabase(hypothesis.database.ExampleDatabase):
    """Hypothesis's example database, kept under the run's report directory once the session knows where that is.

    Settings are fixed when a test module is imported, before --report-dir is resolved; this stand-in is what
    they hold, and `place` points it at <report dir>/hypothesis before the first example runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.inner: hypothesis.database.ExampleDatabase = hypothesis.database.InMemoryExampleDatabase()

    def place(self, directory: Path) -> None:
        """Keep examples in this directory from now on."""
        if getattr(self.inner, "path", None) != directory:
            self.inner = hypothesis.database.DirectoryBasedExampleDatabase(directory)

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(src, dest, value)


# ---------------------------------------------------------------- one example


@dataclass(frozen=True)
class CallReport:
    """One call of an answer against its tool: valid or not, and which schema keywords it broke."""

    tool: str
    strict: bool
    keywords: tuple[str, ...]
    broken: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.broken


@dataclass
class Example:
    """One generated request, its answer, and what it came to."""

    case: Case
    exchange: Exchange
    outcome: Outcome
    judgement: Judgement
    keywords: list[str]
    refused: list[str] = field(default_factory=list)
    calls: list[CallReport] = field(default_factory=list)

    @property
    def tools(self) -> list[Tool]:
        return list(self.case.toolset.tools)

    @property
    def broken(self) -> list[str]:
        return sorted({keyword for call in self.calls for keyword in call.broken})

    @property
    def failed(self) -> bool:
        """Whether the example fails its test (Hypothesis then shrinks it)."""
        return self.judgement.verdict in FAILED

    @property
    def key(self) -> tuple[str, ...]:
        """Examples with the same key are the same bug to Hypothesis: outcome, broken checks, broken keywords."""
        return (self.outcome.value, *self.judgement.failed_checks, *self.broken)

    def record(self, final: bool = False) -> dict[str, Any]:
        """The example as generated/<test>.json keeps it."""
        answer = answer_of(self.exchange)
        return {
            "outcome": self.outcome.value,
            "mode": self.case.mode,
            "choice": self.case.choice,
            "keywords": self.keywords,
            "refused": self.refused,
            "broken": self.broken,
            "checks": self.judgement.failed_checks,
            "calls": [
                {"tool": c.tool, "strict": c.strict, "keywords": list(c.keywords), "broken": list(c.broken)}
                for c in self.calls
            ],
            "status": self.exchange.status,
            "finish_reason": answer.finish_reason,
            "final": final,
            **({"tools": self.tools} if self.outcome is not Outcome.PASS else {}),
        }


def generated_case(
    tools: Iterable[Tool], mode: Mode, choice: Choice, named_index: int = 0, sampling_seed: int | None = None
) -> Case:
    """The Case that sends a generated tool set; a named choice names tools[named_index % len(tools)]."""
    tools = tuple(tools)
    names = [tool["function"]["name"] for tool in tools]
    strict = all(tool["function"].get("strict") is True for tool in tools)
    toolset = ToolSet(
        id=GENERATED_ID,
        title="generated tool set",
        tools=tools,
        named=names[named_index % len(names)],
        strict=strict,
    )
    return Case(toolset, mode, choice, extra={} if sampling_seed is None else {"seed": sampling_seed})


def refusal_message(exchange: Exchange) -> str | None:
    """The error message of a 4xx that says the schema, grammar or a feature is unsupported; else None."""
    if exchange.status is None or not 400 <= exchange.status < 500:
        return None
    text = error_message(exchange)
    return text if REFUSAL.search(text) else None


def stream_error_message(exchange: Exchange) -> str | None:
    """The message of an {"error": ...} object sent as an event of a 200 stream (a refusal sent too late)."""
    if not exchange.stream or exchange.status != 200:
        return None
    for event in exchange.events:
        try:
            decoded = json.loads(event.data or "")
        except ValueError:
            continue
        error = decoded.get("error") if isinstance(decoded, dict) else None
        if isinstance(error, dict):
            return str(error.get("message"))
    return None


def keywords_named(message: str, used: Iterable[str]) -> list[str]:
    """The keywords of a tool set that a refusal message names (format values as format:<name>)."""
    named = []
    for keyword in used:
        word = keyword.partition(":")[2] if keyword.startswith("format:") else keyword
        if re.search(rf"(?<![\w$]){re.escape(word)}(?![\w])", message):
            named.append(keyword)
    return named


def call_reports(tools: list[Tool], answer: Answer) -> list[CallReport]:
    """Each call of an answer judged against its tool's schema, with the keywords it broke."""
    reports = []
    for call in answer.calls:
        function = _function_named(tools, call.name)
        if function is None:
            continue  # an unknown name is call.name-known's business
        parameters = function.get("parameters", EMPTY_PARAMETERS)
        keywords = ["no-parameters"] if "parameters" not in function else []
        keywords += sorted(schema_keywords(function.get("parameters")))
        reports.append(
            CallReport(call.name, function.get("strict") is True, tuple(keywords), tuple(_broken(call, parameters)))
        )
    return reports


def _function_named(tools: list[Tool], name: Any) -> dict[str, Any] | None:
    for tool in tools:
        function = tool.get("function") or {}
        if isinstance(name, str) and function.get("name") == name:
            return function
    return None


def _broken(call: Call, parameters: dict[str, Any]) -> list[str]:
    decoded, problem = call.parsed_arguments()
    if problem or not isinstance(decoded, dict):
        return [ARGUMENTS_NOT_JSON]
    found: set[str] = set()
    for error in validator(parameters).iter_errors(decoded):
        found.add(str(error.validator))
        if error.validator == "format":
            found.add(f"format:{error.validator_value}")
    return sorted(found)


def classify(test_id: str, case: Case, exchange: Exchange, death: str | None = None) -> Example:
    """Judge one generated exchange with every check and name its outcome; the verdict is verdict.py's.

    death: how the server died, if it did; an exchange that never happened because of it raises NotRun."""
    tools = list(case.toolset.tools)
    used = keywords_used(tools)
    transport = exchange.transport_error
    if transport is not None:
        judgement = transport_judgement(test_id, exchange, death)
        if judgement.verdict is Verdict.NOT_RUN:
            raise NotRun(judgement)
        outcome = TRANSPORT_OUTCOMES.get(transport.kind, Outcome.ERROR)
        return Example(case, exchange, outcome, _with_outcome(judgement, outcome), used)
    refused = refusal_message(exchange)
    if refused is not None:
        note = f"refused (HTTP {exchange.status}): {shorten(refused, 300)}"
        violations = [Violation(generated_refused.id, generated_refused.level, note)]
        judgement = Judgement(test_id, verdict_of(violations, False), violations, [], [exchange], note)
        named = keywords_named(refused, used) or used
        return Example(case, exchange, Outcome.REFUSED, _with_outcome(judgement, Outcome.REFUSED), used, named)
    judgement = judge_exchange(test_id, case, exchange)
    outcome = ANSWER_OUTCOMES.get(judgement.verdict, Outcome.PASS)
    if exchange.status is not None and exchange.status >= 500:
        outcome = Outcome.SERVER_ERROR
    answer = answer_of(exchange)
    calls = [] if answer.truncated else call_reports(tools, answer)  # cut-off arguments are not judged
    late = stream_error_message(exchange)
    if late is not None:  # still a failure: the stream says 200, then an error; blocking would get a 4xx
        judgement.note = f"the 200 stream carried an error event: {shorten(late, 300)}"
    refused_late = (keywords_named(late, used) or used) if late is not None and REFUSAL.search(late) else []
    return Example(case, exchange, outcome, _with_outcome(judgement, outcome), used, refused_late, calls)


def _with_outcome(judgement: Judgement, outcome: Outcome) -> Judgement:
    judgement.extra["outcome"] = outcome.value
    return judgement


# ---------------------------------------------------------------- explaining a failure


class GeneratedFailure(AssertionError):
    """A generated example the server got wrong; Hypothesis shrinks it to a minimal tool set."""


@cache
def failure_type(key: tuple[str, ...]) -> type[GeneratedFailure]:
    """One exception class per kind of failure, so Hypothesis shrinks and reports each kind on its own."""
    return type("GeneratedFailure", (GeneratedFailure,), {"key": key, "__module__": __name__})


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
    exchange = example.exchange
    mode = "stream" if exchange.stream else "blocking"
    lines = [f"{example.judgement.test_id}: {example.outcome.value}: {example.judgement.note}"]
    lines += [violation.line() for violation in example.judgement.violations]
    lines += [f"--- {mode} request, answered in {exchange.elapsed:.2f} s"]
    if example.judgement.reproducer:
        lines.append(f"Request JSON: {example.judgement.reproducer}")
    lines += ["Reproduce with:", "  " + curl_line(exchange)]
    if exchange.status is not None:
        lines += ["Response:", indent(response_text(exchange))]
    return "\n".join(lines)


def reproducer_document(example: Example, seed: int | str | None, replay: str) -> dict[str, Any]:
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


# ---------------------------------------------------------------- one test's examples


@dataclass
class Tally:
    """What a generated test saw, example by example."""

    outcomes: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)
    records: list[dict[str, Any]] = field(default_factory=list)
    finals: list[Example] = field(default_factory=list)
    judged: dict[str, None] = field(default_factory=dict)  # every check run on some example, in order

    def add(self, example: Example, final: bool) -> None:
        self.outcomes[example.outcome.value] += 1
        self.judged.update(dict.fromkeys(example.judgement.judged))
        self.refused.update(example.refused)
        self.broken.update(example.broken)
        self.records.append(example.record(final))
        if final and example.failed:
            self.finals.append(example)

    def summary(self) -> dict[str, Any]:
        return {
            "examples": sum(self.outcomes.values()),
            "outcomes": dict(self.outcomes),
            "refused_keywords": dict(self.refused.most_common()),
            "broken_keywords": dict(self.broken.most_common()),
        }


@check(
    "generated.refused",
    rule="A server accepts the JSON Schema keywords of a generated tool set rather than refusing them as unsupported (a 4xx naming the schema, grammar or a feature).",
    source="OpenAI function-calling guide (function parameters are a JSON Schema object); JSON Schema 2020-12",
    subject=Subject.GENERATED,
    level=Level.SHOULD,
)
def generated_refused(tally: Tally) -> Iterator[tuple[str, dict[str, Any]]]:
    # A SHOULD: a clear refusal is lenient, not broken; what a server accepts and then breaks fails args.schema.
    refused = tally.outcomes[Outcome.REFUSED]
    if refused:
        keywords = ", ".join(tally.refused) or "(none named)"
        examples = sum(tally.outcomes.values())
        yield f"refused {refused} of {examples} examples; keywords: {keywords}", {"keywords": dict(tally.refused)}


def summary_judgement(test_id: str, tally: Tally, seed: int | str | None) -> Judgement:
    """One judgement for a whole generated test: its minimal failure if any, else refusals, else a pass."""
    extra = {"generated": {**tally.summary(), "seed": seed}}
    refusals = list(generated_refused.function(tally))
    judged = [*tally.judged, generated_refused.id]
    if tally.finals:
        last = tally.finals[-1]
        others = [example.outcome.value for example in tally.finals[:-1]]
        note = f"{len(tally.finals)} minimal failing example(s): {', '.join([*others, last.outcome.value])}"
        violations = [*last.judgement.violations, *refusals]
        judgement = Judgement(test_id, last.judgement.verdict, violations, [*last.judgement.judged], note=note)
        if last.judgement.judged:
            judgement.judged.append(generated_refused.id)
        judgement.extra.update(extra, outcome=last.outcome.value)
        return judgement
    judgement = Judgement(test_id, verdict_of(refusals, False), refusals, judged)
    judgement.note = refusals[0].message if refusals else ""
    judgement.extra.update(extra, outcome=(Outcome.REFUSED if refusals else Outcome.PASS).value)
    return judgement


def log_document(test_id: str, tally: Tally, seed: int | str | None) -> dict[str, Any]:
    """What generated/<test>.json under the run directory holds: the summary and every example."""
    return {"test": test_id, "seed": seed, **tally.summary(), "examples": tally.records}


def replay_command(nodeid: str, profile: str, seed: int | str | None) -> str:
    """The command that sends a generated test's examples again."""
    if seed is None:
        return f"pytest '{nodeid}' --hypothesis-profile={profile} (derandomized: every run sends the same examples)"
    return f"pytest '{nodeid}' --hypothesis-profile={profile} --hypothesis-seed={seed}"


class Recorder(Protocol):
    """What a generated test writes through: report.RunRecorder, which scrubs the key out of all of it."""

    run_dir: Path

    def scrub(self, text: str) -> str: ...

    def write_json(self, relative: str, document: Any, indent: int | None = 2) -> Path: ...


class GeneratedRun:
    """The examples of one generated test: each sent, judged, logged; a failure raised with its explanation.

    The plugin concludes the test when Hypothesis is done with it (plugin.pytest_runtest_call): finish() gives
    its one judgement, which goes through the baseline and into results.json like any test's."""

    def __init__(
        self,
        test_id: str,
        send: Callable[[dict[str, Any]], Exchange],
        options: Settings,
        recorder: Recorder,
        replay: Callable[[int | str | None], str] = lambda seed: f"--hypothesis-seed={seed}",
        seed_of: Callable[[], int | str | None] = lambda: None,
        death: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.test_id, self.send, self.options, self.recorder = test_id, send, options, recorder
        self.replay_of, self.seed_of, self.death = replay, seed_of, death
        self.tally = Tally()

    @property
    def seed(self) -> int | str | None:
        """The seed Hypothesis generates this test's examples from (None when derandomized)."""
        return self.seed_of()

    def check(self, tools: list[Tool], mode: Mode, choice: Choice, named_index: int = 0) -> Example:
        """Send one tool set, judge the answer; raise a GeneratedFailure when the server got it wrong."""
        __tracebackhide__ = True  # the failure message says it all; the frames of this module do not help
        case = generated_case(tools, mode, choice, named_index)
        example = classify(self.test_id, case, self.send(case.body(self.options)), self.death())
        final = is_final_example()
        self.tally.add(example, final)
        if example.failed:
            seed, replay = self.seed, self.replay_of(self.seed)
            reproducer = self._write_reproducer(example, seed, replay) if final else None
            message = self.recorder.scrub(explain(example, seed, reproducer, replay))
            raise failure_type(example.key)(message)
        return example

    def _reproducer_name(self, example: Example) -> str:
        return f"reproducers/{file_stem(self.test_id)}-{example.outcome.value}.json"

    def _write_reproducer(self, example: Example, seed: int | str | None, replay: str) -> str:
        path = self.recorder.write_json(self._reproducer_name(example), reproducer_document(example, seed, replay))
        return os.path.relpath(path)

    def finish(self, failure: BaseException | None = None, stopped: Judgement | None = None) -> Judgement:
        """Write generated/<test>.json and return the test's one judgement for results.json.

        failure: what stopped the test, if it raised; stopped: the not-run judgement of a server's death."""
        log = log_document(self.test_id, self.tally, self.seed)
        self.recorder.write_json(f"generated/{file_stem(self.test_id)}.json", log, indent=1)
        extra = {"generated": {**self.tally.summary(), "seed": self.seed}}
        if stopped is not None:
            examples = sum(self.tally.outcomes.values())
            note = f"{stopped.note} ({examples} example{'s' if examples != 1 else ''} judged before)"
            return Judgement(self.test_id, Verdict.NOT_RUN, note=note, extra=extra)
        if failure is not None and not self.tally.finals:  # not the server's failure: Hypothesis, or the suite
            note = f"the generated test stopped: {type(failure).__name__}: {failure}"
            return Judgement(self.test_id, Verdict.ERROR, note=note, extra={**extra, "outcome": Outcome.ERROR.value})
        judgement = summary_judgement(self.test_id, self.tally, self.seed)
        if self.tally.finals:
            judgement.reproducer = os.path.relpath(self.recorder.run_dir / self._reproducer_name(self.tally.finals[-1]))
        return judgement


def is_final_example() -> bool:
    """True while Hypothesis replays a minimal failing example for the last time (the one it reports)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a Hypothesis test, or its internals changed: treat as not final
        return False


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


# ---------------------------------------------------------------- probing a server keyword by keyword


@dataclass
class ProbeResult:
    """What the examples of one keyword probe came to, and which schema keywords the broken calls broke."""

    cells: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)

    def add(self, example: Example) -> None:
        self.cells[_probe_cell(example)] += 1
        self.broken.update(example.broken)

    @property
    def verdict(self) -> str:
        """refused, broken or holds, in that order of precedence; "untested" when no call came back."""
        for verdict in ("refused", "refused-in-200-stream", "broken", "holds"):
            if self.cells[verdict]:
                return verdict
        return "untested"

    def cell(self) -> str:
        counts = ", ".join(f"{count} {name}" for name, count in self.cells.most_common())
        broke = f"; broke {', '.join(self.broken)}" if self.broken else ""
        return f"**{self.verdict}** ({counts}{broke})"


def probe(
    send: Callable[[dict[str, Any]], Exchange],
    body_of: Callable[[Case], dict[str, Any]],
    probes: Iterable[str],
    examples: int,
    seed: int,
    modes: tuple[Mode, ...] = ("blocking",),
) -> dict[str, dict[str, ProbeResult]]:
    """Send `examples` generated tools per keyword probe, strict and plain, and sum up what came back."""
    results: dict[str, dict[str, ProbeResult]] = {}
    for name in probes:
        results[name] = {}
        for strict in (True, False):
            result = ProbeResult()
            _send_probe(name, strict, lambda case: send(body_of(case)), result, examples, seed, modes)
            results[name]["strict" if strict else "plain"] = result
    return results


def _send_probe(
    name: str,
    strict: bool,
    answer: Callable[[Case], Exchange],
    result: ProbeResult,
    examples: int,
    seed: int,
    modes: tuple[Mode, ...],
) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=examples, database=None, deadline=None, phases=[hypothesis.Phase.generate])
    @hypothesis.given(tools=keyword_tool_sets(name, strict), sampling_seed=st.integers(0, 2**31 - 1))
    def send_one(tools: list[Tool], sampling_seed: int) -> None:
        for mode in modes:
            case = generated_case(tools, mode, "required", sampling_seed=sampling_seed)
            result.add(classify(f"probe[{name}]", case, answer(case)))

    send_one()


def _probe_cell(example: Example) -> str:
    """What a probe example says about its keyword: refused, broken, holds, or something else happened."""
    if example.outcome is Outcome.REFUSED:
        return "refused"
    if example.refused:
        return "refused-in-200-stream"
    if any(not call.valid for call in example.calls):
        return "broken"
    if example.calls:
        return "holds"
    if example.outcome is Outcome.TRUNCATED:
        return "truncated"
    if example.outcome in (Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.ERROR):
        return example.outcome.value
    return "no-call"


def probe_table(results: dict[str, dict[str, ProbeResult]]) -> str:
    """Probe results as markdown: per keyword, the verdict for strict and for plain tools, with counts."""
    lines = ["| keyword | strict tools | plain tools |", "|---|---|---|"]
    for name, by_strictness in results.items():
        cells = [by_strictness[s].cell() if s in by_strictness else "-" for s in ("strict", "plain")]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m toolcall_conformance.generated`: the keyword table of a run, or a keyword-by-keyword probe."""
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance.generated", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("table", help="keyword table of the generated tests of a run")
    table.add_argument("run_dir", type=Path, nargs="?", default=Path("reports/latest"))
    sweep = commands.add_parser("probe", help="probe a server one schema keyword at a time")
    sweep.add_argument("--endpoint", required=True, help="base URL ending in /v1")
    sweep.add_argument("--model", default=None, help="model id (default: the first of GET /models)")
    sweep.add_argument("--examples", type=int, default=8, help="examples per keyword and strictness")
    sweep.add_argument("--seed", type=int, default=0, help="Hypothesis seed of the probe")
    sweep.add_argument("--max-tokens", type=int, default=256)
    sweep.add_argument("--stream", action="store_true", help="also send each example streamed")
    sweep.add_argument("--only", nargs="*", default=None, help="probe ids (default: all of KEYWORD_PROBES)")
    args = parser.parse_args(argv)
    if args.command == "table":
        print(markdown_table(keyword_table(read_logs(args.run_dir))))
        return 0
    return _probe_command(args)


def _probe_command(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    import httpx

    from .client import send
    from .target import preflight

    defaults = Settings(**{option.name: option.default for option in OPTIONS})
    api_key = os.environ.get("OPENAI_API_KEY", defaults.api_key)
    target = preflight(args.endpoint, api_key, args.model)
    options = dataclasses.replace(defaults, api_key=api_key, max_tokens=args.max_tokens)
    options = options.with_target(target.endpoint, target.model)

    async def one(body: dict[str, Any]) -> Exchange:
        async with httpx.AsyncClient() as http:
            return await send(http, target.endpoint, api_key, body, options.request_timeout)

    modes: tuple[Mode, ...] = ("blocking", "stream") if args.stream else ("blocking",)
    results = probe(
        lambda body: asyncio.run(one(body)),
        lambda case: case.body(options),
        args.only or list(KEYWORD_PROBES),
        args.examples,
        args.seed,
        modes,
    )
    print(f"server {target.endpoint} ({target.server_version or 'version unknown'}), model {target.model}")
    print(probe_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
