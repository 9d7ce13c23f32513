"""An OpenAI-compatible chat completions server on loopback that breaks one rule at a time.

It exists only to prove that the suite's checks can fail: fault "none" answers correctly (valid arguments for
whatever tools it is sent), every other fault breaks exactly one rule of the contract on the wire.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from selftests.instances import Unsatisfiable, invalid_variant, valid_instance

__all__ = [
    "BAD_REQUEST_FAULTS",
    "BENIGN",
    "FAULTS",
    "ROBUSTNESS_FAULTS",
    "SCHEMA_FAULTS",
    "STREAM_ONLY_FAULTS",
    "FaultServer",
    "main",
]

FAULTS: dict[str, str] = {
    "none": "a correct server",
    # blocking and streaming
    "http-500": "every completion answers 500 with an error body",
    "non-json-body": "200 with a text/html page instead of JSON or events",
    "envelope-missing-object": 'the completion and every chunk lack the top-level "object"',
    "zero-calls": 'no tool calls: content "I cannot call tools.", finish_reason as usual',
    "markup-instead-of-calls": 'finish_reason "tool_calls", tool_calls empty, <tool_call> markup left in content',
    "markup-in-content": "correct calls, and content also holds the <tool_call> markup",
    "wrong-named-function": "named choice calls another tool of the request (single-tool requests unaffected)",
    "extra-call-parallel-off": "parallel_tool_calls=false still gets two calls when the request has 2+ tools",
    "type-not-function": 'calls have type "tool"',
    "missing-id": "calls carry no id (in a stream: no id on the call's first delta)",
    "duplicate-id": "with 2+ calls, every call has the same id",
    "empty-id": 'calls have id ""',
    "unknown-name": 'function names get the suffix "_x"',
    "args-invalid-json": 'arguments lose their final "}" and are no longer JSON',
    "args-not-object": 'arguments are "true"',
    "args-schema-violation": "arguments are an object that violates the tool's schema (when one exists)",
    "finish-reason-stop": 'required choice answers finish_reason "stop"',
    "stream-blocking-drift": "streamed arguments are other valid values than the blocking ones",
    "always-truncate": 'every answer is cut at half its last arguments, finish_reason "length", usage at max_tokens',
    "length-lie": 'complete answers say finish_reason "length"; usage counts what they hold, far below max_tokens',
    "cut-not-length": "answers cut at half their last arguments, usage at max_tokens, finish_reason as if complete",
    "drop-usage": "no usage anywhere: none in blocking bodies, no usage chunk although include_usage was asked for",
    # streaming only
    "sse-garbage": 'an extra line "garbage here" between events',
    "chunk-not-json": 'one event is "data: {not json"',
    "no-done": "the stream ends without data: [DONE]",
    "data-after-done": "an event follows data: [DONE]",
    "role-twice": 'role "assistant" in two deltas',
    "role-missing": "no delta carries a role",
    "finish-twice": "finish_reason set in two chunks",
    "finish-missing": "no chunk carries a finish_reason",
    "missing-index": 'argument deltas carry no "index"',
    "repeat-name": "function.name repeated in every delta of a call",
    "repeat-id": "the call id repeated in every delta of a call",
    "id-changes": "a later delta of a call carries a different id",
    "name-changes": "a later delta of the first call carries a different name",
    "type-missing": 'the first delta of each call has no "type"',
    "no-usage": "stream_options.include_usage is ignored",
    "chunk-id-changes": "every chunk has its own id",
    "content-type-json": "the stream is served as application/json",
    "extra-choice": "a second choice (index 1) beside the first, in the body and in every chunk",
    "created-millis": "created is in milliseconds",
    "created-changes": "each chunk's created is one second later than the chunk before",
    "model-changes": "the last chunk names another model",
    "usage-total-wrong": "usage.total_tokens is one more than prompt_tokens + completion_tokens",
    "usage-zero": "usage counts 0 prompt tokens and 0 completion tokens",
    "usage-every-chunk": "with include_usage, every chunk carries the usage (vLLM's continuous_usage_stats)",
    "usage-unrequested": "a stream ends with a usage chunk even without include_usage",
    "content-after-finish": 'a chunk with content "." follows the chunk with the finish_reason',
    "tool-index-from-1": "tool call indices count from 1",
    "args-duplicate-key": 'arguments name their first key twice, a decoy value first: {"k": "decoy", "k": value, ...}',
    "chunk-error-field": 'every chunk carries a vendor field "error": {"message": "none"}',
    # a thinking model's thought (THOUGHT), beside the calls
    "reasoning-not-string": 'the thought is no string: message.reasoning {"text": ...}, a delta\'s reasoning a list',
    "reasoning-markup-in-content": "no thought field; content holds the <think>...</think> block, as a server without"
    " a reasoning parser leaves it",
    "reasoning-markup-in-arguments": "each call's first string argument that stays valid so starts with the empty"
    " <think></think> block Qwen3 writes when it does not think",
    "reasoning-repeated-in-content": "the thought in reasoning, and again as content beside the calls",
    "reasoning-names-disagree": "reasoning and reasoning_content carry different thoughts",
    "reasoning-stream-only": "the streamed answer carries the thought, the blocking one none (vLLM #20663:"
    " reasoning_content None under required)",
    # robustness
    "hang-before-headers": "completions hang (until stop) before any header is sent",
    "hang-mid-stream": "two events (blocking: half the body) then a stall until stop",
    "reset-mid-stream": "two events (blocking: half the body) then a TCP reset",
    "truncated-json-body": "the blocking body is cut in half (Content-Length matches the cut)",
    "status-429": "every completion answers 429 rate limited",
    "status-503": "every completion answers 503 service unavailable",
    "die-after-3": "three completions answered, then the listening socket closes (later ones: 500, refused)",
    "drop-kept-alive": "a connection kept open after its first answer is closed with the next request unanswered",
}
STREAM_ONLY_FAULTS = frozenset(
    {
        "sse-garbage", "chunk-not-json", "no-done", "data-after-done", "role-twice", "role-missing",
        "finish-twice", "finish-missing", "missing-index", "repeat-name", "repeat-id", "id-changes",
        "name-changes", "type-missing", "no-usage", "chunk-id-changes", "content-type-json", "stream-blocking-drift",
        "created-changes", "model-changes", "usage-every-chunk", "usage-unrequested", "content-after-finish",
        "tool-index-from-1", "chunk-error-field", "reasoning-stream-only",
    }
)  # fmt: skip
# Legal variations of the contract: a correct answer, said another way. No check may fire on any of them. An
# answer without a thought (no reasoning field at all) is the correct server's own: fault "none".
BENIGN: dict[str, str] = {
    "benign-vendor-fields": "fields OpenAI does not define, as vLLM and proxies add them, on every object and delta",
    "benign-resplit": "arguments one character per delta, the first with the name, the last with the finish_reason",
    "benign-sse-framing": "CRLF line ends, comment lines, id: and retry: fields, data: without its space",
    "benign-ids": "ids in other servers' formats (vLLM, Mistral, Kimi K2, a bare UUID)",
    "benign-tiny-writes": "every response written a few bytes at a time, splitting lines and characters",
    "benign-charset": "content types with a charset parameter",
    "benign-usage-null": '"usage": null on every chunk that has no usage to give, and on blocking bodies',
    "benign-args-whitespace": "arguments with whitespace around and inside, streamed with a first fragment of it",
    "benign-named-tool-calls": 'named choice answers finish_reason "tool_calls", as the reference says of any answer'
    ' that called a tool (OpenAI itself answers "stop"; llama.cpp answers so)',
    "benign-reasoning": "a thought in reasoning (vLLM since PR #27752), streamed a few characters per delta",
    "benign-reasoning-content": "a thought in reasoning_content only (vLLM before PR #27752, DeepSeek, llama.cpp)",
    "benign-reasoning-both": "the same thought under both names, reasoning and reasoning_content",
}
ROBUSTNESS_FAULTS = frozenset(
    {
        "hang-before-headers", "hang-mid-stream", "reset-mid-stream", "truncated-json-body",
        "status-429", "status-503", "die-after-3", "drop-kept-alive",
    }
)  # fmt: skip

# Schema-keyword faults: the server mishandles one JSON Schema keyword. They change the wire only for tools
# that use the keyword (not the seed's), so they are proven by selftests/test_generated_against_faults.py.
SCHEMA_FAULTS: dict[str, str] = {
    "ignore-maximum": "a number under a schema with maximum is answered as maximum + 1",
    "ignore-enum": "a value under a schema with enum is answered as a string outside the enum",
    "ignore-ref": "a value under a $ref is answered with the wrong JSON type",
    "refuse-pattern": '400 "unsupported schema feature: pattern" when any tool\'s schema uses pattern',
}
OUT_OF_ENUM = "not-in-enum"

# Bad-request faults: the server mishandles requests it must refuse. Valid requests are answered correctly, so
# they are proven by the bad-request tests (selftests/test_suite_against_faults.py), not by the wire transcript.
BAD_REQUEST_FAULTS: dict[str, str] = {
    "accept-bad-requests": "every request it should refuse is answered 200 with a text completion",
    "bad-request-500": "every request it should refuse is answered 500 (with OpenAI's error object)",
    "bad-request-wrong-error-shape": 'refusals are 400 with the flat {"object": "error", "message", ...} of older vLLM',
    "dies-after-bad-request": "the first request it should refuse gets its 400, then the listening socket closes",
    "lenient-names": "function names outside ^[a-zA-Z0-9_-]{1,64}$ are accepted (the rest is refused as usual)",
}
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
SCHEMA_URI = "urn:fault-server:parameters"

ALL_FAULTS = {**FAULTS, **SCHEMA_FAULTS, **BAD_REQUEST_FAULTS, **BENIGN}

TRUNCATION_MAX_TOKENS = 8  # a max_tokens below this truncates the answer like a real model would
# A thinking model's thought: long enough that reasoning.not-repeated counts a copy of it, the same every time.
THOUGHT = "The user asks for something a tool can do, so I call it with arguments its schema allows."
OTHER_THOUGHT = "No tool fits this request, but the choice is required, so I call the first one anyway."
EMPTY_THINK = "<think>\n\n</think>\n\n"  # what Qwen3 writes before its answer when it does not think
REASONING_NAMES = ("reasoning", "reasoning_content")  # vLLM's name since PR #27752, and its name before
HANG_SECONDS = 3600.0
DIE_AFTER = 3
EMPTY_PARAMETERS = {"type": "object", "properties": {}}
STATUS_FAULTS: dict[str, tuple[int, str, str]] = {
    "http-500": (500, "InternalServerError", "Internal server error (injected fault)"),
    "status-429": (429, "RateLimitError", "Too many requests, retry later (injected fault)"),
    "status-503": (503, "ServiceUnavailableError", "Service unavailable (injected fault)"),
}


class BadRequest(Exception):
    """The request is malformed; answered with 400 like vLLM does."""


@dataclass
class ParsedRequest:
    """What the server needs of one chat completion request."""

    model: str
    tools: dict[str, Any]  # name -> parameters schema, in request order
    choice: str  # "required", "named" or "text"
    named: str | None
    parallel: bool
    stream: bool
    include_usage: bool
    seed: int | None
    max_tokens: int | None
    prompt_size: int


# What accept-bad-requests answers whatever it was sent: a plain text completion.
TEXT_REQUEST = ParsedRequest(
    model="fault-model",
    tools={},
    choice="text",
    named=None,
    parallel=True,
    stream=False,
    include_usage=False,
    seed=None,
    max_tokens=None,
    prompt_size=0,
)


@dataclass
class Call:
    """One tool call as it will be put on the wire (None fields are omitted)."""

    id: str | None
    type: str | None
    name: str
    arguments: str


@dataclass
class Plan:
    """The answer to send, independent of blocking or streaming."""

    calls: list[Call]
    content: str | None
    finish_reason: str | None
    empty_tool_calls: bool = False  # send "tool_calls": [] rather than leaving the key out
    at_limit: bool = False  # cut at max_tokens: usage counts exactly max_tokens completion tokens, as vLLM's does
    no_usage: bool = False  # no usage at all: none in the blocking body, no usage chunk even when asked for
    # The thought, by field name (REASONING_NAMES), beside content: a string, or another JSON value for a fault.
    reasoning: dict[str, Any] = field(default_factory=dict)
    reasoning_piece: int = 0  # characters per streamed delta of the thought; 0: two or three deltas (_split)

    def usage(self, request: ParsedRequest) -> dict[str, int]:
        produced = sum(len(call.name) + len(call.arguments) for call in self.calls) + len(self.content or "")
        produced += max((len(text) for text in self.reasoning.values() if isinstance(text, str)), default=0)
        prompt, completion = max(1, request.prompt_size // 4), max(1, produced // 4)
        if self.at_limit and request.max_tokens is not None:
            completion = request.max_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --- parsing and validating requests ------------------------------------------------------------


def parse_request(body: Any, default_model: str, *, check_names: bool = True) -> ParsedRequest:
    """Validate a request body like OpenAI does; raise BadRequest with its kind of message."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("Field 'messages' is required and must be a non-empty list of messages.")
    tools = _parse_tools(body.get("tools"), check_names)
    choice, named = _parse_tool_choice(body.get("tool_choice"), tools)
    stream = _typed_field(body, "stream", bool, False)
    stream_options = _typed_field(body, "stream_options", dict, None)
    if stream_options is not None and not stream:
        raise BadRequest("Stream options can only be defined when `stream=True`.")
    max_tokens = _typed_field(body, "max_completion_tokens", int, None) or _typed_field(body, "max_tokens", int, None)
    if max_tokens is not None and max_tokens < 1:
        raise BadRequest("max_tokens must be at least 1.")
    return ParsedRequest(
        model=_typed_field(body, "model", str, default_model),
        tools=tools,
        choice=choice,
        named=named,
        parallel=_typed_field(body, "parallel_tool_calls", bool, True),
        stream=stream,
        include_usage=bool((stream_options or {}).get("include_usage")),
        seed=_typed_field(body, "seed", int, None),
        max_tokens=max_tokens,
        prompt_size=len(json.dumps(messages)) + len(json.dumps(body.get("tools") or [])),
    )


def _typed_field(body: dict, name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"Field '{name}' must be of type {kind.__name__}.")
    return value


def _parse_tools(tools: Any, check_names: bool = True) -> dict[str, Any]:
    if tools is None:
        return {}
    if not isinstance(tools, list) or not tools:
        raise BadRequest("Field 'tools' must be a non-empty list; [] is too short.")
    parsed: dict[str, Any] = {}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function" or not function.get("name"):
            raise BadRequest('Every tool needs "type": "function" and a "function" with a "name".')
        parameters = function.get("parameters") or EMPTY_PARAMETERS
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as error:
            raise BadRequest(f"Invalid parameters schema for tool '{function['name']}': {error.message}") from None
        if check_names and not (isinstance(function["name"], str) and FUNCTION_NAME.fullmatch(function["name"])):
            raise BadRequest(f"Invalid function name {function['name']!r}: it must match ^[a-zA-Z0-9_-]{{1,64}}$.")
        missing = _unresolvable_refs(parameters)
        if missing:
            raise BadRequest(
                f"Invalid parameters schema for tool '{function['name']}': $ref {missing[0]!r} points at nothing."
            )
        parsed[function["name"]] = parameters
    return parsed


def _unresolvable_refs(schema: Any) -> list[str]:
    """The $refs of a schema that resolve to nothing (this server fetches nothing: only local ones can resolve)."""
    if not isinstance(schema, dict):
        return []
    resolver = Registry().with_resource(SCHEMA_URI, DRAFT202012.create_resource(schema)).resolver(SCHEMA_URI)
    missing = []
    for ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            missing.append(ref)
    return missing


def _refs(schema: Any) -> list[str]:
    """Every $ref value in a schema; enum, const, default and examples hold data, not schemas, and are skipped."""
    if isinstance(schema, list):
        return [ref for item in schema for ref in _refs(item)]
    if not isinstance(schema, dict):
        return []
    own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
    data = ("enum", "const", "default", "examples")
    return own + [ref for key, sub in schema.items() if key not in data for ref in _refs(sub)]


def _parse_tool_choice(tool_choice: Any, tools: dict[str, Any]) -> tuple[str, str | None]:
    if tool_choice is None:
        return "text", None
    if not tools:
        raise BadRequest("When using `tool_choice`, `tools` must be set.")
    if isinstance(tool_choice, str):
        if tool_choice not in ("auto", "none", "required"):
            raise BadRequest(f"Invalid value for `tool_choice`: {tool_choice!r}.")
        return ("required" if tool_choice == "required" else "text"), None
    function = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    if not isinstance(function, dict) or tool_choice.get("type") != "function":
        raise BadRequest('A named `tool_choice` must be {"type": "function", "function": {"name": ...}}.')
    if function.get("name") not in tools:
        raise BadRequest(f"Tool '{function.get('name')}' has not been passed in `tools`.")
    return "named", function["name"]


# --- planning the answer ------------------------------------------------------------------------


def build_plan(request: ParsedRequest, fault: str) -> Plan:
    """The correct answer, truncated when max_tokens is tiny, then broken by the fault (if it is a plan fault)."""
    if request.choice == "text":
        plan = Plan(calls=[], content="Hello.", finish_reason="stop")
    else:
        finish = "tool_calls" if request.choice == "required" else "stop"
        plan = Plan(calls=_make_calls(request, _names_to_call(request)), content=None, finish_reason=finish)
    if request.max_tokens is not None and request.max_tokens < TRUNCATION_MAX_TOKENS:
        _truncate(plan, request)
    for part in fault.split("+") if is_plan_combination(fault) else [fault]:
        PLAN_FAULTS.get(part, _no_fault)(plan, request)
    return plan


def is_plan_combination(fault: str) -> bool:
    """Faults of the answer's plan applied one after another ("args-schema-violation+length-lie"): a lie on
    top of a real failure, to prove the lie does not hide it."""
    parts = fault.split("+")
    return len(parts) > 1 and all(part in PLAN_FAULTS for part in parts)


def _names_to_call(request: ParsedRequest) -> list[str]:
    if request.choice == "named":
        return [request.named or ""]
    names = list(request.tools)
    return names[:2] if request.parallel else names[:1]


def _make_calls(request: ParsedRequest, names: list[str], variant: int = 0) -> list[Call]:
    return [
        Call(_call_id(request.seed, index), "function", name, _arguments(request.tools[name], variant))
        for index, name in enumerate(names)
    ]


def _call_id(seed: int | None, index: int) -> str:
    if seed is None:
        return "call_" + uuid.uuid4().hex[:24]
    return "call_" + hashlib.sha256(f"{seed}:{index}".encode()).hexdigest()[:24]


def _arguments(parameters: Any, variant: int = 0) -> str:
    try:
        return json.dumps(valid_instance(parameters, variant=variant), ensure_ascii=False)
    except Unsatisfiable as error:
        raise BadRequest(f"Cannot produce arguments for this schema: {error}") from None


def _truncate(plan: Plan, request: ParsedRequest) -> None:
    """An honest truncation: the answer is cut, its usage reached max_tokens, and it says "length"."""
    if plan.finish_reason == "length":
        return
    _cut(plan, request)
    plan.finish_reason = "length"


def _cut(plan: Plan, request: ParsedRequest) -> None:
    if plan.calls:
        last = plan.calls[-1]
        last.arguments = last.arguments[: len(last.arguments) // 2]
    elif plan.content:
        plan.content = plan.content[: len(plan.content) // 2]
    plan.at_limit = True


def _length_lie(plan: Plan, request: ParsedRequest) -> None:
    """Nothing was cut, yet the answer claims the token limit: the claim that would excuse every rule."""
    plan.finish_reason = "length"


def _drop_usage(plan: Plan, request: ParsedRequest) -> None:
    """The facts a "length" is checked against, withheld (combined with length-lie: a lie that hides them)."""
    plan.no_usage = True


def _cut_not_length(plan: Plan, request: ParsedRequest) -> None:
    """vLLM #58228: the limit cut the last call, and finish_reason says the answer finished."""
    if plan.finish_reason != "length" and plan.calls:
        _cut(plan, request)


def _markup(calls: list[Call]) -> str:
    blocks = [f'<tool_call>\n{{"name": {json.dumps(c.name)}, "arguments": {c.arguments}}}\n</tool_call>' for c in calls]
    return "\n".join(blocks)


def _no_fault(plan: Plan, request: ParsedRequest) -> None:
    """The correct server changes nothing."""


def _zero_calls(plan: Plan, request: ParsedRequest) -> None:
    if plan.calls:
        plan.calls, plan.content = [], "I cannot call tools."


def _markup_instead_of_calls(plan: Plan, request: ParsedRequest) -> None:
    if plan.calls:
        plan.content, plan.calls, plan.empty_tool_calls = _markup(plan.calls), [], True
        plan.finish_reason = "length" if plan.finish_reason == "length" else "tool_calls"


def _markup_in_content(plan: Plan, request: ParsedRequest) -> None:
    if plan.calls:
        plan.content = _markup(plan.calls)


def _wrong_named_function(plan: Plan, request: ParsedRequest) -> None:
    others = [name for name in request.tools if name != request.named]
    if request.choice == "named" and others:
        plan.calls = _make_calls(request, others[:1])


def _extra_call_parallel_off(plan: Plan, request: ParsedRequest) -> None:
    if request.choice == "required" and not request.parallel and len(request.tools) >= 2:
        plan.calls = _make_calls(request, list(request.tools)[:2])


def _set_on_calls(attribute: str, value: Callable[[Call], Any]) -> Callable[[Plan, ParsedRequest], None]:
    def fault(plan: Plan, request: ParsedRequest) -> None:
        for call in plan.calls:
            setattr(call, attribute, value(call))

    return fault


def _duplicate_id(plan: Plan, request: ParsedRequest) -> None:
    for call in plan.calls[1:]:
        call.id = plan.calls[0].id


def _args_schema_violation(plan: Plan, request: ParsedRequest) -> None:
    for call in plan.calls:
        try:
            broken = invalid_variant(request.tools[call.name], json.loads(call.arguments))
        except json.JSONDecodeError:  # already truncated: nothing to violate
            continue
        if broken is not None:
            call.arguments = json.dumps(broken, ensure_ascii=False)


def _finish_reason_stop(plan: Plan, request: ParsedRequest) -> None:
    if request.choice == "required" and plan.finish_reason == "tool_calls":
        plan.finish_reason = "stop"


def _finish_reason_tool_calls_named(plan: Plan, request: ParsedRequest) -> None:
    if request.choice == "named" and plan.finish_reason == "stop":
        plan.finish_reason = "tool_calls"


def _stream_blocking_drift(plan: Plan, request: ParsedRequest) -> None:
    if request.stream:
        for call in plan.calls:
            call.arguments = _drifted(request.tools[call.name], call.arguments)


def _drifted(parameters: Any, arguments: str) -> str:
    """Other arguments, still valid: another variant, or else one extra key where the schema allows it."""
    validator = Draft202012Validator(parameters, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for variant in (1, 2, 3):
        candidate = _arguments(parameters, variant)
        if json.loads(candidate) != json.loads(arguments):
            return candidate
    with_extra = {**json.loads(arguments), "drift": 1}
    return json.dumps(with_extra, ensure_ascii=False) if validator.is_valid(with_extra) else arguments


def _mishandle_keyword(keyword: str) -> Callable[[Plan, ParsedRequest], None]:
    """A plan fault: in every call, each value whose schema uses `keyword` is replaced as that keyword's fault says."""

    def fault(plan: Plan, request: ParsedRequest) -> None:
        for call in plan.calls:
            try:
                arguments = json.loads(call.arguments)
            except json.JSONDecodeError:  # already truncated: nothing to mishandle
                continue
            schema = request.tools[call.name]
            changed = _mishandled(keyword, schema, arguments, Draft202012Validator(schema))
            call.arguments = json.dumps(changed, ensure_ascii=False)

    return fault


def _mishandled(keyword: str, schema: Any, value: Any, root: Draft202012Validator) -> Any:
    """The value with every place governed by `keyword` replaced by a wrong one; the rest walked into."""
    if not isinstance(schema, dict):
        return value
    if "$ref" in schema:
        if keyword == "$ref":
            return 12345 if isinstance(value, str) else "wrong-type"
        return _mishandled(keyword, _local_target(root.schema, schema["$ref"]), value, root)
    if keyword == "maximum" and _is_number(schema.get("maximum")) and _is_number(value):
        return schema["maximum"] + 1
    if keyword == "enum" and isinstance(schema.get("enum"), list):
        return next(word for word in (OUT_OF_ENUM + "x" * n for n in itertools.count()) if word not in schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        for branch in schema.get(combinator, []):
            if root.evolve(schema=branch).is_valid(value):
                return _mishandled(keyword, branch, value, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        return {name: _mishandled(keyword, properties.get(name, extra), item, root) for name, item in value.items()}
    if isinstance(value, list):
        return [_mishandled(keyword, schema.get("items", True), item, root) for item in value]
    return value


def _local_target(root: Any, ref: str) -> Any:
    """What a local reference ("#/$defs/Name") points at; True (anything goes) when it cannot be followed."""
    node = root
    for token in ref.removeprefix("#").split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return True
        node = node[token]
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _uses_pattern(schema: Any) -> bool:
    """Whether a schema uses the pattern keyword anywhere (a string under "pattern", never a property schema)."""
    if isinstance(schema, dict):
        return any((key == "pattern" and isinstance(sub, str)) or _uses_pattern(sub) for key, sub in schema.items())
    if isinstance(schema, list):
        return any(_uses_pattern(sub) for sub in schema)
    return False


def _args_duplicate_key(plan: Plan, request: ParsedRequest) -> None:
    for call in plan.calls:
        try:
            arguments = json.loads(call.arguments)
        except json.JSONDecodeError:  # already truncated
            continue
        if isinstance(arguments, dict) and arguments:
            first = json.dumps(next(iter(arguments)), ensure_ascii=False)
            call.arguments = "{" + first + ': "decoy", ' + call.arguments.lstrip()[1:]


def _other_id_formats(plan: Plan, request: ParsedRequest) -> None:
    """vLLM's, Mistral's (9 alphanumerics) and Kimi K2's (functions.NAME:INDEX) call ids, in turn."""
    for index, call in enumerate(plan.calls):
        digest = hashlib.sha256(f"{call.id}".encode()).hexdigest()
        formats = (
            "chatcmpl-tool-" + digest[:16],
            (digest[:5] + digest[5:9].upper())[:9],
            f"functions.{call.name}:{index}",
        )
        call.id = formats[index % 3]


def _spaced_arguments(plan: Plan, request: ParsedRequest) -> None:
    for call in plan.calls:
        try:
            call.arguments = " " + json.dumps(json.loads(call.arguments), indent=1, ensure_ascii=False) + "\n"
        except json.JSONDecodeError:  # already truncated
            continue


def _think(*names: str, piece: int = 0) -> Callable[[Plan, ParsedRequest], None]:
    """A thinking model's answer: THOUGHT under each of the names, in both modes."""

    def think(plan: Plan, request: ParsedRequest) -> None:
        plan.reasoning = dict.fromkeys(names, THOUGHT)
        plan.reasoning_piece = piece

    return think


def _reasoning_not_string(plan: Plan, request: ParsedRequest) -> None:
    """The thought as an object (blocking) or a list of parts (in one delta of a stream), not as text."""
    part = {"type": "text", "text": THOUGHT}
    plan.reasoning = {"reasoning": [part] if request.stream else {"text": THOUGHT}}


def _reasoning_markup_in_content(plan: Plan, request: ParsedRequest) -> None:
    """No reasoning parser: the thought stays in content, markup and all, beside the parsed calls."""
    if plan.calls:
        plan.content = f"<think>\n{THOUGHT}\n</think>\n\n"


def _reasoning_markup_in_arguments(plan: Plan, request: ParsedRequest) -> None:
    for call in plan.calls:
        try:
            arguments = json.loads(call.arguments)
        except json.JSONDecodeError:  # already truncated
            continue
        marked = _marked(arguments, request.tools[call.name])
        if marked is not None:
            call.arguments = json.dumps(marked, ensure_ascii=False)


def _marked(arguments: Any, parameters: Any) -> Any | None:
    """The arguments with EMPTY_THINK before the first string value (depth first) that stays valid so; None if
    no string can carry it."""
    validator = Draft202012Validator(parameters, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for path in _string_paths(arguments):
        candidate = json.loads(json.dumps(arguments))
        holder = candidate
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = EMPTY_THINK + holder[path[-1]]
        if validator.is_valid(candidate):
            return candidate
    return None


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where the strings of a decoded JSON value are (not the keys), in document order."""
    if isinstance(value, str):
        return [path] if path else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    return [found for key, item in items for found in _string_paths(item, (*path, key))]


def _reasoning_repeated_in_content(plan: Plan, request: ParsedRequest) -> None:
    plan.reasoning = {"reasoning": THOUGHT}
    if plan.calls:
        plan.content = THOUGHT


def _reasoning_names_disagree(plan: Plan, request: ParsedRequest) -> None:
    plan.reasoning = {"reasoning": THOUGHT, "reasoning_content": OTHER_THOUGHT}


def _reasoning_stream_only(plan: Plan, request: ParsedRequest) -> None:
    if request.stream:
        plan.reasoning = {"reasoning": THOUGHT}


PLAN_FAULTS: dict[str, Callable[[Plan, ParsedRequest], None]] = {
    "args-duplicate-key": _args_duplicate_key,
    "benign-args-whitespace": _spaced_arguments,
    "benign-ids": _other_id_formats,
    "zero-calls": _zero_calls,
    "markup-instead-of-calls": _markup_instead_of_calls,
    "markup-in-content": _markup_in_content,
    "wrong-named-function": _wrong_named_function,
    "extra-call-parallel-off": _extra_call_parallel_off,
    "type-not-function": _set_on_calls("type", lambda call: "tool"),
    "missing-id": _set_on_calls("id", lambda call: None),
    "duplicate-id": _duplicate_id,
    "empty-id": _set_on_calls("id", lambda call: ""),
    "unknown-name": _set_on_calls("name", lambda call: call.name + "_x"),
    "args-invalid-json": _set_on_calls("arguments", lambda call: call.arguments[:-1]),
    "args-not-object": _set_on_calls("arguments", lambda call: "true"),
    "args-schema-violation": _args_schema_violation,
    "finish-reason-stop": _finish_reason_stop,
    "benign-named-tool-calls": _finish_reason_tool_calls_named,
    "stream-blocking-drift": _stream_blocking_drift,
    "always-truncate": _truncate,
    "length-lie": _length_lie,
    "cut-not-length": _cut_not_length,
    "drop-usage": _drop_usage,
    "ignore-maximum": _mishandle_keyword("maximum"),
    "ignore-enum": _mishandle_keyword("enum"),
    "ignore-ref": _mishandle_keyword("$ref"),
    "benign-reasoning": _think("reasoning", piece=3),
    "benign-reasoning-content": _think("reasoning_content"),
    "benign-reasoning-both": _think(*REASONING_NAMES),
    "reasoning-not-string": _reasoning_not_string,
    "reasoning-markup-in-content": _reasoning_markup_in_content,
    "reasoning-markup-in-arguments": _reasoning_markup_in_arguments,
    "reasoning-repeated-in-content": _reasoning_repeated_in_content,
    "reasoning-names-disagree": _reasoning_names_disagree,
    "reasoning-stream-only": _reasoning_stream_only,
}


# --- rendering: blocking ------------------------------------------------------------------------


def completion_body(plan: Plan, request: ParsedRequest) -> dict[str, Any]:
    """The chat.completion object of a blocking answer."""
    message: dict[str, Any] = {"role": "assistant", "content": plan.content, "refusal": None, **plan.reasoning}
    if plan.calls or plan.empty_tool_calls:
        message["tool_calls"] = [_call_json(call) for call in plan.calls]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}
    usage = {} if plan.no_usage else {"usage": plan.usage(request)}
    return {**_envelope(request, "chat.completion"), "choices": [choice], **usage}


VENDOR_TOP = {"prompt_token_ids": None, "kv_transfer_params": None, "x_trace": {"id": "t-1", "spans": [1, 2]}}
VENDOR_CHUNK = {"error": None}  # the SDK raises on a chunk whose "error" is set, not on a null one
VENDOR_CHOICE = {"stop_reason": None, "token_ids": None}
VENDOR_MESSAGE = {"reasoning_content": None, "x_vendor": {"cached": True}}
VENDOR_CALL = {"x_vendor": None}


def _change_usage(usage: dict[str, int], fault: str) -> None:
    if fault == "usage-total-wrong":
        usage["total_tokens"] += 1
    elif fault == "usage-zero":
        usage.update(prompt_tokens=0, completion_tokens=0, total_tokens=0)


def _body_fault(completion: dict[str, Any], fault: str) -> None:
    """The faults (and legal variations) of a blocking body that are no plan faults."""
    choice = completion["choices"][0]
    if fault == "extra-choice":
        completion["choices"].append({**choice, "index": 1})
    elif fault == "created-millis":
        completion["created"] *= 1000
    elif fault == "benign-vendor-fields":
        completion.update(VENDOR_TOP)
        choice.update(VENDOR_CHOICE)
        choice["message"].update(VENDOR_MESSAGE)
        for call in choice["message"].get("tool_calls", []):
            call.update(VENDOR_CALL)
    elif fault == "benign-ids":
        completion["id"] = str(uuid.uuid4())
    if "usage" in completion:
        _change_usage(completion["usage"], fault)
    if fault == "benign-usage-null":
        completion["usage"] = None


def _envelope(request: ParsedRequest, kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-" + uuid.uuid4().hex, "object": kind, "created": int(time.time()), "model": request.model}


def _call_json(call: Call) -> dict[str, Any]:
    fields = {"id": call.id, "type": call.type}
    present = {key: value for key, value in fields.items() if value is not None}
    return {**present, "function": {"name": call.name, "arguments": call.arguments}}


# --- rendering: streaming -----------------------------------------------------------------------


def stream_chunks(plan: Plan, request: ParsedRequest, *, with_usage: bool | None = None) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects of a streamed answer, in order; with_usage: end with a usage chunk
    (default: when the request asks for one)."""
    envelope = _envelope(request, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**envelope, "choices": [choice]}

    chunks = [chunk({"role": "assistant"})]
    chunks += [chunk(delta) for delta in _reasoning_deltas(plan)]
    chunks += [chunk({"content": piece}) for piece in _split(plan.content or "")]
    for index, call in enumerate(plan.calls):
        first = {"index": index, **_call_json(call)}
        first["function"] = {"name": call.name, "arguments": ""}
        chunks.append(chunk({"tool_calls": [first]}))
        pieces = _split(call.arguments)
        chunks += [chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]
    chunks.append(chunk({}, plan.finish_reason))
    if (request.include_usage if with_usage is None else with_usage) and not plan.no_usage:
        chunks.append({**envelope, "choices": [], "usage": plan.usage(request)})
    return chunks


def _reasoning_deltas(plan: Plan) -> list[dict[str, Any]]:
    """The thought's deltas: each name's text cut alike, the names side by side in one delta (as vLLM sent both);
    a value that is no string whole, in the first."""
    pieces = {
        name: (_pieces_of(value, plan.reasoning_piece) if isinstance(value, str) else [value])
        for name, value in plan.reasoning.items()
    }
    count = max(map(len, pieces.values()), default=0)
    return [{name: cut[i] for name, cut in pieces.items() if i < len(cut)} for i in range(count)]


def _pieces_of(text: str, size: int) -> list[str]:
    """The text in pieces of size characters, or the usual two or three fragments for size 0."""
    return [text[start : start + size] for start in range(0, len(text), size)] if size else _split(text)


def _split(text: str) -> list[str]:
    """Two or three fragments (fewer for very short text)."""
    if len(text) < 2:
        return [text] if text else []
    parts = 3 if len(text) >= 6 else 2
    cuts = [len(text) * i // parts for i in range(parts + 1)]
    return [text[start:end] for start, end in itertools.pairwise(cuts)]


def _tool_deltas(chunks: list[dict]) -> list[tuple[dict, bool]]:
    """Every tool-call delta with whether it opens its call (carries function.name)."""
    found = []
    for chunk in chunks:
        for choice in chunk.get("choices", []):
            for delta in choice["delta"].get("tool_calls", []):
                found.append((delta, "name" in delta.get("function", {})))
    return found


def _first_deltas(chunks: list[dict]) -> list[dict]:
    return [delta for delta, opens in _tool_deltas(chunks) if opens]


def _later_deltas(chunks: list[dict]) -> list[tuple[dict, dict]]:
    """Each continuation delta paired with its call's first delta."""
    pairs, current = [], {}
    for delta, opens in _tool_deltas(chunks):
        if opens:
            current = delta
        else:
            pairs.append((delta, current))
    return pairs


def _finishing_index(chunks: list[dict]) -> int:
    return next(i for i, chunk in enumerate(chunks) if chunk["choices"] and chunk["choices"][0]["finish_reason"])


def _role_twice(chunks: list[dict], request: ParsedRequest) -> None:
    chunks[1]["choices"][0]["delta"]["role"] = "assistant"


def _role_missing(chunks: list[dict], request: ParsedRequest) -> None:
    chunks[0]["choices"][0]["delta"].pop("role", None)


def _finish_twice(chunks: list[dict], request: ParsedRequest) -> None:
    finishing = _finishing_index(chunks)
    chunks[finishing - 1]["choices"][0]["finish_reason"] = chunks[finishing]["choices"][0]["finish_reason"]


def _finish_missing(chunks: list[dict], request: ParsedRequest) -> None:
    chunks[_finishing_index(chunks)]["choices"][0]["finish_reason"] = None


def _missing_index(chunks: list[dict], request: ParsedRequest) -> None:
    for delta, _ in _later_deltas(chunks):
        delta.pop("index", None)


def _repeat_name(chunks: list[dict], request: ParsedRequest) -> None:
    for delta, first in _later_deltas(chunks):
        delta["function"] = {"name": first["function"]["name"], **delta["function"]}


def _repeat_id(chunks: list[dict], request: ParsedRequest) -> None:
    for delta, first in _later_deltas(chunks):
        if "id" in first:
            delta["id"] = first["id"]


def _id_changes(chunks: list[dict], request: ParsedRequest) -> None:
    seen = set()
    for delta, first in _later_deltas(chunks):
        if first["index"] not in seen:
            seen.add(first["index"])
            delta["id"] = "call_" + hashlib.sha256(f"changed:{first.get('id')}".encode()).hexdigest()[:24]


def _name_changes(chunks: list[dict], request: ParsedRequest) -> None:
    later = _later_deltas(chunks)
    if later:
        delta, first = later[0]
        name = first["function"]["name"]
        others = [other for other in request.tools if other != name]
        delta["function"] = {"name": others[0] if others else name + "2", **delta["function"]}


def _type_missing(chunks: list[dict], request: ParsedRequest) -> None:
    for delta in _first_deltas(chunks):
        delta.pop("type", None)


def _no_usage(chunks: list[dict], request: ParsedRequest) -> None:
    chunks[:] = [chunk for chunk in chunks if chunk["choices"]]


def _chunk_id_changes(chunks: list[dict], request: ParsedRequest) -> None:
    for chunk in chunks:
        chunk["id"] = "chatcmpl-" + uuid.uuid4().hex


def _drop_object(chunks: list[dict], request: ParsedRequest) -> None:
    for chunk in chunks:
        chunk.pop("object", None)


def _extra_choice(chunks: list[dict], request: ParsedRequest) -> None:
    for chunk in chunks:
        chunk["choices"] += [{**choice, "index": 1} for choice in chunk["choices"]]


def _set_created(change: Callable[[int, int], int]) -> Callable[[list[dict], ParsedRequest], None]:
    def fault(chunks: list[dict], request: ParsedRequest) -> None:
        for position, chunk in enumerate(chunks):
            chunk["created"] = change(chunk["created"], position)

    return fault


def _model_changes(chunks: list[dict], request: ParsedRequest) -> None:
    chunks[-1]["model"] = chunks[-1]["model"] + "-other"


def _usage_chunks(fault: str) -> Callable[[list[dict], ParsedRequest], None]:
    def change(chunks: list[dict], request: ParsedRequest) -> None:
        for chunk in chunks:
            if chunk.get("usage"):
                _change_usage(chunk["usage"], fault)

    return change


def _usage_every_chunk(chunks: list[dict], request: ParsedRequest) -> None:
    if chunks[-1].get("usage"):
        for chunk in chunks[:-1]:
            chunk["usage"] = dict(chunks[-1]["usage"])


def _content_after_finish(chunks: list[dict], request: ParsedRequest) -> None:
    finishing = _finishing_index(chunks)
    after = json.loads(json.dumps(chunks[finishing]))
    after["choices"][0].update(delta={"content": "."}, finish_reason=None)
    chunks.insert(finishing + 1, after)


def _tool_index_from_1(chunks: list[dict], request: ParsedRequest) -> None:
    for delta, _ in _tool_deltas(chunks):
        delta["index"] += 1


def _chunk_error_field(chunks: list[dict], request: ParsedRequest) -> None:
    for chunk in chunks:
        chunk["error"] = {"message": "none"}


def _vendor_fields(chunks: list[dict], request: ParsedRequest) -> None:
    for chunk in chunks:
        chunk.update(VENDOR_TOP)
        chunk.update(VENDOR_CHUNK)
        for choice in chunk["choices"]:
            choice.update(VENDOR_CHOICE)
            choice["delta"]["reasoning_content"] = None
            for delta in choice["delta"].get("tool_calls", []):
                delta.update(VENDOR_CALL)


def _resplit(chunks: list[dict], request: ParsedRequest) -> None:
    """The same answer cut differently: content "" with the role, arguments one character per delta (the first
    with the call's name and id), the finish_reason on the last delta, system_fingerprint on the last chunk only."""
    envelope = {key: value for key, value in chunks[0].items() if key != "choices"}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**envelope, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    calls: dict[int, dict[str, Any]] = {}
    for delta, opens in _tool_deltas(chunks):
        if opens:
            calls[delta["index"]] = {**delta, "function": dict(delta["function"])}
        else:
            calls[delta["index"]]["function"]["arguments"] += delta["function"]["arguments"]
    finish = chunks[_finishing_index(chunks)]["choices"][0]["finish_reason"]
    rest = [c for c in chunks if not c["choices"]]  # the usage chunk
    cut = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": letter}) for letter in content]
    for index, call in calls.items():
        arguments = call["function"]["arguments"]
        first = {**call, "function": {"name": call["function"]["name"], "arguments": arguments[:1]}}
        cut.append(chunk({"tool_calls": [first]}))
        cut += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": letter}}]}) for letter in arguments[1:]
        ]
    if len(cut) > 1:
        cut[-1]["choices"][0]["finish_reason"] = finish
    else:
        cut.append(chunk({}, finish))
    cut[-1]["system_fingerprint"] = "fp-benign"
    cut.append(chunk({}))  # an empty delta after the finish_reason adds nothing
    chunks[:] = cut + rest


def _usage_null(chunks: list[dict], request: ParsedRequest) -> None:
    for chunk in chunks:
        chunk.setdefault("usage", None)


def _bare_uuid_ids(chunks: list[dict], request: ParsedRequest) -> None:
    completion_id = str(uuid.uuid4())
    for chunk in chunks:
        chunk["id"] = completion_id


def _whitespace_first(chunks: list[dict], request: ParsedRequest) -> None:
    """Each call's first arguments fragment (its leading space) alone in a delta, the rest in the next chunk."""
    split, seen = [], set()
    for position, chunk in enumerate(chunks):
        for delta in [d for choice in chunk["choices"] for d in choice["delta"].get("tool_calls", [])]:
            pieces = delta["function"].get("arguments", "")
            if pieces and delta["index"] not in seen:
                seen.add(delta["index"])
                if pieces.startswith(" ") and "name" not in delta["function"]:
                    split.append((position, delta, pieces))
    for position, delta, pieces in reversed(split):  # from the end, so earlier positions stay where they are
        follow = json.loads(json.dumps(chunks[position]))
        follow["choices"][0]["delta"] = {
            "tool_calls": [{"index": delta["index"], "function": {"arguments": pieces[1:]}}]
        }
        delta["function"]["arguments"] = " "
        chunks.insert(position + 1, follow)


CHUNK_FAULTS: dict[str, Callable[[list[dict], ParsedRequest], None]] = {
    "benign-args-whitespace": _whitespace_first,
    "extra-choice": _extra_choice,
    "created-millis": _set_created(lambda created, position: created * 1000),
    "created-changes": _set_created(lambda created, position: created + position),
    "model-changes": _model_changes,
    "usage-total-wrong": _usage_chunks("usage-total-wrong"),
    "usage-zero": _usage_chunks("usage-zero"),
    "usage-every-chunk": _usage_every_chunk,
    "content-after-finish": _content_after_finish,
    "tool-index-from-1": _tool_index_from_1,
    "chunk-error-field": _chunk_error_field,
    "benign-vendor-fields": _vendor_fields,
    "benign-resplit": _resplit,
    "benign-usage-null": _usage_null,
    "benign-ids": _bare_uuid_ids,
    "envelope-missing-object": _drop_object,
    "role-twice": _role_twice,
    "role-missing": _role_missing,
    "finish-twice": _finish_twice,
    "finish-missing": _finish_missing,
    "missing-index": _missing_index,
    "repeat-name": _repeat_name,
    "repeat-id": _repeat_id,
    "id-changes": _id_changes,
    "name-changes": _name_changes,
    "type-missing": _type_missing,
    "no-usage": _no_usage,
    "chunk-id-changes": _chunk_id_changes,
}
EVENT_FAULTS: dict[str, Callable[[list[str]], None]] = {
    "sse-garbage": lambda events: events.insert(1, "garbage here\n\n"),
    "chunk-not-json": lambda events: events.insert(1, "data: {not json\n\n"),
    "no-done": lambda events: events.pop(),
    "data-after-done": lambda events: events.append(events[-2]),
    "benign-sse-framing": lambda events: events.__setitem__(slice(None), _reframed(events)),
}


def _reframed(events: list[str]) -> list[str]:
    """The same events with CRLF line ends, a comment before every other event, id: and retry: fields, and data
    lines without the optional space after the colon."""
    framed = []
    for number, event in enumerate(events):
        data = event.strip("\n").removeprefix("data: ")
        comment = ": keep-alive\r\n" if number % 2 == 0 else ""
        retry = "retry: 3000\r\n" if number == 0 else ""
        framed.append(f"{comment}{retry}id: {number}\r\ndata:{data}\r\n\r\n")
    return framed


DONE_EVENT = "data: [DONE]\n\n"


def stream_events(plan: Plan, request: ParsedRequest, fault: str) -> list[str]:
    """The server-sent events of a streamed answer, fault applied."""
    chunks = stream_chunks(plan, request, with_usage=request.include_usage or fault == "usage-unrequested")
    CHUNK_FAULTS.get(fault, lambda chunks, request: None)(chunks, request)
    events = [f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n" for chunk in chunks] + [DONE_EVENT]
    EVENT_FAULTS.get(fault, lambda events: None)(events)
    return events


# --- HTTP ---------------------------------------------------------------------------------------


def _error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


class _Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 with keep-alive, streams sent with chunked transfer encoding."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.answered = 0  # requests answered on this connection (drop-kept-alive)
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms to each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the selftests read the wire, not the log."""

    def do_GET(self) -> None:
        if self._dropped():
            return
        owner = self.server.owner
        routes: dict[str, dict[str, Any]] = {
            "/v1/models": {"object": "list", "data": [owner.model_card()]},
            "/version": {"version": "fault-0"},
            "/health": {},
        }
        if self.path in routes:
            self._send_json(200, routes[self.path])
        else:
            self._send_json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        if self._dropped():
            return
        try:
            self._post()
        except (BrokenPipeError, ConnectionResetError):  # the client went away: nothing left to tell it
            self.close_connection = True

    def _dropped(self) -> bool:
        """drop-kept-alive: a request on a connection that has answered one already is read, then the connection
        is closed without an answer, although that answer did not say Connection: close (llama.cpp's server does
        so). Every other request counts as answered."""
        if self.server.owner.fault != "drop-kept-alive" or not self.answered:
            self.answered += 1
            return False
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True
        return True

    def _post(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/v1/chat/completions":
            self._send_json(404, {"detail": "Not Found"})
            return
        owner = self.server.owner
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            self._refuse(f"The request body is not valid JSON: {error}")
            return
        owner._record(body)
        try:
            request = parse_request(body, owner.model, check_names=owner.fault != "lenient-names")
        except BadRequest as error:
            self._refuse(str(error))
            return
        self._answer(request, owner.fault)

    def _refuse(self, message: str) -> None:
        """A request to refuse: 400 with OpenAI's error object, unless a bad-request fault mishandles it."""
        owner = self.server.owner
        if owner.fault == "accept-bad-requests":
            text = replace(TEXT_REQUEST, model=owner.model)
            self._send_completion(completion_body(build_plan(text, "none"), text), "none")
        elif owner.fault == "bad-request-500":
            self._send_error(500, "InternalServerError", message)
        elif owner.fault == "bad-request-wrong-error-shape":
            flat = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
            self._send_json(400, flat)
        else:
            if owner.fault == "dies-after-bad-request":
                self.close_connection = True
                owner._stop_listening()  # before answering, so the client's next connection is refused
            self._send_error(400, "BadRequestError", message)

    def _answer(self, request: ParsedRequest, fault: str) -> None:
        owner = self.server.owner
        if fault == "die-after-3" and not owner._count_completion_and_maybe_die(self):
            return
        if fault in STATUS_FAULTS:
            self._send_error(*STATUS_FAULTS[fault])
            return
        if fault == "refuse-pattern" and any(_uses_pattern(schema) for schema in request.tools.values()):
            self._send_error(400, "BadRequestError", "unsupported schema feature: pattern")
            return
        if fault == "hang-before-headers":
            owner.stopping.wait(HANG_SECONDS)
            self.close_connection = True
            return
        if fault == "non-json-body":
            self._send_bytes(200, "text/html; charset=utf-8", b"<html>oops</html>")
            return
        try:
            plan = build_plan(request, fault)
        except BadRequest as error:
            self._send_error(400, "BadRequestError", str(error))
            return
        if request.stream:
            self._send_stream(stream_events(plan, request, fault), fault)
        else:
            self._send_completion(completion_body(plan, request), fault)

    def _send_completion(self, completion: dict[str, Any], fault: str) -> None:
        _body_fault(completion, fault)
        if fault == "envelope-missing-object":
            completion.pop("object")
        data = json.dumps(completion, ensure_ascii=False).encode()
        if fault == "truncated-json-body":
            data = data[: len(data) // 2]
        if fault in ("hang-mid-stream", "reset-mid-stream"):
            self._start(200, "application/json", length=len(data))
            self.wfile.write(data[: len(data) // 2])
            self._break_off(fault)
            return
        content_type = "application/json; charset=utf-8" if fault == "benign-charset" else "application/json"
        self._start(200, content_type, length=len(data))
        for piece in _pieces(data, fault):
            self.wfile.write(piece)
            self.wfile.flush()

    def _send_stream(self, events: list[str], fault: str) -> None:
        content_type = {"content-type-json": "application/json", "benign-charset": "text/event-stream; charset=utf-8"}
        self._start(200, content_type.get(fault, "text/event-stream"), length=None)
        for number, event in enumerate(events):
            if number == 2 and fault in ("hang-mid-stream", "reset-mid-stream"):
                self._break_off(fault)
                return
            for piece in _pieces(event.encode(), fault):
                self._write_chunk(piece)
        self._write_chunk(b"")

    def _break_off(self, fault: str) -> None:
        """Stall until the server stops, or reset the connection, in the middle of an answer."""
        self.close_connection = True
        if fault == "hang-mid-stream":
            self.server.owner.stopping.wait(HANG_SECONDS)
            return
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        fd = self.connection.detach()  # closing the bare descriptor with linger 0 sends a TCP RST now
        socket.close(fd)

    def _start(self, status: int, content_type: str, *, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_bytes(self, status: int, content_type: str, data: bytes) -> None:
        self._start(status, content_type, length=len(data))
        self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send_bytes(status, "application/json", json.dumps(payload).encode())

    def _send_error(self, status: int, kind: str, message: str) -> None:
        self._send_json(status, _error_body(status, kind, message))


def _pieces(data: bytes, fault: str) -> list[bytes]:
    """The data as one write, or for benign-tiny-writes in writes of 1 to 7 bytes (UTF-8 characters split too)."""
    if fault != "benign-tiny-writes":
        return [data]
    pieces, start = [], 0
    for size in itertools.cycle(range(1, 8)):
        if start >= len(data):
            return pieces
        pieces.append(data[start : start + size])
        start += size
    return pieces


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 overflows when a client opens 16 connections at once
    block_on_close = False  # stop() must not wait for hung handlers
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a handler dying with its connection is part of the faults."""


class FaultServer:
    """An OpenAI-compatible server on 127.0.0.1 with one fault; a context manager."""

    def __init__(self, fault: str = "none", *, model: str = "fault-model", port: int = 0) -> None:
        if fault not in ALL_FAULTS and not is_plan_combination(fault):
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(ALL_FAULTS)}, or plan faults joined by +")
        self.fault, self.model, self.port = fault, model, port
        self.base_url = ""
        self.requests: list[dict] = []  # JSON bodies received on /v1/chat/completions
        self.stopping = threading.Event()  # hung handlers wait on it
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._completions = 0
        self._created = int(time.time())
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Bind, serve in a daemon thread, return the base URL ending in /v1."""
        self._httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fault-{self.fault}", daemon=True
        )
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        """Stop promptly: wake hung handlers, close the listening socket and every open connection."""
        if self._httpd is None:
            return
        self.stopping.set()
        self._stop_listening()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=1)

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def model_card(self) -> dict[str, Any]:
        """This server's entry in GET /v1/models."""
        return {"id": self.model, "object": "model", "created": self._created, "owned_by": "fault-server"}

    def _record(self, body: Any) -> None:
        if isinstance(body, dict):
            with self._lock:
                self.requests.append(body)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _stop_listening(self) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()  # returns at once when already shut down
        self._httpd.server_close()

    def _count_completion_and_maybe_die(self, handler: _Handler) -> bool:
        """die-after-3: True when this completion is to be answered normally; the third one kills the server."""
        with self._lock:
            self._completions += 1
            number = self._completions
        if number > DIE_AFTER:
            handler.close_connection = True
            handler._send_error(500, "InternalServerError", "EngineDeadError: the engine died (injected fault)")
            return False
        if number == DIE_AFTER:
            handler.close_connection = True
            self._stop_listening()  # before answering, so the client's next connection is refused
        return True


def main() -> None:
    """Serve one fault until Ctrl-C: `python -m selftests.fault_server --fault NAME [--port P]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", default="none", choices=sorted(ALL_FAULTS), metavar="NAME", help="fault to inject")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--model", default="fault-model", help="model id served")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    options = parser.parse_args()
    if options.list:
        for name, description in ALL_FAULTS.items():
            print(f"{name:32} {description}")
        return
    with FaultServer(options.fault, model=options.model, port=options.port) as server:
        print(f"fault {options.fault!r} serving at {server.base_url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
