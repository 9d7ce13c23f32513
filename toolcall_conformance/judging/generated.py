"""Generated tool sets judged: what one example came to, and one verdict for a generated test's examples.

Outcomes: pass / warn / fail / truncated as for curated cases; "refused" when the server answers 4xx saying
the schema or grammar is unsupported (a clear refusal, recorded with the keywords the tools used, and the
SHOULD check generated.refused); "server-error" for a 5xx or a connection the server broke; "timeout" for a
hang; "error" when the server cannot be reached. An example's verdict comes from verdict.py like any test's
(a 5xx fails, a broken connection or a hang does not judge); once the server is dead the test is not run.
"""

from __future__ import annotations

import json
import re
import unittest
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..inputs.cases import EMPTY_PARAMETERS, Case
from ..inputs.strategies import Tool, keywords_used, schema_keywords
from ..wire.client import TRANSPORT_BROKEN, TRANSPORT_TIMEOUT, Exchange, error_message
from .answer import Answer, Call, answer_of
from .checks import dropped_message, dropped_requests, http_connection_reuse
from .judge import judge_exchange
from .registry import Subject, Views, check
from .schema import shorten, validator
from .sdk import sdk_view
from .verdict import FAILED, Judgement, Level, Verdict, Violation, transport_judgement, verdict_of

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

    A skip exception, so that Hypothesis stops at once instead of shrinking; the suite's session concludes the test."""

    def __init__(self, judgement: Judgement) -> None:
        super().__init__(judgement.note)
        self.judgement = judgement


class BudgetSpent(unittest.SkipTest):
    """A generated test sent its budget of examples (generated_run.example_budget) while Hypothesis shrank a failure.

    A skip exception, as NotRun, so that Hypothesis stops at once: rejecting the shrinker's further candidates
    instead would make its replay of the failure "flaky". The session concludes the test with its last failure."""

    def __init__(self, budget: int) -> None:
        super().__init__(f"the test sent its budget of {budget} examples")
        self.budget = budget


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


def classify(
    test_id: str, case: Case, exchange: Exchange, death: str | None = None, views: Views = sdk_view
) -> Example:
    """Judge one generated exchange with every check and name its outcome; the verdict is verdict.py's.

    death: how the server died, if it did; an exchange that never happened because of it raises NotRun.
    views: where the SDK's view of the answer comes from (judge.run_checks)."""
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
    judgement = judge_exchange(test_id, case, exchange, views=views)
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
    dropped: list[dict[str, Any]] = field(default_factory=list)  # requests resent after a dropped connection

    def add(self, example: Example, final: bool) -> None:
        self.outcomes[example.outcome.value] += 1
        self.dropped += dropped_requests(example.exchange)
        self.judged.update(dict.fromkeys(example.judgement.judged))
        self.refused.update(example.refused)
        self.broken.update(example.broken)
        self.records.append(example.record(final))
        if final and example.failed:
            self.finals.append(example)

    def facts(self, seed: int | str | None) -> dict[str, Any]:
        """What a generated test's record carries about its examples (results.json's "generated")."""
        return {"generated": {**self.summary(), "seed": seed}}

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


def _dropped_connections(tally: Tally) -> list[Violation]:
    """http.connection-reuse over every example's request, not only the minimal failure's: one warning."""
    if not tally.dropped:
        return []
    message = dropped_message(tally.dropped, f"the {sum(tally.outcomes.values())} examples")
    return [Violation(http_connection_reuse.id, http_connection_reuse.level, message, {"dropped": len(tally.dropped)})]


def summary_judgement(test_id: str, tally: Tally, seed: int | str | None) -> Judgement:
    """One judgement for a whole generated test: its minimal failure if any, else refusals and dropped
    connections (SHOULDs: a warning), else a pass."""
    extra = tally.facts(seed)
    refusals = list(generated_refused.function(tally))
    dropped = _dropped_connections(tally)
    if tally.finals:
        last = tally.finals[-1]
        others = [example.outcome.value for example in tally.finals[:-1]]
        note = f"{len(tally.finals)} minimal failing example(s): {', '.join([*others, last.outcome.value])}"
        own = [violation for violation in last.judgement.violations if violation.check != http_connection_reuse.id]
        violations = [*own, *dropped, *refusals]
        judgement = Judgement(test_id, last.judgement.verdict, violations, [*last.judgement.judged], note=note)
        if last.judgement.judged:
            judgement.judged.append(generated_refused.id)
        _judged_drops(judgement, dropped)
        judgement.extra.update(extra, outcome=last.outcome.value)
        return judgement
    lenient = [*refusals, *dropped]
    judgement = Judgement(test_id, verdict_of(lenient, False), lenient, [*tally.judged, generated_refused.id])
    _judged_drops(judgement, dropped)
    judgement.note = lenient[0].message if lenient else ""
    outcome = Outcome.REFUSED if refusals else Outcome.WARN if dropped else Outcome.PASS
    judgement.extra.update(extra, outcome=outcome.value)
    return judgement


def _judged_drops(judgement: Judgement, dropped: list[Violation]) -> None:
    """A drop is judged even when no example got as far as the answer checks (a refusal, a 5xx)."""
    if dropped and http_connection_reuse.id not in judgement.judged:
        judgement.judged.insert(0, http_connection_reuse.id)
