"""The named checks of answers: each a small function with a stable id, the rule it enforces and where it
comes from; the checks that compare a request's streamed and blocking answers at the end.

What a check is and how it registers is registry.py; judge.py runs these (with the SDK view's, sdk.py) on an
answer; catalogue.py holds every check of the suite, these and those of refusal.py and generated.py.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..inputs.cases import Case, parameters_of
from ..wire.client import Exchange
from ..wire.stream import StreamedCall
from .answer import Answer, Call, comparable_arguments
from .registry import (
    JSON_SCHEMA,
    MAX_PROBLEMS_SHOWN,
    OPENAI_CHAT,
    OPENAI_FUNCTION_CALLING,
    OPENAI_STREAM,
    RFC_JSON,
    SDK_TYPES,
    WHATWG_SSE,
    Observation,
    PairObservation,
    Subject,
    check,
    error_shown,
)
from .schema import CHUNK, COMPLETION, envelope_problems, schema_problems, shorten, strict_json
from .verdict import Level


def _required(case: Case) -> bool:
    return case.choice == "required"


def _named(case: Case) -> bool:
    return case.choice == "named"


# ---------------------------------------------------------------- wire and envelope


RFC_PERSISTENT = "RFC 9112 §9.3 (persistent connections), §9.6 (tear-down: a server that will close says close)"


@check(
    "http.connection-reuse",
    rule="A connection the server kept open (its last response did not say Connection: close) answers the next"
    " request sent on it; the server does not close it with the request unanswered.",
    source=RFC_PERSISTENT,
    level=Level.SHOULD,
)
def http_connection_reuse(seen: Observation) -> Iterator[tuple[str, dict[str, Any]]]:
    dropped = dropped_requests(seen.exchange)
    if dropped:
        yield dropped_message(dropped), {"dropped": len(dropped)}


def dropped_requests(exchange: Exchange) -> list[dict[str, Any]]:
    """The resends of an exchange's request whose connection broke before any answer (status None).

    The sender (wire/dispatch.py) resends those once and records them beside its overload retries (429, 503).
    It drops idle connections after 2 s, before the keep-alive time of uvicorn (5 s), cpp-httplib (5 s) and most
    servers runs out; a server that times idle connections out sooner (gunicorn's default is 2 s) can meet a
    request on its way, and the message says so. The sender cannot tell whether httpx had reused the connection."""
    return [retry for retry in exchange.retries if retry.get("status") is None]


def dropped_message(dropped: list[dict[str, Any]], of: str = "this test") -> str:
    """http.connection-reuse's evidence: how many requests were dropped, what the transport said, the resend."""
    reasons = "; ".join(dict.fromkeys(str(retry.get("reason") or "no detail") for retry in dropped))
    return (
        f"{len(dropped)} request(s) of {of} got no answer: the server closed the connection it had kept open"
        f" with the request unanswered ({reasons}); each was resent on a new connection, whose answer is judged"
        " (a server whose keep-alive time is under the client's 2 s can also cause this)"
    )


@check(
    "http.status",
    rule="A valid chat completion request is answered with HTTP 200.",
    source=OPENAI_CHAT,
    gate=True,
)
def http_status(seen: Observation) -> Iterator[str]:
    exchange = seen.exchange
    if exchange.status != 200:
        yield f"HTTP {exchange.status} for a valid request: {error_shown(exchange)}"


@check(
    "http.json",
    rule="A blocking answer's body is a JSON document.",
    source=OPENAI_CHAT,
    modes=("blocking",),
    gate=True,
)
def http_json(seen: Observation) -> Iterator[str]:
    if seen.exchange.json_error:
        yield f"body is not JSON ({seen.exchange.json_error}); {_what_came(seen.exchange)}"


def _what_came(exchange: Exchange) -> str:
    """The content type and the first bytes of a body, for messages about bodies that are not what they claim."""
    began = shorten(exchange.raw[:120].decode("utf-8", errors="replace"))
    return f"{len(exchange.raw)} bytes of {exchange.content_type or 'no content-type'}, beginning {began}"


@check(
    "envelope.schema",
    rule="A blocking answer is a chat.completion object as OpenAI defines it (schemas/openai/chat.completion.json).",
    source=OPENAI_CHAT,
    modes=("blocking",),
)
def envelope_schema(seen: Observation) -> Iterator[str]:
    problems = envelope_problems(seen.exchange.json_body, COMPLETION)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        yield problem.describe()
    if len(problems) > MAX_PROBLEMS_SHOWN:
        yield f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more envelope problems"


@check(
    "stream.events",
    rule="A streamed answer is an event stream: it carries data events.",
    source=WHATWG_SSE,
    modes=("stream",),
    gate=True,
)
def stream_events(seen: Observation) -> Iterator[str]:
    if not any(event.data is not None for event in seen.exchange.events):
        yield f"no data events: {_what_came(seen.exchange)}"


@check(
    "stream.content-type",
    rule="A streamed answer is served as text/event-stream.",
    source=WHATWG_SSE,
    modes=("stream",),
)
def stream_content_type(seen: Observation) -> Iterator[str]:
    if "text/event-stream" not in seen.exchange.content_type:
        yield f"content-type is {seen.exchange.content_type or 'missing'!r}, not text/event-stream"


@check(
    "stream.sse",
    rule="Every line of a stream is an SSE field (data:, event:, id:, retry:) or comment, with events split by blank lines.",
    source=WHATWG_SSE,
    modes=("stream",),
)
def stream_sse(seen: Observation) -> Iterator[str]:
    odd = _stream(seen).odd_lines
    if odd:
        yield f"{len(odd)} line(s) that are not SSE, first: {shorten(odd[0])}"


@check(
    "stream.chunk-json",
    rule="The data of every event before [DONE] is one JSON chunk.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_chunk_json(seen: Observation) -> Iterator[str]:
    for position, data, error in _stream(seen).bad_data[:MAX_PROBLEMS_SHOWN]:
        yield f"event {position} is not JSON ({error}): {shorten(data)}"


@check(
    "stream.done",
    rule="A stream ends with the event 'data: [DONE]' and nothing follows it.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_done(seen: Observation) -> Iterator[str]:
    stream = _stream(seen)
    if stream.done_at is None:
        yield f"no 'data: [DONE]' among {stream.event_count} events"
    elif stream.events_after_done:
        yield f"{stream.events_after_done} data event(s) after [DONE]"


@check(
    "envelope.chunk-schema",
    rule="Every chunk is a chat.completion.chunk object as OpenAI defines it (schemas/openai/chat.completion.chunk.json).",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def envelope_chunk_schema(seen: Observation) -> Iterator[str]:
    shown = 0
    for position, chunk in _stream(seen).chunks:
        for problem in envelope_problems(chunk, CHUNK):
            if shown == MAX_PROBLEMS_SHOWN:
                yield "... and more chunk envelope problems"
                return
            shown += 1
            yield f"event {position}: {problem.describe()}"


@check(
    "stream.chunk-id",
    rule="All chunks of one stream carry the same id.",
    source=SDK_TYPES + ": ChatCompletionChunk.id",
    modes=("stream",),
)
def stream_chunk_id(seen: Observation) -> Iterator[str]:
    distinct = list(dict.fromkeys(repr(chunk_id) for chunk_id in _stream(seen).chunk_ids))
    if len(distinct) > 1:
        yield f"{len(distinct)} different chunk ids: {', '.join(distinct[:3])}"


@check(
    "stream.role-once",
    rule='The role "assistant" is sent exactly once in the choice\'s deltas.',
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_role_once(seen: Observation) -> Iterator[str]:
    roles = _stream(seen).roles
    if not roles:
        yield "no delta carried a role"
    elif len(roles) > 1:
        yield f"role sent {len(roles)} times, in events {[position for position, _ in roles]}"
    elif roles[0][1] != "assistant":
        yield f"role is {roles[0][1]!r}, not 'assistant'"


@check(
    "stream.finish-once",
    rule="Each choice gets exactly one non-null finish_reason.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_finish_once(seen: Observation) -> Iterator[str]:
    reasons = _stream(seen).finish_reasons
    if not reasons:
        yield "no chunk carried a finish_reason"
    elif len(reasons) > 1:
        yield f"finish_reason sent {len(reasons)} times: {[reason for _, reason in reasons]}"


@check(
    "stream.tool-index",
    rule="Every tool_calls delta carries the integer index of the call it belongs to.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_tool_index(seen: Observation) -> Iterator[str]:
    missing = _stream(seen).deltas_without_index
    if missing:
        yield f"{len(missing)} tool-call delta(s) without an integer index, first in event {missing[0]}"


def _header_once(call: StreamedCall, values: list[tuple[int, Any]], field_name: str) -> Iterator[str]:
    present = [(position, value) for position, value in values if value != ""]
    label = f"call index {call.index}"
    if not present:
        yield f"{label}: no delta carried {field_name}"
        return
    first_position, first_value = present[0]
    if first_position != call.first_chunk:
        yield f"{label}: {field_name} arrived in event {first_position}, not on the call's first delta ({call.first_chunk})"
    changed = [value for _, value in present[1:] if value != first_value]
    if changed:
        yield f"{label}: {field_name} changed mid-stream from {shorten(first_value)} to {shorten(changed[0])}"
    elif len(present) > 1:
        yield (
            f"{label}: {field_name} {shorten(first_value)} sent {len(present)} times; "
            f"clients that concatenate deltas (the openai SDK does) end up with it repeated"
        )


@check(
    "stream.id-once",
    rule="A call's id arrives once, on its first delta, and never changes.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_id_once(seen: Observation) -> Iterator[str]:
    for call in _stream(seen).ordered_calls():
        yield from _header_once(call, call.ids, "id")


@check(
    "stream.name-once",
    rule="A call's function.name arrives once, on its first delta, and never changes.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_name_once(seen: Observation) -> Iterator[str]:
    for call in _stream(seen).ordered_calls():
        yield from _header_once(call, call.names, "function.name")


@check(
    "stream.type-once",
    rule="A call's type arrives on its first delta.",
    source=OPENAI_STREAM,
    modes=("stream",),
)
def stream_type_once(seen: Observation) -> Iterator[str]:
    for call in _stream(seen).ordered_calls():
        types = [(position, value) for position, value in call.types if value != ""]
        if not types:
            yield f"call index {call.index}: no delta carried type"
        elif types[0][0] != call.first_chunk:
            yield f"call index {call.index}: type arrived in event {types[0][0]}, not on the call's first delta"


@check(
    "stream.usage",
    rule='With stream_options {"include_usage": true}, one last chunk before [DONE] has empty choices and a usage.',
    source=OPENAI_STREAM,
    modes=("stream",),
    applies=lambda case: case.include_usage,
)
def stream_usage(seen: Observation) -> Iterator[str]:
    stream = _stream(seen)
    if not stream.usage_chunks:
        yield "include_usage was requested but no chunk had empty choices and a usage"
    elif len(stream.usage_chunks) > 1:
        yield f"{len(stream.usage_chunks)} usage chunks"
    elif stream.chunks and stream.usage_chunks[0] != stream.chunks[-1][0]:
        yield f"the usage chunk (event {stream.usage_chunks[0]}) is not the last chunk"


@check(
    "stream.chunk-created",
    rule="All chunks of one stream carry the same created timestamp.",
    source=SDK_TYPES + ": ChatCompletionChunk.created",
    modes=("stream",),
)
def stream_chunk_created(seen: Observation) -> Iterator[str]:
    given = [value for _, value in _stream(seen).chunk_created if value is not None]  # a missing one: the schema's
    distinct = list(dict.fromkeys(value if isinstance(value, int | float | str) else repr(value) for value in given))
    if len(distinct) > 1:  # 5 and 5.0 are one value, as a client reads them
        yield f"{len(distinct)} different created values: {', '.join(shorten(value) for value in distinct[:3])}"


@check(
    "stream.chunk-model",
    rule="All chunks of one stream name the same model.",
    source=SDK_TYPES + ": ChatCompletionChunk.model (one completion, one model)",
    level=Level.SHOULD,
    modes=("stream",),
)
def stream_chunk_model(seen: Observation) -> Iterator[str]:
    models = [(position, model) for position, model in _stream(seen).chunk_models if model is not None]
    changed = [(position, model) for position, model in models if model != models[0][1]]
    if changed:
        yield f"model {shorten(models[0][1])} in event {models[0][0]}, {shorten(changed[0][1])} in event {changed[0][0]}"


CLOCK_TOLERANCE = 86_400  # seconds a server's clock may run ahead of the client's
EPOCH_2000 = 946_684_800  # no chat completion was created before 2000-01-01


@check(
    "envelope.created-seconds",
    rule="created is a Unix time in seconds: after 2000 and not more than a day ahead of the client's clock.",
    source=SDK_TYPES + ": ChatCompletion.created, ChatCompletionChunk.created",
)
def envelope_created_seconds(seen: Observation) -> Iterator[str]:
    values = (
        [value for _, value in _stream(seen).chunk_created]
        if seen.exchange.stream
        else [seen.exchange.json_body.get("created")]
        if isinstance(seen.exchange.json_body, dict)
        else []
    )
    latest = time.time() + CLOCK_TOLERANCE
    for value in dict.fromkeys(v for v in values if isinstance(v, int | float) and not isinstance(v, bool)):
        if not EPOCH_2000 <= value <= latest:  # comparisons of any int or float: no overflow, NaN fails too
            hint = " (milliseconds?)" if EPOCH_2000 * 1000 <= value <= latest * 1000 else ""
            yield f"created is {shorten(value)}{hint}: not a Unix time in seconds between 2000 and tomorrow"


@check(
    "envelope.choice-count",
    rule="A blocking answer holds n choices (1 when n is not given), numbered 0 to n - 1 in order.",
    source=SDK_TYPES + ": ChatCompletion.choices, Choice.index",
    modes=("blocking",),
)
def envelope_choice_count(seen: Observation) -> Iterator[str]:
    body = seen.exchange.json_body
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):
        return  # envelope.schema says what is wrong with it
    wanted = _choices_wanted(seen)
    indices = [choice.get("index") if isinstance(choice, dict) else None for choice in choices]
    if len(choices) != wanted:
        yield f"{len(choices)} choices for n={wanted}, with indices {indices}"
    elif indices != list(range(wanted)):
        yield f"choice indices are {indices}, not {list(range(wanted))}"


def _choices_wanted(seen: Observation) -> int:
    n = seen.exchange.request.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


@check(
    "stream.choice-index",
    rule="A chunk holds at most one entry per choice, each with an index below n (0 when n is not given).",
    source=SDK_TYPES + ": ChatCompletionChunk.choices, Choice.index",
    modes=("stream",),
)
def stream_choice_index(seen: Observation) -> Iterator[str]:
    wanted = _choices_wanted(seen)
    if wanted > 1:
        return  # the suite asks for one choice; several would need a reassembly per choice
    others = _stream(seen).other_choices
    if others:
        where = ", ".join(f"event {position}: index {shorten(index)}" for position, index in others[:3])
        yield f"{len(others)} choice entr{'y' if len(others) == 1 else 'ies'} beside the one choice of index 0 ({where})"


@check(
    "stream.after-finish",
    rule="Once a choice has its finish_reason, no later chunk adds to that choice's message.",
    source=SDK_TYPES + ": Choice.finish_reason (the reason the model stopped generating tokens)",
    modes=("stream",),
)
def stream_after_finish(seen: Observation) -> Iterator[str]:
    stream = _stream(seen)
    if stream.after_finish:
        finished = stream.finish_reasons[0][0]
        yield f"{len(stream.after_finish)} chunk(s) after the finish_reason of event {finished} add to the message, first event {stream.after_finish[0]}"


@check(
    "stream.tool-index-order",
    rule="Tool call indices count from 0 in the order the calls begin: each new call takes the next index.",
    source=SDK_TYPES + ": ChoiceDeltaToolCall.index; openai-python accumulates deltas by list position",
    modes=("stream",),
)
def stream_tool_index_order(seen: Observation) -> Iterator[str]:
    order = _stream(seen).index_order
    if order != list(range(len(order))):
        yield f"tool calls began with indices {order}, not {list(range(len(order)))}"


@check(
    "stream.usage-only-last",
    rule="With include_usage, every chunk but the last has a null usage (the last one holds the request's usage).",
    source=SDK_TYPES + ": ChatCompletionChunk.usage",
    modes=("stream",),
    applies=lambda case: case.include_usage,
)
def stream_usage_only_last(seen: Observation) -> Iterator[str]:
    stream = _stream(seen)
    last = stream.chunks[-1][0] if stream.chunks else None
    early = [position for position, _ in stream.usages if position != last]
    if early:
        yield f"{len(early)} chunk(s) before the last carry a usage, first event {early[0]}"


@check(
    "stream.usage-unrequested",
    rule="Without include_usage, no chunk carries a usage.",
    source=SDK_TYPES + ": ChatCompletionChunk.usage (only present when include_usage is set)",
    modes=("stream",),
    applies=lambda case: not case.include_usage,
)
def stream_usage_unrequested(seen: Observation) -> Iterator[str]:
    usages = _stream(seen).usages
    if usages:
        yield f"{len(usages)} chunk(s) carry a usage that was not asked for, first event {usages[0][0]}"


def _usages(seen: Observation) -> list[tuple[str, Any]]:
    """Each usage object of an answer, with where it was: the blocking body's, or each chunk's."""
    if seen.exchange.stream:
        return [(f"event {position}", usage) for position, usage in _stream(seen).usages]
    body = seen.exchange.json_body
    usage = body.get("usage") if isinstance(body, dict) else None
    return [("the body", usage)] if usage is not None else []


def _count(usage: Any, name: str) -> int | None:
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@check(
    "usage.total",
    rule="usage.total_tokens is prompt_tokens + completion_tokens.",
    source=SDK_TYPES + ": CompletionUsage.total_tokens",
)
def usage_total(seen: Observation) -> Iterator[str]:
    for where, usage in _usages(seen):
        prompt, completion, total = (
            _count(usage, name) for name in ("prompt_tokens", "completion_tokens", "total_tokens")
        )
        if None not in (prompt, completion, total) and total != prompt + completion:
            yield f"usage in {where}: total_tokens {total} != prompt_tokens {prompt} + completion_tokens {completion}"


@check(
    "usage.nonzero",
    rule="usage counts the prompt's tokens (at least one) and, when the answer holds anything, the completion's.",
    source=SDK_TYPES + ": CompletionUsage.prompt_tokens, .completion_tokens",
    level=Level.SHOULD,
)
def usage_nonzero(seen: Observation) -> Iterator[str]:
    produced = bool(seen.answer.calls or seen.answer.content)
    for where, usage in _usages(seen)[-1:]:  # a stream's final count: earlier ones may count what came so far
        prompt, completion = _count(usage, "prompt_tokens"), _count(usage, "completion_tokens")
        if prompt == 0:
            yield f"usage in {where}: prompt_tokens is 0 for a prompt of {len(seen.exchange.request.get('messages') or [])} message(s)"
        if completion == 0 and produced:
            yield f"usage in {where}: completion_tokens is 0, yet the answer holds {len(seen.answer.calls)} call(s)"


def _stream(seen: Observation) -> Any:
    assert seen.answer.stream is not None, "stream checks run on streamed exchanges only"
    return seen.answer.stream


# ---------------------------------------------------------------- tool_choice


@check(
    "choice.required-call",
    rule='With tool_choice "required" the answer calls at least one function.',
    source=OPENAI_FUNCTION_CALLING,
    applies=_required,
    judges_truncated=False,
)
def choice_required_call(seen: Observation) -> Iterator[str]:
    if not seen.answer.calls:
        yield f"no tool call (finish_reason {seen.answer.finish_reason!r}){_content_note(seen.answer)}"


def _content_note(answer: Answer) -> str:
    if not answer.content:
        return "; content is empty"
    markup = " holds tool-call markup the server did not parse" if _has_markup(answer.content) else ""
    return f"; content{markup}: {shorten(answer.content)}"


@check(
    "choice.named-call",
    rule="With a named tool_choice the answer is exactly one call to that function.",
    source=OPENAI_FUNCTION_CALLING,
    applies=_named,
    judges_truncated=False,
)
def choice_named_call(seen: Observation) -> Iterator[str]:
    wanted = seen.case.named_function
    names = [call.name for call in seen.answer.calls]
    if names != [wanted]:
        yield f"tool_choice named {wanted!r}; the answer called {names}{_content_note(seen.answer) if not names else ''}"


@check(
    "choice.parallel-off",
    rule="With parallel_tool_calls false the answer holds at most one call.",
    source=OPENAI_FUNCTION_CALLING,
    applies=lambda case: case.parallel_off,
    judges_truncated=False,
)
def choice_parallel_off(seen: Observation) -> Iterator[str]:
    if len(seen.answer.calls) > 1:
        yield f"{len(seen.answer.calls)} calls despite parallel_tool_calls=false: {[c.name for c in seen.answer.calls]}"


# The reference says "tool_calls" of any answer that called a tool; for a named function OpenAI itself answers
# "stop" (and vLLM copies it). Both keep the contract; demanding one of them would judge a server's habit.
FINISH_REASONS = {"required": ("tool_calls",), "named": ("stop", "tool_calls")}


@check(
    "finish.reason",
    rule='finish_reason is "tool_calls" for tool_choice "required"; for a named function "stop" (what OpenAI'
    ' answers) or "tool_calls" (what its reference says of an answer that called a tool).',
    source=OPENAI_CHAT,
    judges_truncated=False,
)
def finish_reason(seen: Observation) -> Iterator[str]:
    wanted = FINISH_REASONS.get(seen.case.choice, ("tool_calls",))
    if seen.answer.finish_reason not in wanted:
        yield f"finish_reason is {seen.answer.finish_reason!r}, expected {' or '.join(map(repr, wanted))}"


@check(
    "finish.length-proven",
    rule='finish_reason "length" is given only when the request\'s max_tokens was reached: usage.completion_tokens '
    "reaches it (a stream without usage: its last call is cut, or it has none).",
    source=OPENAI_CHAT
    + ': finish_reason "length" if the maximum number of tokens specified in the request was reached',
)
def finish_length_proven(seen: Observation) -> Iterator[str]:
    answer = seen.answer
    if not answer.claims_length or answer.length_proven:
        return
    claim = f"finish_reason is 'length' at max_tokens {answer.limit}"
    if answer.reached_limit is False:
        yield f"{claim}, but usage.completion_tokens is {answer.completion_tokens} (a limit of the server's own is no excuse): the answer is judged as complete"
    elif answer.usage_owed:
        yield f"{claim}, without the usage the answer owes (blocking, or include_usage asked for): nothing shows the limit was reached, so the answer is judged as complete"
    else:
        yield f"{claim}, but the last call's arguments are complete JSON and nothing counts the tokens (no usage, or no max_tokens sent): the answer is judged as complete"


@check(
    "finish.cut-call-length",
    rule='An answer cut at max_tokens (usage reached it, the last call\'s arguments are cut) says finish_reason "length".',
    source=OPENAI_CHAT + "; vLLM issue #58228 (blocking tool_calls over a truncation, fixed in 0.33.0)",
)
def finish_cut_call_length(seen: Observation) -> Iterator[str]:
    answer = seen.answer
    if answer.cut_unclaimed:
        yield f"usage.completion_tokens {answer.completion_tokens} reached max_tokens {answer.limit} and {answer.calls[-1].label()}'s arguments are cut, yet finish_reason is {answer.finish_reason!r}, not 'length'"


_MARKUP = re.compile(r"</?tool_call>|\[TOOL_CALLS\]|<\|python_tag\|>|<function=|<\|tool_calls?_|<tool_calls?>")


def _has_markup(content: str) -> bool:
    if _MARKUP.search(content):
        return True
    stripped = content.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        decoded = strict_json(stripped)
    except ValueError:
        return False
    items = decoded if isinstance(decoded, list) else [decoded]
    return any(
        isinstance(item, dict) and "name" in item and ({"arguments", "parameters"} & item.keys()) for item in items
    )


@check(
    "content.no-markup",
    rule="No tool-call markup or call JSON is left in message content: the server parses it into tool_calls.",
    source=OPENAI_FUNCTION_CALLING,
    judges_truncated=False,
)
def content_no_markup(seen: Observation) -> Iterator[str]:
    content = seen.answer.content
    if content and _has_markup(content):
        yield f"content holds tool-call markup or JSON ({len(seen.answer.calls)} parsed calls): {shorten(content)}"


# ---------------------------------------------------------------- each call


@check("call.type", rule='Every tool call has type "function".', source=OPENAI_CHAT)
def call_type(seen: Observation) -> Iterator[str]:
    for call in seen.answer.calls:
        if call.type != "function":
            yield f"{call.label()}: type is {shorten(call.type)}, not 'function'"


@check("call.id", rule="Every tool call has a non-empty string id.", source=OPENAI_CHAT)
def call_id(seen: Observation) -> Iterator[str]:
    for call in seen.answer.calls:
        if not isinstance(call.id, str) or not call.id:
            yield f"{call.label()}: id is {shorten(call.id)}"


@check("call.id-unique", rule="Tool call ids are unique within an answer.", source=OPENAI_CHAT)
def call_id_unique(seen: Observation) -> Iterator[str]:
    counts = Counter(call.id for call in seen.answer.calls if isinstance(call.id, str) and call.id)
    for call_id_value, count in counts.items():
        if count > 1:
            yield f"id {call_id_value!r} used by {count} calls"


@check("call.name-known", rule="function.name is the name of one of the request's tools.", source=OPENAI_CHAT)
def call_name_known(seen: Observation) -> Iterator[str]:
    offered = [tool.get("function", {}).get("name") for tool in seen.tools]
    for call in seen.answer.calls:
        if call.name not in offered:
            yield f"{call.label()}: {shorten(call.name)} is not among the request's tools"


@check(
    "args.json",
    rule="function.arguments is a string holding a JSON object.",
    source=OPENAI_FUNCTION_CALLING,
    judges_truncated=False,
)
def args_json(seen: Observation) -> Iterator[str]:
    for call in seen.answer.calls:
        decoded, problem = call.parsed_arguments()
        if problem:
            yield f"{call.label()}: {problem}: {shorten(call.arguments)}"
        elif not isinstance(decoded, dict):
            yield f"{call.label()}: arguments decode to {type(decoded).__name__}, not an object: {shorten(decoded)}"


@check(
    "args.schema",
    rule="Decoded arguments are valid against the function's parameters schema (absent parameters: an empty object schema).",
    source=JSON_SCHEMA,
    judges_truncated=False,
)
def args_schema(seen: Observation) -> Iterator[tuple[str, dict[str, Any]]]:
    for call in seen.answer.calls:
        yield from _argument_problems(call, seen.tools)


def _argument_problems(call: Call, tools: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    decoded, problem = call.parsed_arguments()
    parameters = parameters_of(tools, call.name) if isinstance(call.name, str) else None
    if problem or parameters is None:
        return  # undecodable arguments and unknown names are judged by args.json and call.name-known
    problems = schema_problems(decoded, parameters)
    for found in problems[:MAX_PROBLEMS_SHOWN]:
        yield f"{call.label()} {found.describe()}", {"call": call.position, "pointer": found.pointer}
    if len(problems) > MAX_PROBLEMS_SHOWN:
        yield f"{call.label()}: ... and {len(problems) - MAX_PROBLEMS_SHOWN} more schema problems", {}


class _DuplicateKeys(list):
    """The object_pairs_hook that notes every name an object repeats (json.loads keeps only the last)."""

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            self.extend(name for name, count in Counter(names).items() if count > 1)
        return dict(pairs)


@check(
    "args.unique-keys",
    rule="The names within each object of the arguments are unique.",
    source=RFC_JSON + " (names SHOULD be unique; parsers disagree on which value wins)",
    level=Level.SHOULD,
    judges_truncated=False,
)
def args_unique_keys(seen: Observation) -> Iterator[str]:
    for call in seen.answer.calls:
        if not isinstance(call.arguments, str) or call.arguments.count('"') < 4:
            continue  # no room for two names: nothing to repeat
        repeated = _DuplicateKeys()
        try:
            json.loads(call.arguments, object_pairs_hook=repeated)
        except (ValueError, RecursionError):
            continue  # args.json judges it
        if repeated:
            yield f"{call.label()}: arguments repeat the name(s) {sorted(set(repeated))}; which value counts depends on the parser"


# ---------------------------------------------------------------- streamed against blocking


def _comparable(answer: Answer) -> list[tuple[Any, str]]:
    """Names and arguments in a type-strict form (answer.comparable_arguments)."""
    return [(call.name, comparable_arguments(call.arguments)) for call in answer.calls]


@check(
    "equivalence.stream-blocking",
    rule="For one seeded request, streaming and blocking yield the same calls: names and decoded arguments.",
    source="vLLM issue #21046; OpenAI streaming is a transport of the same answer",
    subject=Subject.PAIR,
)
def equivalence_stream_blocking(seen: PairObservation) -> Iterator[str]:
    blocking, stream = _comparable(seen.blocking.answer), _comparable(seen.stream.answer)
    if blocking == stream:
        return
    if len(blocking) != len(stream):
        yield f"blocking made {len(blocking)} calls {[n for n, _ in blocking]}, streaming {len(stream)} {[n for n, _ in stream]}"
        return
    for position, (left, right) in enumerate(zip(blocking, stream, strict=True)):
        if left != right:
            yield f"call {position}: blocking {shorten(left[0])} {shorten(left[1])} vs streamed {shorten(right[0])} {shorten(right[1])}"
