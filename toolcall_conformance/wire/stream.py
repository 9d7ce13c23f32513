"""Server-sent events and the reassembly of chat completion chunks, recording what the stream broke."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..jsontext import strict_json

DONE = "[DONE]"
# Where servers put a thinking model's thought, beside content: vLLM's name since its PR #27752, and the name
# vLLM used before it, DeepSeek's API and llama.cpp use. Neither is OpenAI's; clients read either.
REASONING_FIELDS = ("reasoning", "reasoning_content")
_SSE_FIELDS = ("event", "id", "retry")


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its data (data lines joined) and lines that are not SSE at all."""

    data: str | None
    odd_lines: tuple[str, ...] = ()


def parse_sse(raw: bytes) -> list[SseEvent]:
    """Split a raw event stream into events; an unterminated last event still counts."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    events: list[SseEvent] = []
    data_lines: list[str] = []
    odd_lines: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line == "":
            if data_lines or odd_lines:
                events.append(SseEvent("\n".join(data_lines) if data_lines else None, tuple(odd_lines)))
            data_lines, odd_lines = [], []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data_lines.append(value[1:] if value.startswith(" ") else value)
        elif name not in _SSE_FIELDS:
            odd_lines.append(line)
    return events


@dataclass
class StreamedCall:
    """A tool call as reassembled from its deltas, with every header value each delta carried."""

    index: int
    ids: list[tuple[int, Any]] = field(default_factory=list)
    types: list[tuple[int, Any]] = field(default_factory=list)
    names: list[tuple[int, Any]] = field(default_factory=list)
    arguments: str = ""
    first_chunk: int = 0

    @property
    def id(self) -> Any:
        return self.ids[0][1] if self.ids else None

    @property
    def type(self) -> Any:
        return self.types[0][1] if self.types else None

    @property
    def name(self) -> Any:
        return self.names[0][1] if self.names else None


@dataclass
class Reassembly:
    """Everything a stream said, folded into one answer, plus the facts checks judge it by."""

    chunks: list[tuple[int, Any]] = field(default_factory=list)
    bad_data: list[tuple[int, str, str]] = field(default_factory=list)
    odd_lines: list[str] = field(default_factory=list)
    done_at: int | None = None
    events_after_done: int = 0
    event_count: int = 0
    roles: list[tuple[int, Any]] = field(default_factory=list)
    content: str | None = None
    finish_reasons: list[tuple[int, Any]] = field(default_factory=list)
    calls: dict[int, StreamedCall] = field(default_factory=dict)
    deltas_without_index: list[int] = field(default_factory=list)
    usage_chunks: list[int] = field(default_factory=list)
    chunk_ids: list[Any] = field(default_factory=list)
    chunk_created: list[tuple[int, Any]] = field(default_factory=list)
    chunk_models: list[tuple[int, Any]] = field(default_factory=list)
    usages: list[tuple[int, Any]] = field(default_factory=list)  # every chunk's non-null usage
    other_choices: list[tuple[int, Any]] = field(default_factory=list)  # choices other than one index 0 per chunk
    after_finish: list[int] = field(default_factory=list)  # chunks whose delta says something after finish_reason
    index_order: list[int] = field(default_factory=list)  # tool call indices in the order they first appeared
    reasoning: dict[str, str] = field(default_factory=dict)  # each reasoning field's string deltas, joined
    odd_reasoning: list[tuple[int, str, Any]] = field(default_factory=list)  # reasoning values that are no string

    @property
    def finish_reason(self) -> Any:
        return self.finish_reasons[-1][1] if self.finish_reasons else None

    def ordered_calls(self) -> list[StreamedCall]:
        return [self.calls[index] for index in sorted(self.calls)]


def reassemble(events: list[SseEvent]) -> Reassembly:
    """Fold SSE events into one answer; never raises on malformed input, records it instead."""
    result = Reassembly(event_count=len(events))
    last_index: int | None = None
    for position, event in enumerate(events):
        result.odd_lines.extend(event.odd_lines)
        if event.data is None:
            continue
        if result.done_at is not None:
            result.events_after_done += 1
            continue
        if event.data.strip() == DONE:
            result.done_at = position
            continue
        try:
            chunk = strict_json(event.data)
        except ValueError as exc:
            result.bad_data.append((position, event.data, str(exc)))
            continue
        result.chunks.append((position, chunk))
        if not isinstance(chunk, dict):
            continue
        result.chunk_ids.append(chunk.get("id"))
        result.chunk_created.append((position, chunk.get("created")))
        result.chunk_models.append((position, chunk.get("model")))
        choices = chunk.get("choices")
        if chunk.get("usage") is not None:
            result.usages.append((position, chunk["usage"]))
            if choices == [] and chunk["usage"]:
                result.usage_chunks.append(position)
        first_seen = False
        for choice in choices if isinstance(choices, list) else []:
            index = choice.get("index", 0) if isinstance(choice, dict) else None
            if index != 0 or first_seen:
                result.other_choices.append((position, index))
                continue
            first_seen = True
            if result.finish_reasons and _says_something(choice.get("delta")):
                result.after_finish.append(position)
            last_index = _fold_choice(result, position, choice, last_index)
    return result


def _says_something(delta: Any) -> bool:
    """Whether a delta carries anything a client would add to the answer (an empty fragment adds nothing)."""
    if not isinstance(delta, dict):
        return False
    if any(delta.get(key) not in (None, "") for key in ("role", "content", "refusal", *REASONING_FIELDS)):
        return True
    calls = delta.get("tool_calls")
    parts = [*(calls if isinstance(calls, list) else [calls] if calls else []), delta.get("function_call")]
    return any(_adds_to_a_call(part) for part in parts if part is not None)


def _adds_to_a_call(part: Any) -> bool:
    if not isinstance(part, dict):
        return True  # not a tool-call delta at all: something, and the schema says what
    function = part.get("function") if isinstance(part.get("function"), dict) else part
    return any(value not in (None, "") for value in (part.get("id"), function.get("name"), function.get("arguments")))


def _fold_choice(result: Reassembly, position: int, choice: dict[str, Any], last_index: int | None) -> int | None:
    if choice.get("finish_reason") is not None:
        result.finish_reasons.append((position, choice["finish_reason"]))
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return last_index
    if "role" in delta and delta["role"] is not None:
        result.roles.append((position, delta["role"]))
    if isinstance(delta.get("content"), str):
        result.content = (result.content or "") + delta["content"]
    fold_reasoning(delta, result.reasoning, result.odd_reasoning, position)
    tool_calls = delta.get("tool_calls")
    for tool_delta in tool_calls if isinstance(tool_calls, list) else []:
        if isinstance(tool_delta, dict):
            last_index = _fold_tool_delta(result, position, tool_delta, last_index)
    return last_index


def fold_reasoning(
    message: dict[str, Any], thoughts: dict[str, str], odd: list[tuple[Any, str, Any]], where: Any
) -> None:
    """Add the thought a message or delta carries to thoughts, by field name (strings joined in order), and any
    value of a reasoning field that is neither a string nor null to odd, as (where, field, value)."""
    for name in REASONING_FIELDS:
        value = message.get(name)
        if isinstance(value, str):
            thoughts[name] = thoughts.get(name, "") + value
        elif value is not None:
            odd.append((where, name, value))


def _fold_tool_delta(result: Reassembly, position: int, delta: dict[str, Any], last_index: int | None) -> int:
    index = delta.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        result.deltas_without_index.append(position)
        # Lenient clients append such a delta to the call in progress; do the same so the
        # remaining checks still see the arguments.
        index = last_index if last_index is not None else 0
    call = result.calls.get(index)
    if call is None:
        call = result.calls[index] = StreamedCall(index=index, first_chunk=position)
        result.index_order.append(index)
    if "id" in delta and delta["id"] is not None:
        call.ids.append((position, delta["id"]))
    if "type" in delta and delta["type"] is not None:
        call.types.append((position, delta["type"]))
    function = delta.get("function")
    if isinstance(function, dict):
        if "name" in function and function["name"] is not None:
            call.names.append((position, function["name"]))
        if isinstance(function.get("arguments"), str):
            call.arguments += function["arguments"]
    return index
