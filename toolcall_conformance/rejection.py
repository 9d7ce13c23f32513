"""Requests a server must refuse (schemas/bad-requests.json): the cases, the reject.* checks, and how they are sent.

Each bad request is judged on three rules: it is refused with a 4xx, the refusal carries OpenAI's error object,
and a valid request sent right after it is still answered. Bad requests are few and fast, so each test sends its
own, one at a time, beside the dispatcher (which sends, and deduplicates, the suite's valid requests).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from .answer import answer_of
from .cases import REPO_ROOT, SEED_ID, TOOLS_DIR, load_toolset
from .checks import MAX_PROBLEMS_SHOWN, Check, Subject, check, checks_of, error_shown
from .client import Exchange, send, send_raw
from .schema import ERROR, envelope_problems, shorten
from .settings import Settings
from .verdict import Judgement, Level, Violation, transport_judgement, verdict_of

BAD_REQUESTS_FILE = REPO_ROOT / "schemas" / "bad-requests.json"
FOLLOW_UP_MAX_TOKENS = 16
RFC_CLIENT_ERROR = "RFC 9110 §15.5 (4xx: the client's error)"


@dataclass(frozen=True)
class BadRequest:
    """One request a server must refuse, why it is invalid, and how binding the refusal is."""

    id: str
    title: str
    invalid_because: str
    level: Level
    level_because: str
    source: str
    body: dict[str, Any] | None = None
    raw: str | None = None

    def labels(self) -> dict[str, str]:
        """The report matrix position: every bad request is a blocking request of the feature 'bad-request'."""
        return {"feature": "bad-request", "mode": "blocking", "choice": self.id}

    def json_body(self, settings: Settings) -> dict[str, Any]:
        """The template filled in: the run's model and max_tokens unless it sets them, the seed's placeholders."""
        assert self.body is not None, f"{self.id} is sent as raw bytes"
        filled: dict[str, Any] = {"model": settings.model, **_with_seed(self.body)}
        filled.setdefault("max_tokens", settings.max_tokens)
        return filled


@cache
def _seed_values() -> dict[str, Any]:
    seed = load_toolset(TOOLS_DIR / f"{SEED_ID}.json")
    return {"$seed.messages": seed.conversation(), "$seed.tools": list(seed.tools)}


def _with_seed(template: Any) -> Any:
    """A deep copy of the template with "$seed.messages" and "$seed.tools" replaced by the seed's values."""
    if isinstance(template, dict):
        return {key: _with_seed(value) for key, value in template.items()}
    if isinstance(template, list):
        return [_with_seed(item) for item in template]
    placeholders = _seed_values() if isinstance(template, str) and template.startswith("$seed.") else {}
    return copy.deepcopy(placeholders.get(template, template))


@cache
def bad_requests(path: Path = BAD_REQUESTS_FILE) -> tuple[BadRequest, ...]:
    """Every case of the data file, in file order."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        BadRequest(
            id=case["id"],
            title=case["title"],
            invalid_because=case["invalid_because"],
            level=Level(case["level"]),
            level_because=case["level_because"],
            source=case["source"],
            body=case.get("body"),
            raw=case.get("raw"),
        )
        for case in document["cases"]
    )


def follow_up_body(settings: Settings) -> dict[str, Any]:
    """A valid request with tools and tool_choice "required"; its small max_tokens keeps it cheap and its own."""
    return {
        "model": settings.model,
        "messages": _with_seed("$seed.messages"),
        "tools": _with_seed("$seed.tools"),
        "tool_choice": "required",
        "max_tokens": FOLLOW_UP_MAX_TOKENS,
        "seed": settings.seed,
    }


# ---------------------------------------------------------------- sending


async def _send_both(case: BadRequest, settings: Settings) -> tuple[Exchange, Exchange | None]:
    endpoint, key, timeout = settings.endpoint or "", settings.api_key, settings.request_timeout
    # Each request on a fresh connection: a server may close the connection after a refusal, and a
    # follow-up that races that close would look like a dead server.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=timeout, verify=settings.verify, limits=limits) as http:
        if case.raw is not None:
            answer = await send_raw(http, endpoint, key, case.raw.encode("utf-8"), timeout)
        else:
            answer = await send(http, endpoint, key, case.json_body(settings), timeout)
        if answer.transport_error is not None:
            return answer, None
        return answer, await send(http, endpoint, key, follow_up_body(settings), timeout)


def send_bad_request(case: BadRequest, settings: Settings) -> tuple[Exchange, Exchange | None]:
    """Send the bad request, then (if it was answered at all) the valid follow-up; never raises for the server."""
    return asyncio.run(_send_both(case, settings))


# ---------------------------------------------------------------- the checks


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
        judgement.extra["bad_request"] = {"level": case.level.value}
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
        "level": case.level.value,
        "status": answer.status,
        "follow_up_status": follow_up.status if follow_up is not None else None,
    }
    return judgement


def _checks_for(seen: Refusal) -> list[Check]:
    # An answer that is no refusal (2xx) has no error object to judge.
    return [
        registered for registered in checks_of(Subject.REFUSAL) if seen.refused or registered is not reject_error_shape
    ]


def _at_case_level(violation: Violation, case: BadRequest) -> Violation:
    if violation.data.get("accepted") and case.level is Level.SHOULD:
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
    lines = [f"bad request {seen.case.id} ({seen.case.level.value}): {seen.case.invalid_because}"]
    if reject_still_serving.id in broken:
        lines.append("the last request shown is the valid follow-up")
    return "\n".join(lines)
