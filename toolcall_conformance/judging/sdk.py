"""The view of the people the suite protects: what openai-python makes of an answer.

Each answer is replayed, byte for byte as it came, through a real `openai.OpenAI` client whose HTTP transport
returns the recorded response: a blocking answer through `client.chat.completions.create(...)`, a stream through
`client.chat.completions.stream(...)`, the SDK's own SSE decoding and chunk accumulation
(`ChatCompletionStreamState`). Then the tool calls are read as an agent reads them. Nothing goes on the network.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import httpx

from ..wire.client import Exchange, parse_response
from .answer import answer_of, comparable_arguments, decode_arguments
from .registry import Observation, check
from .schema import shorten

if TYPE_CHECKING:
    import openai

SDK = "openai-python"  # its version is the run's: results.json suite.judged_with
_HOP_BY_HOP = ("content-length", "transfer-encoding", "connection")  # the raw bytes keep their encoding


@dataclass(frozen=True)
class SdkCall:
    """A tool call as an agent on the SDK reads it: tool_call.id, .function.name, .function.arguments."""

    id: Any
    name: Any
    arguments: Any


@dataclass(frozen=True)
class SdkView:
    """The SDK's outcome for one answer: the calls it ends up with, or what it raised or could not be read."""

    calls: tuple[SdkCall, ...] = ()
    raised: str | None = None  # the SDK's exception, as "Type: message"
    unreadable: str | None = None  # an agent's read of the SDK's object failed
    model_problems: tuple[str, ...] = ()  # where the answer fails the SDK's response models (sdk.strict-model)

    @property
    def failure(self) -> str | None:
        return self.raised or self.unreadable


class _Replay(threading.local):
    """The response the replaying transport gives back; one per thread, so parallel judging stays apart."""

    exchange: Exchange | None = None

    def respond(self, request: httpx.Request) -> httpx.Response:
        exchange = self.exchange
        assert exchange is not None, "the replay client answers only during sdk_view()"
        headers = {name: value for name, value in exchange.headers.items() if name not in _HOP_BY_HOP}
        return httpx.Response(exchange.status or 200, headers=headers, content=exchange.raw, request=request)


_REPLAY = _Replay()


@cache
def _client() -> openai.OpenAI:
    import openai  # here: the pytest process needs it only when it works a view out itself (sdk_worker.py)

    transport = httpx.MockTransport(_REPLAY.respond)
    return openai.OpenAI(
        api_key="sdk-view",
        base_url="http://sdk-view.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
    )


def _replayed_request(exchange: Exchange) -> dict[str, Any]:
    """The SDK call's arguments. The replay's request goes nowhere, so only what shapes the SDK's reading of the
    answer is passed: the strict tools, whose arguments the stream helper parses (it ignores other tools).
    Passing the whole request would time openai-python's request serialisation, milliseconds for the seed."""
    tools = exchange.request.get("tools")
    strict = [tool for tool in tools or [] if isinstance(tool, dict) and (tool.get("function") or {}).get("strict")]
    return {"model": "replay", "messages": [], **({"tools": strict} if exchange.stream and strict else {})}


def _replayed(exchange: Exchange, arguments: dict[str, Any]) -> Any:
    """The completion openai-python makes of a recorded answer: through create(), or a stream through stream()."""
    _REPLAY.exchange = exchange
    try:
        if not exchange.stream:
            return _client().chat.completions.create(**arguments)
        with _client().chat.completions.stream(**arguments) as stream:
            for _event in stream:
                pass
            return stream.get_final_completion()
    finally:
        _REPLAY.exchange = None


def sdk_view(exchange: Exchange) -> SdkView:
    """Replay one recorded answer through openai-python and read its tool calls as an agent would; and validate
    it against the SDK's response models."""
    try:
        completion = _replayed(exchange, _replayed_request(exchange))
    except Exception as error:  # whatever the SDK raises on this answer is what an agent would get
        view = _unless_only_strict_parsing(exchange, f"{type(error).__name__}: {shorten(str(error), 200)}")
    else:
        view = _read(completion)
    return dataclasses.replace(view, model_problems=_model_problems(exchange))


def warm_up() -> None:
    """Replay a blocking and a streamed answer to a strict tool, so that openai-python's imports and the building
    of its models happen now (while the first answers are on their way) and not in the first test's judging."""
    call = {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    blocking = {"id": "w", "object": "chat.completion", "created": 0, "model": "w", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]}, "finish_reason": "tool_calls"}]}  # fmt: skip
    chunk = {"id": "w", "object": "chat.completion.chunk", "created": 0, "model": "w", "choices": [{"index": 0,
             "delta": {"role": "assistant", "tool_calls": [{"index": 0, **call}]}, "finish_reason": "tool_calls"}]}  # fmt: skip
    request = {"model": "w", "messages": [], "tools": [tool]}
    for stream, raw in ((False, json.dumps(blocking)), (True, f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n")):
        kind = "text/event-stream" if stream else "application/json"
        exchange = Exchange("http://sdk-view.invalid/v1", request, stream, 200, {"content-type": kind}, raw.encode())
        parse_response(exchange)
        view = sdk_view(exchange)
        assert not view.failure and not view.model_problems and len(view.calls) == 1, (
            f"warm-up answer not taken: {view}"
        )


def _unless_only_strict_parsing(exchange: Exchange, raised: str) -> SdkView:
    """What the SDK raised, unless only its parsing of strict tools' arguments raised on arguments that are JSON.

    The stream helper parses a strict tool's arguments as they come (jiter, partial mode), and that parser raises on
    some legal beginnings, such as a first fragment of whitespace: an SDK limitation, not a broken answer. Without
    the strict tools the helper does not parse; if it then takes the answer and every call's arguments are JSON,
    the answer is good and the view is that one. Arguments that are no JSON object keep the exception (no legal
    answer begins like them): the agent gets it.
    """
    if not (exchange.stream and "tools" in _replayed_request(exchange)):
        return SdkView(raised=raised)
    try:
        plain = _read(_replayed(exchange, {"model": "replay", "messages": []}))
    except Exception:
        return SdkView(raised=raised)
    if plain.failure or not all(_is_json_object(call.arguments) for call in plain.calls):
        return SdkView(raised=raised)
    return plain


def _is_json_object(arguments: Any) -> bool:
    decoded, problem = decode_arguments(arguments)
    return problem is None and isinstance(decoded, dict)


def _read(completion: Any) -> SdkView:
    """completion.choices[0].message.tool_calls, each call's id, function.name and function.arguments."""
    reading = "completion.choices[0].message.tool_calls"
    try:
        tool_calls = completion.choices[0].message.tool_calls or []
        calls = []
        for position, tool_call in enumerate(tool_calls):
            reading = f"tool_calls[{position}].id, .function.name, .function.arguments"
            calls.append(SdkCall(tool_call.id, tool_call.function.name, tool_call.function.arguments))
    except (AttributeError, IndexError, KeyError, TypeError) as error:
        return SdkView(unreadable=f"reading {reading}: {type(error).__name__}: {shorten(str(error), 200)}")
    return SdkView(calls=tuple(calls))


def _comparable(calls: Any) -> list[tuple[Any, Any, str]]:
    return [(call.id, call.name, comparable_arguments(call.arguments)) for call in calls]


# ---------------------------------------------------------------- the checks


@check(
    "sdk.answer",
    rule="openai-python takes the answer: create() (blocking) or the stream() helper returns it, and its tool calls can be read.",
    source=f"{SDK}: client.chat.completions.create and .stream",
    judges_truncated=False,
)
def sdk_answer(seen: Observation) -> Iterator[str]:
    failure = seen.sdk.failure
    if failure:
        helper = (
            "client.chat.completions.stream(...)" if seen.exchange.stream else "client.chat.completions.create(...)"
        )
        yield f"an agent calling {helper} gets {failure}"


@check(
    "sdk.calls-agree",
    rule="The tool calls the SDK ends up with are the suite's: same ids, names and decoded arguments, in order.",
    source=f"{SDK}: ChatCompletionStreamState accumulation; the suite's own reassembly",
    judges_truncated=False,
)
def sdk_calls_agree(seen: Observation) -> Iterator[str]:
    if seen.sdk.failure:
        return  # sdk.answer says so
    theirs, ours = _comparable(seen.sdk.calls), _comparable(seen.answer.calls)
    if len(theirs) != len(ours):
        yield f"the SDK ends up with {len(theirs)} call(s) {[name for _, name, _ in theirs]}, the suite with {len(ours)} {[name for _, name, _ in ours]}"
        return
    for position, (sdk_call, own) in enumerate(zip(theirs, ours, strict=True)):
        for label, sdk_value, own_value in zip(("id", "name", "arguments"), sdk_call, own, strict=True):
            if sdk_value != own_value:
                yield f"call {position}: the SDK's {label} is {shorten(sdk_value)}, the suite's {shorten(own_value)}"


def _model_problems(exchange: Exchange) -> tuple[str, ...]:
    """The blocking body against ChatCompletion, or each chunk against ChatCompletionChunk up to the first that fails."""
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    if not exchange.stream:
        problem = _validation_problem(ChatCompletion, exchange.json_body)
        return (f"ChatCompletion: {problem}",) if problem else ()
    stream = answer_of(exchange).stream
    for position, chunk in stream.chunks if stream is not None else []:
        problem = _validation_problem(ChatCompletionChunk, chunk)
        if problem:
            return (f"event {position}, ChatCompletionChunk: {problem}",)
    return ()


def _validation_problem(model: type[Any], value: Any) -> str | None:
    from pydantic import ValidationError

    try:
        model.model_validate(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the object"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        return f"{where}: {first['msg']}{more}"
    return None


@check(
    "sdk.strict-model",
    rule="The answer validates against openai-python's own response models, as OpenAI(_strict_response_validation=True) demands.",
    source=f"{SDK}: ChatCompletion, ChatCompletionChunk",
)
def sdk_strict_model(seen: Observation) -> Iterator[str]:
    yield from seen.sdk.model_problems
