"""The SDK's view: answers replayed through openai-python, and the recording of the SDK's own requests."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from selftests.fault_server import FaultServer
from toolcall_conformance.judging.sdk import SdkCall, sdk_view
from toolcall_conformance.wire.client import Exchange, parse_response
from toolcall_conformance.wire.recording import IDENTITY, RecordingTransport

TOOLS = [{"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}]


def _exchange(body: object = None, *, events: list[dict] | None = None, strict: bool = False) -> Exchange:
    tools = [{**TOOLS[0], "function": {**TOOLS[0]["function"], "strict": True}}] if strict else TOOLS
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": tools,
        "stream": events is not None,
    }
    if events is not None:
        raw = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
        exchange = Exchange("http://h/v1/chat/completions", request, True, 200, {"content-type": "text/event-stream"})
        exchange.raw = raw.encode()
    else:
        exchange = Exchange("http://h/v1/chat/completions", request, False, 200, {"content-type": "application/json"})
        exchange.raw = json.dumps(body).encode()
    parse_response(exchange)
    return exchange


def _chunk(delta: dict, finish: str | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "m",
        "choices": [choice],
    }


def _call_delta(index: int, arguments: str, **first: str) -> dict:
    function = {"arguments": arguments, **({"name": first["name"]} if "name" in first else {})}
    return {
        "tool_calls": [
            {"index": index, **({"id": first["id"], "type": "function"} if "id" in first else {}), "function": function}
        ]
    }


def test_a_blocking_answer_is_read_as_an_agent_reads_it():
    call = {"id": "call_1", "type": "function", "function": {"name": "ping", "arguments": "{}"}}
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "tool_calls"}]}  # fmt: skip
    assert sdk_view(_exchange(body)).calls == (SdkCall("call_1", "ping", "{}"),)


def test_a_body_without_choices_cannot_be_read():
    view = sdk_view(_exchange({"id": "x", "object": "chat.completion"}))
    assert view.calls == () and view.unreadable and "completion.choices[0].message.tool_calls" in view.unreadable


def test_a_stream_is_accumulated_by_the_sdk_and_a_repeated_name_is_concatenated():
    events = [_chunk({"role": "assistant"}), _chunk(_call_delta(0, "{", id="call_1", name="ping")),
              _chunk({"tool_calls": [{"index": 0, "function": {"name": "ping", "arguments": "}"}}]}), _chunk({}, "tool_calls")]  # fmt: skip
    assert sdk_view(_exchange(events=events)).calls == (SdkCall("call_1", "pingping", "{}"),)


def test_a_tool_index_that_does_not_count_from_zero_makes_the_sdk_raise():
    events = [
        _chunk({"role": "assistant"}),
        _chunk(_call_delta(1, "{}", id="call_1", name="ping")),
        _chunk({}, "tool_calls"),
    ]
    assert (sdk_view(_exchange(events=events)).raised or "").startswith("IndexError")


def test_strict_tools_make_the_stream_helper_parse_arguments_as_they_come():
    events = [_chunk({"role": "assistant"}), _chunk(_call_delta(0, "t", id="call_1", name="ping")),
              _chunk(_call_delta(0, "rue")), _chunk({}, "tool_calls")]  # fmt: skip
    assert sdk_view(_exchange(events=events)).calls == (SdkCall("call_1", "ping", "true"),)
    assert (sdk_view(_exchange(events=events, strict=True)).raised or "").startswith("ValueError")


def test_the_recording_transport_keeps_what_the_sdk_stops_reading():
    """The SDK stops at data: [DONE]; the recording still holds the event the server sent after it."""
    with FaultServer("data-after-done") as server:
        transport = RecordingTransport()
        http = httpx.Client(transport=transport, headers=IDENTITY)
        client = openai.OpenAI(api_key="k", base_url=server.base_url, http_client=http)
        request = {"model": "fault-model", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS}
        list(client.chat.completions.create(**request, tool_choice="required", stream=True))
        client.close()
    [exchange] = transport.exchanges
    assert exchange.status == 200 and exchange.request["tool_choice"] == "required" and exchange.stream
    assert exchange.raw.decode().split("data: [DONE]")[1].strip().startswith("data: {")
    assert [event.data for event in exchange.events].count("[DONE]") == 1 and exchange.events[-1].data != "[DONE]"


def test_a_legal_beginning_the_strict_parser_stumbles_on_is_no_failure():
    """A first fragment of whitespace makes the stream helper's strict parsing raise; the arguments are an object."""
    events = [_chunk({"role": "assistant"}), _chunk(_call_delta(0, " ", id="call_1", name="ping")),
              _chunk(_call_delta(0, "{}")), _chunk({}, "tool_calls")]  # fmt: skip
    view = sdk_view(_exchange(events=events, strict=True))
    assert view.failure is None and view.calls == (SdkCall("call_1", "ping", " {}"),)


def test_replays_in_several_threads_stay_apart():
    def body(name: str) -> dict:
        call = {"id": name, "type": "function", "function": {"name": name, "arguments": "{}"}}
        choice = {"index": 0, "message": {"role": "assistant", "tool_calls": [call]}, "finish_reason": "tool_calls"}
        return {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}

    exchanges = {f"f{number}": _exchange(body(f"f{number}")) for number in range(8)}
    with ThreadPoolExecutor(8) as pool:
        views = dict(
            zip(
                exchanges, pool.map(lambda name: [sdk_view(exchanges[name]) for _ in range(20)], exchanges), strict=True
            )
        )
    assert all({view.calls[0].name for view in views[name]} == {name} for name in exchanges)


def test_the_warm_up_replays_a_blocking_and_a_streamed_answer_the_sdk_takes():
    """The dispatcher warms the judging up while the first answers are on their way; its answers must be good
    ones, or the warm-up would stop every run (it asserts that the SDK took both)."""
    from toolcall_conformance.judging.judge import warm_up

    warm_up()
