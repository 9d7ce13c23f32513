"""SSE parsing and chunk reassembly, on hand-written wire data."""

import json

from toolcall_conformance.wire.stream import parse_sse, reassemble


def _sse(*chunks: object, done: bool = True) -> bytes:
    events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    return ("".join(events) + ("data: [DONE]\n\n" if done else "")).encode()


def _chunk(delta: dict, finish: str | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}


def _tool(index: int | None = 0, **fields: object) -> dict:
    delta = {"tool_calls": [dict(fields, **({"index": index} if index is not None else {}))]}
    return delta


def test_parse_sse_joins_data_lines_and_keeps_odd_lines():
    events = parse_sse(b": comment\ndata: a\ndata: b\n\ngarbage\n\nevent: x\ndata: c\n\n")
    assert [event.data for event in events] == ["a\nb", None, "c"]
    assert events[1].odd_lines == ("garbage",)


def test_parse_sse_accepts_crlf_and_an_unterminated_last_event():
    events = parse_sse(b"data: one\r\n\r\ndata: two")
    assert [event.data for event in events] == ["one", "two"]


def test_reassembles_calls_by_index_with_interleaved_deltas():
    raw = _sse(
        _chunk({"role": "assistant"}),
        _chunk(_tool(0, id="a", type="function", function={"name": "f", "arguments": ""})),
        _chunk(_tool(1, id="b", type="function", function={"name": "g", "arguments": '{"y"'})),
        _chunk(_tool(0, function={"arguments": '{"x": 1}'})),
        _chunk(_tool(1, function={"arguments": ": 2}"})),
        _chunk({}, finish="tool_calls"),
    )
    result = reassemble(parse_sse(raw))
    calls = result.ordered_calls()
    assert [(c.id, c.name, c.arguments) for c in calls] == [("a", "f", '{"x": 1}'), ("b", "g", '{"y": 2}')]
    assert result.done_at is not None and result.finish_reason == "tool_calls"
    assert [role for _, role in result.roles] == ["assistant"]


def test_records_repeated_names_instead_of_concatenating_them():
    raw = _sse(
        _chunk(_tool(0, id="a", type="function", function={"name": "f", "arguments": "{"})),
        _chunk(_tool(0, function={"name": "f", "arguments": "}"})),
    )
    call = reassemble(parse_sse(raw)).calls[0]
    assert call.name == "f" and len(call.names) == 2 and call.arguments == "{}"


def test_delta_without_index_is_recorded_and_folded_into_the_current_call():
    raw = _sse(
        _chunk(_tool(0, id="a", type="function", function={"name": "f", "arguments": "{"})),
        _chunk(_tool(None, function={"arguments": "}"})),
    )
    result = reassemble(parse_sse(raw))
    assert result.deltas_without_index == [1]
    assert result.calls[0].arguments == "{}"


def test_bad_json_events_after_done_and_usage_chunks_are_recorded():
    usage = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": {}}
    usage["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    raw = b"data: {not json\n\n" + _sse(usage) + b"data: {}\n\n"
    result = reassemble(parse_sse(raw))
    assert len(result.bad_data) == 1
    assert result.usage_chunks == [1]
    assert result.events_after_done == 1
