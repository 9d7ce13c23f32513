"""The reject.* checks and the verdict of a bad request (inputs/bad_requests.py holds the cases).

Each bad request is judged on these rules: it is refused with a 4xx, not a 5xx; the refusal carries OpenAI's
error object; and a valid request sent right after it is still answered. Bad requests are few and fast, so each
test sends its own, one at a time, beside the dispatcher (wire.client.send_with_follow_up).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..inputs.bad_requests import BadRequest
from ..wire.client import Exchange
from .answer import answer_of
from .registry import MAX_PROBLEMS_SHOWN, Check, Subject, check, error_shown, registered
from .schema import ERROR, envelope_problems, shorten
from .verdict import Judgement, Level, Violation, transport_judgement, verdict_of

RFC_CLIENT_ERROR = "RFC 9110 §15.5 (4xx: the client's error)"


@dataclass(frozen=True)
class Refusal:
    """What the reject.* checks look at: the answer to a bad request and to the valid request sent after it."""

    case: BadRequest
    answer: Exchange
    follow_up: Exchange | None

    @property
    def refused(self) -> bool:
        return (self.answer.status or 0) >= 400


@check(
    "reject.status-4xx",
    rule="A request the contract forbids is refused with a 4xx status, not accepted (2xx or 3xx).",
    source=f"{RFC_CLIENT_ERROR}; OpenAI API reference, error codes",
    subject=Subject.REFUSAL,
)
def reject_status_4xx(seen: Refusal) -> Iterator[tuple[str, dict[str, Any]]]:
    status = seen.answer.status
    if status is None or status >= 400:
        return
    if 200 <= status < 300:
        # Accepting is what a case's level is about: a SHOULD case only warns.
        yield f"accepted with HTTP {status} ({_accepted(seen.answer)})", {"status": status, "accepted": True}
    else:
        yield f"HTTP {status}, not a 4xx refusal: {error_shown(seen.answer)}", {"status": status}


@check(
    "reject.no-server-error",
    rule="A request the contract forbids is the client's mistake: the server answers it with a 4xx, not a 5xx.",
    source=f"{RFC_CLIENT_ERROR}; RFC 9110 §15.6 (5xx: the server's error)",
    subject=Subject.REFUSAL,
)
def reject_no_server_error(seen: Refusal) -> Iterator[tuple[str, dict[str, Any]]]:
    # Its own check id, so that a baseline where a case was accepted does not hide a server that now crashes on it.
    status = seen.answer.status
    if status is not None and status >= 500:
        yield (
            f"HTTP {status}, a server error, for the client's mistake: {error_shown(seen.answer)}",
            {"status": status},
        )


@check(
    "reject.error-shape",
    rule='A refusal carries OpenAI\'s error object {"error": {"message", "type", "param", "code"}} as schemas/openai/error.json defines it.',
    source="OpenAI API reference, error codes; openai-python ErrorObject",
    subject=Subject.REFUSAL,
)
def reject_error_shape(seen: Refusal) -> Iterator[str]:
    exchange = seen.answer
    if exchange.json_error:
        began = shorten(exchange.raw[:120].decode("utf-8", errors="replace"))
        yield f"the HTTP {exchange.status} body is not JSON ({exchange.json_error}): {exchange.content_type or 'no content-type'}, {began}"
        return
    problems = envelope_problems(exchange.json_body, ERROR)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        yield f"{problem.describe()}; body: {shorten(exchange.json_body)}"


@check(
    "reject.still-serving",
    rule='After the bad request, a valid request (tools, tool_choice "required") is still answered with HTTP 200.',
    source=f"{RFC_CLIENT_ERROR}: a client's mistake is answered, it does not take the server down",
    subject=Subject.REFUSAL,
)
def reject_still_serving(seen: Refusal) -> Iterator[str]:
    follow_up = seen.follow_up
    assert follow_up is not None, "still-serving is judged only when the bad request was answered"
    if follow_up.transport_error is not None:
        error = follow_up.transport_error
        yield f"the valid request sent right after got no answer: [{error.kind}] {error.message}"
    elif follow_up.status != 200:
        yield f"the valid request sent right after was answered HTTP {follow_up.status}: {error_shown(follow_up)}"


def _accepted(exchange: Exchange) -> str:
    if not isinstance(exchange.json_body, dict):
        return f"{len(exchange.raw)} bytes of {exchange.content_type or 'no content-type'}"
    answer = answer_of(exchange)
    return f"an answer with finish_reason {answer.finish_reason!r} and {len(answer.calls)} tool call(s)"


# ---------------------------------------------------------------- the verdict


def judge_refusal(test_id: str, case: BadRequest, answer: Exchange, follow_up: Exchange | None) -> Judgement:
    """The verdict of one bad request: the reject.* checks, a SHOULD case's acceptance only warning."""
    if answer.transport_error is not None:
        judgement = transport_judgement(test_id, answer)
        judgement.extra["bad_request"] = {"level": case.level}
        return judgement
    seen = Refusal(case, answer, follow_up)
    judged = _checks_for(seen)
    violations = [_at_case_level(found, case) for registered in judged for found in registered.function(seen)]
    broken = {violation.check for violation in violations}
    judgement = Judgement(
        test_id,
        verdict_of(violations, truncated=False),
        violations,
        [registered.id for registered in judged],
        exchanges=_shown(seen, broken),
        note=_note(seen, broken),
    )
    judgement.extra["bad_request"] = {
        "level": case.level,
        "status": answer.status,
        "follow_up_status": follow_up.status if follow_up is not None else None,
    }
    return judgement


def _checks_for(seen: Refusal) -> list[Check]:
    # An answer that is no refusal (2xx) has no error object to judge.
    return [found for found in registered(Subject.REFUSAL) if seen.refused or found is not reject_error_shape]


def _at_case_level(violation: Violation, case: BadRequest) -> Violation:
    if violation.data.get("accepted") and Level(case.level) is Level.SHOULD:
        return dataclasses.replace(violation, level=Level.SHOULD)
    return violation


def _shown(seen: Refusal, broken: set[str]) -> list[Exchange]:
    """The exchanges a reader needs: the bad request, and the follow-up when it was not answered."""
    shown = [seen.answer]
    if reject_still_serving.id in broken and seen.follow_up is not None:
        shown.append(seen.follow_up)
    return shown


def _note(seen: Refusal, broken: set[str]) -> str:
    if not broken:
        return ""
    lines = [f"bad request {seen.case.id} ({seen.case.level}): {seen.case.invalid_because}"]
    if reject_still_serving.id in broken:
        lines.append("the last request shown is the valid follow-up")
    return "\n".join(lines)
