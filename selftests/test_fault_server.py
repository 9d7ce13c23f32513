"""The fault server over real HTTP: correct by default, and each fault visible on the wire."""

from __future__ import annotations

import functools
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from selftests.fault_server import BENIGN, FAULTS, STREAM_ONLY_FAULTS, FaultServer

TOOLS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "tools"
EMPTY_PARAMETERS = {"type": "object", "properties": {}}
SEED = 7
UNIT = {"type": "string", "enum": ["celsius", "fahrenheit"]}
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "state": {"type": "string"}, "unit": UNIT},
                "required": ["city", "state", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_forecast",
            "description": "Get the weather forecast for a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "state": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1},
                    "unit": UNIT,
                },
                "required": ["city", "state", "days", "unit"],
            },
        },
    },
]
HANGING_FAULTS = {"hang-before-headers", "hang-mid-stream"}


# --- helpers ------------------------------------------------------------------------------------


def body_for(tools: list[dict], choice: Any = "required", *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    """A chat completion request as the suite would send it."""
    body: dict[str, Any] = {
        "model": "fault-model",
        "messages": [{"role": "user", "content": "Use the tools."}],
        "tools": tools,
        "tool_choice": choice,
        "seed": SEED,
        "stream": stream,
        **extra,
    }
    if stream:
        body.setdefault("stream_options", {"include_usage": True})
    return body


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


@functools.cache
def _client() -> httpx.Client:
    """One client for the module: building an httpx client (its TLS context) costs tens of milliseconds."""
    return httpx.Client()


def post(server: FaultServer, body: Any, *, timeout: float = 5.0) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return _client().post(f"{server.base_url}/chat/completions", content=content, headers=headers, timeout=timeout)


def data_payloads(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


def chunks_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(payload) for payload in data_payloads(text) if payload != "[DONE]"]


def reassemble(chunks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """Calls (by index) and the finish_reason of a stream, the simple way."""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk["choices"]:
            finish = choice["finish_reason"] or finish
            for delta in choice["delta"].get("tool_calls", []):
                call = calls.setdefault(delta["index"], {"function": {"name": "", "arguments": ""}})
                call.update({key: delta[key] for key in ("id", "type") if key in delta})
                for key in ("name", "arguments"):
                    call["function"][key] += delta.get("function", {}).get(key, "")
    return [calls[index] for index in sorted(calls)], finish


def blocking_calls(response: httpx.Response) -> tuple[list[dict[str, Any]], str | None]:
    choice = response.json()["choices"][0]
    return choice["message"].get("tool_calls") or [], choice["finish_reason"]


def assert_valid_calls(calls: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
    parameters = {tool["function"]["name"]: tool["function"].get("parameters", EMPTY_PARAMETERS) for tool in tools}
    assert calls
    for call in calls:
        assert call["type"] == "function"
        assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
        schema = parameters[call["function"]["name"]]
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        validator.validate(json.loads(call["function"]["arguments"]))
    assert len({call["id"] for call in calls}) == len(calls)


def curated_tool_sets() -> list[Any]:
    params = []
    for path in sorted(TOOLS_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and isinstance(document.get("tools"), list):
            params.append(pytest.param(document, id=path.stem))
    return params


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as correct:
        yield correct


# --- the correct server -------------------------------------------------------------------------


def test_models_version_and_health(server: FaultServer) -> None:
    models = httpx.get(f"{server.base_url}/models").json()
    assert models["object"] == "list"
    assert models["data"][0] | {"created": 0} == {
        "id": "fault-model",
        "object": "model",
        "created": 0,
        "owned_by": "fault-server",
    }
    root = server.base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/version").json() == {"version": "fault-0"}
    assert httpx.get(f"{root}/health").status_code == 200
    assert httpx.get(f"{root}/nowhere").status_code == 404


@pytest.mark.parametrize("tool_set", curated_tool_sets())
def test_curated_tool_set_gets_valid_calls_in_both_modes(server: FaultServer, tool_set: dict[str, Any]) -> None:
    tools = tool_set["tools"]
    target = tool_set.get("named") or tools[0]["function"]["name"]
    for choice, finish in (("required", "tool_calls"), (named(target), "stop")):
        blocking = post(server, body_for(tools, choice))
        assert blocking.status_code == 200, blocking.text
        calls, blocking_finish = blocking_calls(blocking)
        streamed, stream_finish = reassemble(chunks_of(post(server, body_for(tools, choice, stream=True)).text))
        assert_valid_calls(calls, tools)
        assert (blocking_finish, stream_finish) == (finish, finish)
        assert streamed == calls


def test_blocking_envelope(server: FaultServer) -> None:
    response = post(server, body_for(WEATHER_TOOLS))
    completion = response.json()
    assert response.headers["content-type"] == "application/json"
    assert re.fullmatch(r"chatcmpl-[0-9a-f]+", completion["id"])
    assert (completion["object"], completion["model"]) == ("chat.completion", "fault-model")
    assert isinstance(completion["created"], int)
    message = completion["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", None)
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_required_calls_the_first_two_tools(server: FaultServer) -> None:
    calls, finish = blocking_calls(post(server, body_for(WEATHER_TOOLS)))
    assert [call["function"]["name"] for call in calls] == ["get_current_weather", "get_forecast"]
    assert finish == "tool_calls"


def test_parallel_off_gives_exactly_one_call(server: FaultServer) -> None:
    calls, _ = blocking_calls(post(server, body_for(WEATHER_TOOLS, parallel_tool_calls=False)))
    assert [call["function"]["name"] for call in calls] == ["get_current_weather"]


def test_named_choice_calls_exactly_that_function(server: FaultServer) -> None:
    calls, finish = blocking_calls(post(server, body_for(WEATHER_TOOLS, named("get_forecast"))))
    assert [call["function"]["name"] for call in calls] == ["get_forecast"]
    assert finish == "stop"


@pytest.mark.parametrize("choice", ["auto", "none", None])
def test_other_choices_answer_text(server: FaultServer, choice: str | None) -> None:
    body = body_for(WEATHER_TOOLS, choice)
    if choice is None:
        del body["tool_choice"]
    choice_json = post(server, body).json()["choices"][0]
    assert (choice_json["message"]["content"], choice_json["finish_reason"]) == ("Hello.", "stop")
    assert "tool_calls" not in choice_json["message"]


def test_stream_shape_follows_openai(server: FaultServer) -> None:
    response = post(server, body_for(WEATHER_TOOLS, stream=True))
    assert response.headers["content-type"] == "text/event-stream"
    assert data_payloads(response.text)[-1] == "[DONE]"
    chunks = chunks_of(response.text)
    assert {(c["id"], c["object"], c["created"], c["model"]) for c in chunks} == {
        (chunks[0]["id"], "chat.completion.chunk", chunks[0]["created"], "fault-model")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    with_choices = [chunk["choices"][0] for chunk in chunks if chunk["choices"]]
    assert [choice["finish_reason"] for choice in with_choices].count(None) == len(with_choices) - 1
    assert with_choices[-1] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    deltas = [delta for choice in with_choices for delta in choice["delta"].get("tool_calls", [])]
    openers = [delta for delta in deltas if "id" in delta]
    assert [sorted(delta) for delta in openers] == [["function", "id", "index", "type"]] * 2
    assert all(sorted(delta) == ["function", "index"] for delta in deltas if "id" not in delta)
    assert all(2 <= sum(d["index"] == o["index"] for d in deltas) - 1 <= 3 for o in openers)


def test_include_usage_adds_a_final_usage_chunk(server: FaultServer) -> None:
    with_usage = chunks_of(post(server, body_for(WEATHER_TOOLS, stream=True)).text)
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"]["total_tokens"] > 0
    without = body_for(WEATHER_TOOLS, stream=True, stream_options={"include_usage": False})
    assert all(chunk["choices"] for chunk in chunks_of(post(server, without).text))


def test_call_ids_follow_the_seed(server: FaultServer) -> None:
    first, _ = blocking_calls(post(server, body_for(WEATHER_TOOLS)))
    again, _ = blocking_calls(post(server, body_for(WEATHER_TOOLS)))
    other, _ = blocking_calls(post(server, body_for(WEATHER_TOOLS, seed=SEED + 1)))
    assert [c["id"] for c in first] == [c["id"] for c in again] != [c["id"] for c in other]


def test_tiny_max_tokens_truncates_in_both_modes(server: FaultServer) -> None:
    complete, _ = blocking_calls(post(server, body_for(WEATHER_TOOLS)))
    cut, finish = blocking_calls(post(server, body_for(WEATHER_TOOLS, max_tokens=4)))
    streamed, stream_finish = reassemble(
        chunks_of(post(server, body_for(WEATHER_TOOLS, stream=True, max_tokens=4)).text)
    )
    full = complete[-1]["function"]["arguments"]
    assert cut[-1]["function"]["arguments"] == full[: len(full) // 2]
    assert (finish, stream_finish) == ("length", "length")
    assert streamed == cut


def test_requests_are_recorded() -> None:
    with FaultServer() as fresh:
        post(fresh, body_for(WEATHER_TOOLS, seed=99))
        assert [body["seed"] for body in fresh.requests] == [99]


def test_openai_sdk_reads_both_modes(server: FaultServer) -> None:
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
    request = body_for(WEATHER_TOOLS)
    completion = client.chat.completions.create(**request)
    names = [call.function.name for call in completion.choices[0].message.tool_calls or []]
    stream = client.chat.completions.create(**{**request, "stream": True})
    streamed = [d.function.name for c in stream if c.choices for d in c.choices[0].delta.tool_calls or [] if d.id]
    assert names == streamed == ["get_current_weather", "get_forecast"]


BAD_REQUESTS: dict[str, Any] = {
    "malformed-json": b'{"messages": [',
    "not-an-object": [1, 2],
    "missing-messages": {"model": "fault-model", "tools": WEATHER_TOOLS, "tool_choice": "required"},
    "tool-choice-without-tools": {"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
    "empty-tools": body_for([], "required"),
    "named-tool-not-in-tools": body_for(WEATHER_TOOLS, named("launch_rocket")),
    "unknown-tool-choice": body_for(WEATHER_TOOLS, "always"),
    "malformed-named-choice": body_for(WEATHER_TOOLS, {"type": "function"}),
    "tool-without-name": body_for([{"type": "function", "function": {}}]),
    "invalid-parameters-schema": body_for(
        [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]
    ),
    "stream-options-without-stream": body_for(WEATHER_TOOLS, stream_options={"include_usage": True}),
}


@pytest.mark.parametrize("body", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_answer_400(server: FaultServer, body: Any) -> None:
    response = post(server, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("BadRequestError", None, 400)
    assert error["message"]


def test_unknown_fault_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FaultServer("no-such-fault")


# --- every fault is visible on the wire ---------------------------------------------------------

PROBES = {
    "required": body_for(WEATHER_TOOLS),
    "named": body_for(WEATHER_TOOLS, named("get_forecast")),
    "parallel-off": body_for(WEATHER_TOOLS, parallel_tool_calls=False),
}


def transcript(server: FaultServer) -> list[str]:
    """What each probe (blocking, then streamed) got, with the random parts normalised."""
    seen = []
    for body in PROBES.values():
        for stream in (False, True):
            try:
                response = post(server, {**body, **_stream_fields(stream)}, timeout=2)
                seen.append(f"{response.status_code} {response.headers.get('content-type')}\n{response.text}")
            except httpx.HTTPError as error:
                seen.append(f"error {type(error).__name__}")
    return [_normalised(text) for text in seen]


def _stream_fields(stream: bool) -> dict[str, Any]:
    return {"stream": True, "stream_options": {"include_usage": True}} if stream else {"stream": False}


def _normalised(text: str) -> str:
    ids: dict[str, str] = {}
    text = re.sub(r"chatcmpl-[0-9a-f]+", lambda m: ids.setdefault(m.group(), f"chatcmpl-{len(ids)}"), text)
    created: dict[str, str] = {}  # distinct values of one answer in order, and their number of digits
    return re.sub(
        r'"created": (\d+)',
        lambda m: '"created": ' + created.setdefault(m.group(1), f"{len(m.group(1))}-digits-{len(created)}"),
        text,
    )


@pytest.fixture(scope="module")
def correct_transcript() -> list[str]:
    with FaultServer() as correct:
        first = transcript(correct)
        assert transcript(correct) == first  # the comparison below is meaningful only if this holds
    return first


# The probes' streams all ask for include_usage, so usage-unrequested shows only in the suite's own requests;
# tiny writes change how the bytes arrive, not which bytes.
NOT_SEEN_BY_PROBES = {"usage-unrequested", "benign-tiny-writes"}


@pytest.mark.parametrize("fault", sorted({*FAULTS, *BENIGN} - {"none"} - HANGING_FAULTS - NOT_SEEN_BY_PROBES))
def test_every_fault_changes_the_wire(fault: str, correct_transcript: list[str]) -> None:
    with FaultServer(fault) as faulty:
        changed = [
            i for i, (got, want) in enumerate(zip(transcript(faulty), correct_transcript, strict=True)) if got != want
        ]
    assert changed, f"{fault} answered exactly like the correct server"
    if fault in STREAM_ONLY_FAULTS:
        assert all(index % 2 == 1 for index in changed), "a stream-only fault changed a blocking answer"


# --- selected faults, looked at closely ---------------------------------------------------------


def test_no_done_ends_without_done() -> None:
    with FaultServer("no-done") as faulty:
        payloads = data_payloads(post(faulty, body_for(WEATHER_TOOLS, stream=True)).text)
    assert "[DONE]" not in payloads and payloads


def test_repeat_name_puts_the_name_in_every_delta() -> None:
    with FaultServer("repeat-name") as faulty:
        chunks = chunks_of(post(faulty, body_for(WEATHER_TOOLS, stream=True)).text)
    deltas = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert all("name" in delta["function"] for delta in deltas)
    calls, _ = reassemble(chunks)
    assert calls[0]["function"]["name"].startswith("get_current_weatherget_current_weather")


def test_markup_instead_of_calls_leaves_hermes_markup_in_content() -> None:
    with FaultServer("markup-instead-of-calls") as faulty:
        choice = post(faulty, body_for(WEATHER_TOOLS)).json()["choices"][0]
    assert (choice["finish_reason"], choice["message"]["tool_calls"]) == ("tool_calls", [])
    blocks = re.findall(r"<tool_call>\n(.*?)\n</tool_call>", choice["message"]["content"])
    assert [json.loads(block)["name"] for block in blocks] == ["get_current_weather", "get_forecast"]


def test_args_schema_violation_breaks_the_schema() -> None:
    with FaultServer("args-schema-violation") as faulty:
        calls, _ = blocking_calls(post(faulty, body_for(WEATHER_TOOLS)))
    schema = WEATHER_TOOLS[0]["function"]["parameters"]
    arguments = json.loads(calls[0]["function"]["arguments"])
    assert isinstance(arguments, dict) and not Draft202012Validator(schema).is_valid(arguments)


def test_drift_streams_other_valid_arguments() -> None:
    with FaultServer("stream-blocking-drift") as faulty:
        blocking, _ = blocking_calls(post(faulty, body_for(WEATHER_TOOLS)))
        streamed, _ = reassemble(chunks_of(post(faulty, body_for(WEATHER_TOOLS, stream=True)).text))
    assert_valid_calls(streamed, WEATHER_TOOLS)
    assert [c["function"]["name"] for c in streamed] == [c["function"]["name"] for c in blocking]
    assert all(
        s["function"]["arguments"] != b["function"]["arguments"] for s, b in zip(streamed, blocking, strict=True)
    )


def test_wrong_named_function_calls_the_other_tool() -> None:
    with FaultServer("wrong-named-function") as faulty:
        calls, _ = blocking_calls(post(faulty, body_for(WEATHER_TOOLS, named("get_forecast"))))
        required, _ = blocking_calls(post(faulty, body_for(WEATHER_TOOLS)))
    assert [call["function"]["name"] for call in calls] == ["get_current_weather"]
    assert len(required) == 2


@pytest.mark.parametrize(("fault", "status"), [("http-500", 500), ("status-429", 429), ("status-503", 503)])
def test_status_faults_answer_an_error_body(fault: str, status: int) -> None:
    with FaultServer(fault) as faulty:
        response = post(faulty, body_for(WEATHER_TOOLS, stream=True))
    assert response.status_code == status and response.json()["error"]["code"] == status


def test_non_json_and_truncated_bodies() -> None:
    with FaultServer("non-json-body") as html, FaultServer("truncated-json-body") as cut:
        page = post(html, body_for(WEATHER_TOOLS))
        half = post(cut, body_for(WEATHER_TOOLS))
    assert page.headers["content-type"].startswith("text/html") and page.text == "<html>oops</html>"
    assert half.status_code == 200 and half.text.startswith('{"id": "chatcmpl-')
    with pytest.raises(json.JSONDecodeError):
        json.loads(half.text)


def test_sse_garbage_and_content_type_json() -> None:
    with FaultServer("sse-garbage") as garbage, FaultServer("content-type-json") as mislabelled:
        garbled = post(garbage, body_for(WEATHER_TOOLS, stream=True)).text
        labelled = post(mislabelled, body_for(WEATHER_TOOLS, stream=True))
    assert "\ngarbage here\n" in garbled
    assert labelled.headers["content-type"] == "application/json" and labelled.text.startswith("data: ")


def test_die_after_3_refuses_the_fourth_connection() -> None:
    with FaultServer("die-after-3") as dying:
        statuses = [post(dying, body_for(WEATHER_TOOLS)).status_code for _ in range(3)]
        with pytest.raises(httpx.ConnectError):
            post(dying, body_for(WEATHER_TOOLS))
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(dying.base_url.rsplit(":", 1)[1].split("/")[0])), timeout=1)
    assert statuses == [200, 200, 200]


def test_reset_mid_stream_breaks_the_connection() -> None:
    with FaultServer("reset-mid-stream") as resetting:
        with pytest.raises(httpx.TransportError):
            post(resetting, body_for(WEATHER_TOOLS, stream=True))
        with pytest.raises(httpx.TransportError):
            post(resetting, body_for(WEATHER_TOOLS))


def test_hang_before_headers_times_out_without_blocking_others_or_stop() -> None:
    faulty = FaultServer("hang-before-headers")
    faulty.start()
    with pytest.raises(httpx.ReadTimeout):
        post(faulty, body_for(WEATHER_TOOLS), timeout=1)
    assert httpx.get(f"{faulty.base_url}/models", timeout=1).status_code == 200
    started = time.monotonic()
    faulty.stop()
    assert time.monotonic() - started < 1.0


def test_hang_mid_stream_sends_a_start_then_stalls() -> None:
    faulty = FaultServer("hang-mid-stream")
    faulty.start()
    received = []
    body = json.dumps(body_for(WEATHER_TOOLS, stream=True)).encode()
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5)) as client:
        request = client.build_request("POST", f"{faulty.base_url}/chat/completions", content=body)
        response = client.send(request, stream=True)
        with pytest.raises(httpx.ReadTimeout):
            for line in response.iter_lines():
                received.append(line)
    started = time.monotonic()
    faulty.stop()
    assert time.monotonic() - started < 1.0
    assert [line for line in received if line.startswith("data: ")][:1] and "data: [DONE]" not in received
