"""The check registry: what a check is, the decorator that registers one, and what checks look at.

Checks register where they are defined, with the subject they judge: an answer to a valid request and the
blocking and streamed answers of one request (checks.py, sdk.py), the refusal of a bad request (refusal.py), a
generated test's examples (generated.py). catalogue.all_checks() imports every one of those modules and so is
the complete registry; judge.py runs the answer and pair checks. Level and Violation live in verdict.py, beside
the verdicts they make.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from ..inputs.cases import Case, Pair
from ..wire.client import Exchange, error_message
from .answer import Answer, answer_of
from .schema import shorten
from .verdict import Level, Violation

OPENAI_CHAT = "OpenAI API reference, Chat Completions"
OPENAI_STREAM = "OpenAI API reference, chat completion chunk object"
SDK_TYPES = "openai-python types (openai/types/chat, openai/types/completion_usage.py)"
RFC_JSON = "RFC 8259 (JSON), section 4"
OPENAI_FUNCTION_CALLING = "OpenAI function-calling guide"
WHATWG_SSE = "WHATWG HTML, server-sent events"
JSON_SCHEMA = "JSON Schema 2020-12 (validation with formats)"
MAX_PROBLEMS_SHOWN = 3
ERROR_SHOWN = 300  # characters of an error answer's message
# Every module that defines checks (of this package, judging/); catalogue.all_checks() imports each of them.
CHECK_MODULES = ("checks", "reasoning", "sdk", "refusal", "generated")
# What the SDK view (sdk.SdkView) of an exchange comes from: sdk.sdk_view, or the worker that works views out
# as answers arrive (sdk_worker.SdkViewWorker.view_of). Passed in by whoever judges, never set globally.
Views = Callable[[Exchange], Any]


class Subject(StrEnum):
    """What a check looks at."""

    ANSWER = "answer"  # one answer to a valid request: an Observation
    PAIR = "pair"  # the blocking and streamed answers to one request: a PairObservation
    REFUSAL = "refusal"  # the answer to a bad request and the valid request after it: a refusal.Refusal
    GENERATED = "generated"  # the examples of one generated test: a generated.Tally


@dataclass(frozen=True)
class Observation:
    """What the checks of one exchange look at."""

    case: Case
    exchange: Exchange
    answer: Answer
    views: Views

    @classmethod
    def of(cls, case: Case, exchange: Exchange, views: Views) -> Observation:
        return cls(case, exchange, answer_of(exchange), views)

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.exchange.request.get("tools") or [])

    @cached_property
    def sdk(self) -> Any:
        """What openai-python makes of this answer (sdk.SdkView), worked out once for the sdk.* checks."""
        return self.views(self.exchange)


@dataclass(frozen=True)
class PairObservation:
    """The blocking and streamed answers to one request."""

    pair: Pair
    blocking: Observation
    stream: Observation


CheckFunction = Callable[[Any], Iterable[Violation]]


@dataclass(frozen=True)
class Check:
    """A registered check: its rule, the subject it judges and, for answers, the circumstances it applies to."""

    id: str
    level: Level
    rule: str
    source: str
    function: CheckFunction
    subject: Subject = Subject.ANSWER
    modes: tuple[str, ...] = ("blocking", "stream")
    applies: Callable[[Case], bool] = lambda case: True
    judges_truncated: bool = True
    gate: bool = False
    module: str = ""  # where it is defined: one of CHECK_MODULES


_REGISTRY: dict[str, Check] = {}
_MODULE_ORDER = {f"{__package__}.{name}": index for index, name in enumerate(CHECK_MODULES)}


def check(
    check_id: str,
    *,
    rule: str,
    source: str,
    subject: Subject = Subject.ANSWER,
    level: Level = Level.MUST,
    modes: tuple[str, ...] = ("blocking", "stream"),
    applies: Callable[[Case], bool] = lambda case: True,
    judges_truncated: bool = True,
    gate: bool = False,
) -> Callable[[Callable[..., Iterator[str | tuple[str, dict[str, Any]]]]], Check]:
    """Register a check; the function yields messages (or (message, data)) for each breach of its subject.

    modes, applies, judges_truncated and gate say which answers an answer check judges, and whether a breach
    stops the checks after it (an answer that is no HTTP 200, no JSON, no event stream).
    """

    def register(function: Callable[..., Iterator[Any]]) -> Check:
        module = function.__module__

        def run(seen: Any) -> Iterator[Violation]:
            for found in function(seen):
                message, data = found if isinstance(found, tuple) else (found, {})
                yield Violation(check_id, level, message, data)

        registered = Check(check_id, level, rule, source, run, subject, modes, applies, judges_truncated, gate, module)
        if module == "__main__":  # a module run with python -m: its importable copy is the one all_checks() registers
            return registered
        if module.removeprefix(f"{__package__}.") not in CHECK_MODULES:
            raise ValueError(f"check {check_id!r} is defined in {module}, which CHECK_MODULES does not list")
        if check_id in _REGISTRY:
            raise ValueError(f"check id {check_id!r} registered twice")
        _REGISTRY[check_id] = registered
        return registered

    return register


def in_module_order(checks: Iterable[Check]) -> list[Check]:
    """The checks in CHECK_MODULES' order of their modules, each module's in definition order (a stable sort)."""
    return sorted(checks, key=lambda found: _MODULE_ORDER[found.module])


def registered(subject: Subject) -> list[Check]:
    """The checks registered so far that judge one kind of subject, in module order (in_module_order).

    Complete for a subject once the modules that define its checks are imported: judge.py imports those of
    answers and pairs, refusal.py defines the refusal checks; catalogue.checks_of imports them all."""
    return in_module_order(found for found in _REGISTRY.values() if found.subject is subject)


def error_shown(exchange: Exchange) -> str:
    """An error answer's message as a check's message quotes it, cut to a readable length."""
    return shorten(error_message(exchange), ERROR_SHOWN)
