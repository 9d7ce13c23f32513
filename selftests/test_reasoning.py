"""A thinking model's thought: its reassembly, and the reasoning checks on crafted answers (no server, no HTTP).

Whole answers are rendered by the fault server's own functions (plan, blocking body, stream events) and judged by
every check, so each case shows exactly which checks fire; single checks are run on hand-made answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from selftests.fault_server import (
    BENIGN,
    FAULTS,
    THOUGHT,
    Plan,
    build_plan,
    completion_body,
    parse_request,
    stream_events,
)
from toolcall_conformance.inputs.cases import Case, Pair, ToolSet
from toolcall_conformance.judging.answer import Answer, Call, answer_of
from toolcall_conformance.judging.catalogue import all_checks
from toolcall_conformance.judging.judge import run_checks, run_pair_checks
from toolcall_conformance.judging.reasoning import REPEATED_AT_LEAST
from toolcall_conformance.judging.registry import Observation
from toolcall_conformance.judging.schema import shorten
from toolcall_conformance.judging.verdict import Level
from toolcall_conformance.wire.client import Exchange
from toolcall_conformance.wire.stream import parse_sse, reassemble

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_forecast",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer", "maximum": 7}},
                "required": ["city", "days"],
            },
        },
    },
)
TOOLSET = ToolSet(id="unit", title="unit", tools=TOOLS)
ANSWER_CHECKS = ("reasoning.type", "reasoning.no-markup", "reasoning.not-repeated", "reasoning.names-agree")
PAIR_CHECK = "equivalence.reasoning"
REASONING_FAULTS = [name for name in FAULTS if name.startswith("reasoning-")]
REASONING_BENIGN = [name for name in BENIGN if name.startswith("benign-reasoning")]
# A thought of two lines: a copy of it in the arguments reads "...\\n..." on the wire.
SHOWN = json.dumps(THOUGHT)  # how a message shows the thought (schema.shorten)
TWO_LINES = "The user wants the forecast.\nSo I call get_forecast for Dallas."


# --- building answers ---------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "m",
        "choices": [choice],
    }


def _sse(*chunks: dict[str, Any]) -> bytes:
    return ("".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n").encode()


def _case(mode: str) -> Case:
    return Case(TOOLSET, mode, "required")


def _rendered(mode: str, fault: str = "none", change: Callable[[Plan], None] | None = None) -> Exchange:
    """The fault server's answer to a required request in that mode (a plan fault applied, then change)."""
    case = _case(mode)
    body: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": "The forecast for Dallas, please."}],
        "tools": list(TOOLS),
        "tool_choice": case.tool_choice(),
        "seed": 1,
        "max_tokens": 256,
    }
    if case.stream:
        body["stream"] = True
    if case.include_usage:
        body["stream_options"] = {"include_usage": True}
    request = parse_request(body, "m")
    plan = build_plan(request, fault)
    if change is not None:
        change(plan)
    exchange = Exchange(url="http://h/v1/chat/completions", request=body, stream=case.stream, status=200)
    if case.stream:
        exchange.headers = {"content-type": "text/event-stream"}
        exchange.raw = "".join(stream_events(plan, request, fault)).encode()
        exchange.events = parse_sse(exchange.raw)
    else:
        exchange.headers = {"content-type": "application/json"}
        exchange.json_body = completion_body(plan, request)
        exchange.raw = json.dumps(exchange.json_body).encode()
    return exchange


def _fired(exchange: Exchange) -> dict[str, Level]:
    """Every check (not only the reasoning ones) an answer breaks, with its level."""
    _, violations, _ = run_checks(_case("stream" if exchange.stream else "blocking"), exchange)
    return {violation.check: violation.level for violation in violations}


def _pair_fired(blocking: Exchange, stream: Exchange) -> list[str]:
    """The messages of the pair checks that fire on a blocking and a streamed answer."""
    seen = [run_checks(_case(mode), exchange)[0] for mode, exchange in (("blocking", blocking), ("stream", stream))]
    violations, judged = run_pair_checks(Pair(_case("blocking"), _case("stream")), *seen)
    assert PAIR_CHECK in judged
    return [f"{violation.check}: {violation.message}" for violation in violations]


def _think(**fields: Any) -> Callable[[Plan], None]:
    def change(plan: Plan) -> None:
        plan.reasoning = dict(fields)

    return change


def _observed(answer: Answer) -> Observation:
    exchange = Exchange(url="http://h/v1/chat/completions", request={"tools": list(TOOLS)}, stream=False)
    return Observation(_case("blocking"), exchange, answer, views=lambda exchange: None)


def _messages(check_id: str, answer: Answer) -> list[str]:
    return [violation.message for violation in all_checks()[check_id].function(_observed(answer))]


def _call(arguments: str, name: str = "get_forecast") -> Call:
    return Call(0, "call_1", "function", name, arguments)


# --- reassembly ---------------------------------------------------------------------------------


def test_a_thought_split_across_deltas_is_joined_and_kept_apart_from_content():
    raw = _sse(
        _chunk({"role": "assistant"}),
        _chunk({"reasoning": "The user "}),
        _chunk({"reasoning": "asks"}),
        _chunk({"reasoning": ""}),
        _chunk({"reasoning": " twice.", "content": "Done."}),
        _chunk({}, "tool_calls"),
    )
    result = reassemble(parse_sse(raw))
    assert result.reasoning == {"reasoning": "The user asks twice."}
    assert result.content == "Done." and result.odd_reasoning == [] and result.after_finish == []


def test_both_names_are_joined_each_on_its_own():
    raw = _sse(
        _chunk({"role": "assistant", "reasoning_content": None}),
        _chunk({"reasoning": "a", "reasoning_content": "a"}),
        _chunk({"reasoning_content": "b"}),
        _chunk({"reasoning": "b"}),
        _chunk({}, "tool_calls"),
    )
    assert reassemble(parse_sse(raw)).reasoning == {"reasoning": "ab", "reasoning_content": "ab"}


def test_a_value_that_is_no_string_is_recorded_with_its_event_position():
    raw = _sse(
        _chunk({"role": "assistant", "reasoning": None}),
        _chunk({"reasoning": "fine"}),
        _chunk({"reasoning": [{"type": "text", "text": "x"}]}),
        _chunk({"reasoning_content": 7}),
        _chunk({}, "tool_calls"),
    )
    result = reassemble(parse_sse(raw))
    assert result.reasoning == {"reasoning": "fine"}
    assert result.odd_reasoning == [(2, "reasoning", [{"type": "text", "text": "x"}]), (3, "reasoning_content", 7)]
    exchange = Exchange(url="u", request={}, stream=True, status=200, events=parse_sse(raw))
    messages = _messages("reasoning.type", answer_of(exchange))
    assert len(messages) == 2
    assert messages[0].startswith("event 2: reasoning is list, not a string") and messages[1].startswith("event 3")


def test_a_thought_after_the_finish_reason_adds_to_a_finished_choice():
    raw = _sse(_chunk({"role": "assistant"}), _chunk({}, "tool_calls"), _chunk({"reasoning": "late"}))
    assert reassemble(parse_sse(raw)).after_finish == [2]


def test_a_blocking_thought_comes_from_the_message_fields():
    body = {"choices": [{"index": 0, "message": {"reasoning": "r", "reasoning_content": None}}]}
    exchange = Exchange(url="u", request={}, stream=False, status=200, json_body=body)
    answer = answer_of(exchange)
    assert (answer.reasoning, answer.odd_reasoning, answer.reasoning_text) == ({"reasoning": "r"}, [], "r")
    body["choices"][0]["message"] = {"reasoning": {"text": "r"}, "reasoning_content": "rc"}
    answer = answer_of(exchange)
    assert answer.odd_reasoning == [("message", "reasoning", {"text": "r"})] and answer.reasoning_text == "rc"


def test_the_thought_a_client_reads_is_the_first_name_filled():
    assert Answer(reasoning={"reasoning": "a", "reasoning_content": "b"}).reasoning_text == "a"
    assert Answer(reasoning={"reasoning": "", "reasoning_content": "b"}).reasoning_text == "b"
    assert Answer().reasoning_text is None


# --- whole answers, judged by every check ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["blocking", "stream"])
@pytest.mark.parametrize("fault", ["none", *REASONING_BENIGN])
def test_an_answer_with_or_without_a_legal_thought_breaks_nothing(fault: str, mode: str):
    exchange = _rendered(mode, fault)
    assert _fired(exchange) == {}
    assert bool(answer_of(exchange).reasoning) == (fault != "none")


@pytest.mark.parametrize("fault", ["none", *REASONING_BENIGN])
def test_a_legal_thought_is_the_same_in_both_modes(fault: str):
    assert _pair_fired(_rendered("blocking", fault), _rendered("stream", fault)) == []


def test_benign_reasoning_streams_its_thought_in_many_small_deltas():
    exchange = _rendered("stream", "benign-reasoning")
    deltas = [chunk["choices"][0]["delta"] for _, chunk in reassemble(exchange.events).chunks if chunk["choices"]]
    pieces = [delta["reasoning"] for delta in deltas if "reasoning" in delta]
    assert len(pieces) >= 10 and "".join(pieces) == THOUGHT and len(THOUGHT) >= 2 * REPEATED_AT_LEAST


ANSWER_FAULTS = {
    "reasoning-not-string": {"reasoning.type": Level.MUST},
    "reasoning-markup-in-content": {"reasoning.no-markup": Level.MUST},
    "reasoning-markup-in-arguments": {"reasoning.no-markup": Level.MUST},
    "reasoning-repeated-in-content": {"reasoning.not-repeated": Level.MUST},
    "reasoning-names-disagree": {"reasoning.names-agree": Level.SHOULD},
    "reasoning-stream-only": {},  # each answer is fine alone; the pair is not
}


def test_every_reasoning_fault_is_covered_here():
    assert sorted(ANSWER_FAULTS) == sorted(REASONING_FAULTS)


@pytest.mark.parametrize("mode", ["blocking", "stream"])
@pytest.mark.parametrize("fault", list(ANSWER_FAULTS))
def test_each_reasoning_fault_breaks_exactly_its_check(fault: str, mode: str):
    assert _fired(_rendered(mode, fault)) == ANSWER_FAULTS[fault]


@pytest.mark.parametrize("fault", list(ANSWER_FAULTS))
def test_only_a_thought_in_one_mode_breaks_the_pair(fault: str):
    fired = _pair_fired(_rendered("blocking", fault), _rendered("stream", fault))
    if fault == "reasoning-stream-only":
        assert fired == [f"{PAIR_CHECK}: the streamed answer carries a thought, the blocking one none: {SHOWN}"]
    else:
        assert fired == []


# --- equivalence.reasoning ------------------------------------------------------------------------


def test_a_thought_only_the_blocking_answer_carries_breaks_the_pair():
    fired = _pair_fired(_rendered("blocking", change=_think(reasoning=THOUGHT)), _rendered("stream"))
    assert fired == [f"{PAIR_CHECK}: the blocking answer carries a thought, the streamed one none: {SHOWN}"]


def test_different_thoughts_break_the_pair():
    blocking = _rendered("blocking", change=_think(reasoning=THOUGHT))
    stream = _rendered("stream", change=_think(reasoning=THOUGHT.upper()))
    [fired] = _pair_fired(blocking, stream)
    assert fired.startswith(f"{PAIR_CHECK}: blocking thought {SHOWN} vs streamed ")


def test_the_pair_reads_either_name_trims_the_ends_and_takes_a_blank_thought_for_none():
    blocking = _rendered("blocking", change=_think(reasoning_content=THOUGHT))
    assert _pair_fired(blocking, _rendered("stream", change=_think(reasoning=f"\n\n{THOUGHT}  "))) == []
    assert _pair_fired(_rendered("blocking", change=_think(reasoning="\n")), _rendered("stream")) == []


# --- single checks on hand-made answers ---------------------------------------------------------


def test_an_answer_without_a_thought_passes_all_five():
    answer = Answer([_call('{"city": "Dallas", "days": 5}')], None, "tool_calls")
    assert {check: _messages(check, answer) for check in ANSWER_CHECKS} == {check: [] for check in ANSWER_CHECKS}
    assert _pair_fired(_rendered("blocking"), _rendered("stream")) == []


def test_reasoning_type_takes_strings_and_nulls_and_names_anything_else():
    assert _messages("reasoning.type", Answer(reasoning={"reasoning": "", "reasoning_content": THOUGHT})) == []
    answer = Answer(odd_reasoning=[("message", "reasoning_content", 3)])
    assert _messages("reasoning.type", answer) == ["message: reasoning_content is int, not a string: 3"]


@pytest.mark.parametrize(
    ("content", "arguments", "name", "where"),
    [
        (f"<think>\n{THOUGHT}\n</think>\n\n", '{"city": "Dallas", "days": 5}', "get_forecast", "content"),
        ("The forecast follows.</think>", '{"city": "Dallas", "days": 5}', "get_forecast", "content"),
        (
            None,
            '{"city": "<think>\\n\\n</think>\\n\\nDallas", "days": 5}',
            "get_forecast",
            "call 0 ('get_forecast')'s arguments",
        ),
        (None, '{"city": "Dallas", "days": 5}', "<think>get_forecast", "call 0 ('<think>get_forecast')'s name"),
        (None, '{"note": "<seed:think>x</seed:think>"}', "get_forecast", "call 0 ('get_forecast')'s arguments"),
        ("<|channel|>analysis<|message|>I call it.", "{}", "get_forecast", "content"),
    ],
)
def test_reasoning_no_markup_finds_markup_in_content_names_and_arguments(content, arguments, name, where):
    [message] = _messages("reasoning.no-markup", Answer([_call(arguments, name)], content, "tool_calls"))
    assert message.startswith(f"{where} holds thinking markup")


def test_reasoning_no_markup_leaves_the_thought_s_own_field_and_plain_words_alone():
    answer = Answer(
        [_call('{"city": "I think, therefore I am", "days": 5, "tag": "<think>", "close": "</think>"}')],
        "Thinking done: <thinking> is no markup of a family vLLM parses.",
        "tool_calls",
        reasoning={"reasoning": "<think>a thought that quotes its own markup</think>"},
    )
    assert _messages("reasoning.no-markup", answer) == []


def test_reasoning_not_repeated_finds_the_thought_in_content_once_whatever_the_names():
    answer = Answer([_call('{"city": "Dallas", "days": 5}')], f"Here: {TWO_LINES}", "tool_calls")
    answer.reasoning = {"reasoning": f"  {TWO_LINES}\n", "reasoning_content": TWO_LINES}
    assert _messages("reasoning.not-repeated", answer) == [
        f"content repeats the thought ({len(TWO_LINES)} characters): {shorten(TWO_LINES)}"
    ]


def test_reasoning_not_repeated_leaves_a_thought_a_tool_asks_for_alone():
    """A "think" tool takes the thought as an argument: the model's choice, not the server's leak."""
    arguments = json.dumps({"thought": THOUGHT})
    assert (
        _messages("reasoning.not-repeated", Answer([_call(arguments, "think")], reasoning={"reasoning": THOUGHT})) == []
    )


def test_reasoning_not_repeated_lets_a_short_thought_or_a_part_of_one_be():
    padded = "Call it." + " " * REPEATED_AT_LEAST  # short once its ends are trimmed
    short = Answer([_call('{"city": "Call it."}')], "Call it.", reasoning={"reasoning": padded})
    part = Answer([_call(json.dumps({"city": THOUGHT[:40]}))], THOUGHT[5:], reasoning={"reasoning": THOUGHT})
    assert _messages("reasoning.not-repeated", short) == _messages("reasoning.not-repeated", part) == []


def test_reasoning_names_agree_compares_only_what_both_names_carry():
    one = Answer(reasoning={"reasoning_content": THOUGHT})
    same = Answer(reasoning={"reasoning": THOUGHT, "reasoning_content": THOUGHT})
    empty = Answer(reasoning={"reasoning": THOUGHT, "reasoning_content": ""})  # an empty delta says nothing
    assert _messages("reasoning.names-agree", one) == _messages("reasoning.names-agree", same) == []
    assert _messages("reasoning.names-agree", empty) == []
    [message] = _messages("reasoning.names-agree", Answer(reasoning={"reasoning": THOUGHT, "reasoning_content": "x"}))
    assert (
        message.startswith("the two names carry different thoughts: reasoning ") and 'reasoning_content "x"' in message
    )
    assert all_checks()["reasoning.names-agree"].level is Level.SHOULD
