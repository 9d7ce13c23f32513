"""Running the checks: an answer's (checks.py and the SDK view's, sdk.py) and a request's streamed against
blocking, each made into one judgement.

Whoever judges says where the SDK's view of an answer comes from (views): by default it is worked out here,
with openai-python; the suite hands in its worker's, which works views out while answers arrive.
"""

from __future__ import annotations

from ..inputs.cases import Case, Pair
from ..wire.client import Exchange
from . import checks as checks  # registers the answer and pair checks this module runs
from . import reasoning as reasoning  # registers the reasoning.* answer checks and their pair check
from . import sdk as sdk  # registers the sdk.* answer checks
from .registry import Check, Observation, PairObservation, Subject, Views, registered
from .sdk import sdk_view
from .verdict import Judgement, Verdict, Violation, transport_judgement, truncation_note, verdict_of


def checks_for(case: Case) -> list[Check]:
    """The answer checks that apply to a case, in registry order."""
    return [c for c in registered(Subject.ANSWER) if case.mode in c.modes and c.applies(case)]


def run_checks(
    case: Case, exchange: Exchange, views: Views = sdk_view
) -> tuple[Observation, list[Violation], list[str]]:
    """Run every applicable check; returns the observation, the violations and the ids judged."""
    seen = Observation.of(case, exchange, views)
    truncated = seen.answer.truncated  # once: it may parse the last call's arguments
    violations: list[Violation] = []
    judged: list[str] = []
    for found in checks_for(case):
        if truncated and not found.judges_truncated:
            continue
        judged.append(found.id)
        broken = list(found.function(seen))
        violations.extend(broken)
        if broken and found.gate:
            break
    return seen, violations, judged


def run_pair_checks(pair: Pair, blocking: Observation, stream: Observation) -> tuple[list[Violation], list[str]]:
    """Run the checks that compare a request's streamed and blocking answers."""
    seen = PairObservation(pair, blocking, stream)
    violations: list[Violation] = []
    judged: list[str] = []
    for found in registered(Subject.PAIR):
        judged.append(found.id)
        violations.extend(found.function(seen))
    return violations, judged


def judge_exchange(
    test_id: str, case: Case, exchange: Exchange, death: str | None = None, views: Views = sdk_view
) -> Judgement:
    """One answer's judgement: the transport's verdict when the exchange broke, else its checks' verdict.

    death: how the server died, if it did (see verdict.transport_judgement)."""
    if exchange.transport_error is not None:
        return transport_judgement(test_id, exchange, death)
    seen, violations, judged = run_checks(case, exchange, views)
    judgement = Judgement(test_id, verdict_of(violations, seen.answer.truncated), violations, judged, [exchange])
    if judgement.verdict is Verdict.TRUNCATED:
        judgement.note = truncation_note(seen.answer.truncation_evidence())
    return judgement


def judge_pair(
    test_id: str, pair: Pair, exchanges: tuple[Exchange, ...], death: str | None = None, views: Views = sdk_view
) -> Judgement:
    """The comparison of one request's blocking and streamed answers, when both can be compared."""
    broken = [exchange for exchange in exchanges if exchange.transport_error is not None]
    if broken:
        return transport_judgement(test_id, broken[0], death)
    blocking_seen = Observation.of(pair.blocking, exchanges[0], views)
    stream_seen = Observation.of(pair.stream, exchanges[1], views)
    unusable = _why_incomparable(blocking_seen, stream_seen)
    if unusable:
        return Judgement(test_id, unusable[0], exchanges=list(exchanges), note=unusable[1])
    violations, judged = run_pair_checks(pair, blocking_seen, stream_seen)
    return Judgement(test_id, verdict_of(violations, False), violations, judged, list(exchanges))


def _why_incomparable(*sides: Observation) -> tuple[Verdict, str] | None:
    """An answer that broke a gate check (HTTP status, a body that is no JSON or no stream) has nothing to compare.

    Only the gate checks run here: the answers' own tests judge everything else."""
    for seen in sides:
        for found in checks_for(seen.case):
            if found.gate:
                broken = next(iter(found.function(seen)), None)
                if broken is not None:
                    return (
                        Verdict.INCONCLUSIVE,
                        f"inconclusive: the {seen.case.mode} answer is unusable: {broken.line()}",
                    )
    if any(seen.answer.truncated for seen in sides):
        return Verdict.TRUNCATED, "truncated: an answer was cut at the token limit; nothing to compare"
    return None


def warm_up() -> None:
    """Do the judging's start-up work now: replay an answer through the SDK view (openai-python's imports and
    models), which the first test's judging would otherwise wait for."""
    sdk.warm_up()
