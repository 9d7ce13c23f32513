"""The data under schemas/: curated tool sets and the OpenAI response envelope schemas.

Fast, no server. Every tool set is well formed and tagged with exactly the features it contains; every
parameters schema is valid Draft 2020-12 and satisfiable; the seed is vLLM's example verbatim; the envelope
schemas accept what OpenAI documents and what vLLM really sends, and reject broken bodies.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from toolcall_conformance.inputs.toolsets import CURATED, schema_validator

ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = ROOT / "schemas" / "tools"
OPENAI_DIR = ROOT / "schemas" / "openai"
TOOLSET_SCHEMA_PATH = TOOLS_DIR / "toolset.schema.json"
FEATURES_MD = TOOLS_DIR / "FEATURES.md"

REQUIRED_SET_IDS = {
    "weather-seed",
    "no-parameters",
    "nested-objects",
    "array-of-objects",
    "enum-const",
    "numeric-bounds",
    "string-constraints",
    "defs-ref",
    "anyof-null",
    "closed-object",
    "unicode",
    "many-tools",
}
ENVELOPE_NAMES = ["chat.completion", "chat.completion.chunk", "error"]

# What an absent `parameters` means, per OpenAI: a function that takes no arguments.
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

# hypothesis-jsonschema has no generator for "uuid"; without one it draws arbitrary strings.
CUSTOM_FORMATS = {"uuid": st.uuids().map(str)}


def load_json(path: Path) -> Any:
    """Parse one JSON file, naming the file when it is broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path.relative_to(ROOT)}: {exc}") from exc


TOOLSET_PATHS = sorted(p for p in TOOLS_DIR.glob("*.json") if p != TOOLSET_SCHEMA_PATH)
TOOLSETS: dict[str, dict[str, Any]] = {p.stem: load_json(p) for p in TOOLSET_PATHS}
TOOLSET_SCHEMA = load_json(TOOLSET_SCHEMA_PATH)
ENVELOPES = {name: load_json(OPENAI_DIR / f"{name}.json") for name in ENVELOPE_NAMES}
ALL_JSON_PATHS = sorted([*TOOLS_DIR.glob("*.json"), *OPENAI_DIR.glob("*.json")])

TOOL_PARAMETERS = [
    pytest.param(
        tool["function"].get("parameters", EMPTY_PARAMETERS),
        id=f"{stem}:{tool['function'].get('name')}",
    )
    for stem, toolset in TOOLSETS.items()
    for tool in toolset.get("tools", [])
]


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Yield a JSON Schema and every schema nested in it, depth first."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("properties", "patternProperties", "$defs", "dependentSchemas"):
        for sub in schema.get(key, {}).values():
            yield from subschemas(sub)
    for key in ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"):
        yield from subschemas(schema.get(key))
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for sub in schema.get(key, []):
            yield from subschemas(sub)


def schema_features(schema: dict[str, Any]) -> set[str]:
    """Feature tags (see FEATURES.md) that one parameters schema exhibits."""
    found: set[str] = set()
    if schema.get("properties") == {}:
        found.add("empty-properties")
    if "$defs" in schema:
        found.add("defs-ref")
        if any("$ref" in sub for d in schema["$defs"].values() for sub in subschemas(d)):
            found.add("nested-ref")
    keyword_tags = {
        "const": "const",
        "minimum": "numeric-bounds",
        "maximum": "numeric-bounds",
        "exclusiveMinimum": "exclusive-bounds",
        "exclusiveMaximum": "exclusive-bounds",
        "multipleOf": "multiple-of",
        "pattern": "string-pattern",
        "format": "string-format",
        "minLength": "string-length",
        "maxLength": "string-length",
        "minItems": "array-bounds",
        "maxItems": "array-bounds",
        "anyOf": "any-of",
    }
    for sub in subschemas(schema):
        found.update(tag for keyword, tag in keyword_tags.items() if keyword in sub)
        declared = sub.get("type")
        types = declared if isinstance(declared, list) else [declared] if declared else []
        if isinstance(declared, list):
            found.add("type-array")
        found.update(t for t in types if t in {"boolean", "integer", "number", "array"})
        if "null" in types:
            found.add("nullable")
        if "enum" in sub:
            found.add("enum")
            if None in sub["enum"]:
                found.add("nullable")
            if any(isinstance(v, str) and not v.isascii() for v in sub["enum"]):
                found.add("non-ascii-enum")
        if {"type": "null"} in sub.get("anyOf", []):
            found.add("nullable")
        items = sub.get("items")
        if isinstance(items, dict) and (items.get("type") == "object" or "$ref" in items):
            found.add("array-of-objects")
        if sub.get("additionalProperties") is False:
            found.add("additional-properties-false")
        if not sub.get("description", "").isascii():
            found.add("non-ascii-descriptions")
        properties = sub.get("properties", {})
        required = sub.get("required", [])
        if required:
            found.add("required-properties")
        if any(name not in required for name in properties):
            found.add("optional-properties")
        if any(not name.isascii() for name in properties):
            found.add("non-ascii-properties")
        if any(p.get("type") == "object" and "properties" in p for p in properties.values()):
            found.add("nested-objects")
    return found


def toolset_features(toolset: dict[str, Any]) -> set[str]:
    """Feature tags that a tool set exhibits, derived from its content alone."""
    found: set[str] = set()
    if toolset["id"] == "weather-seed":
        found.add("seed")
    if "messages" in toolset:
        found.add("conversation")
    tools = toolset["tools"]
    if len(tools) >= 2:
        found.add("multi-tool")
    if len(tools) >= 20:
        found.add("many-tools")
    for tool in tools:
        function = tool["function"]
        if not function.get("description", "").isascii():
            found.add("non-ascii-descriptions")
        if "parameters" not in function:
            found.add("no-parameters")
        else:
            found |= schema_features(function["parameters"])
    return found


def all_strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_strings(item)


# --- files ----------------------------------------------------------------------------------------------


def test_required_tool_sets_exist():
    missing = REQUIRED_SET_IDS - set(TOOLSETS)
    assert not missing


@pytest.mark.parametrize("path", ALL_JSON_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_json_file_is_canonically_formatted(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n", (
        "expected 2-space indent, UTF-8 without \\u escapes, one trailing newline"
    )


# --- tool sets ------------------------------------------------------------------------------------------


def test_toolset_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(TOOLSET_SCHEMA)


def test_feature_vocabulary_matches_features_md():
    documented = re.findall(r"^- `([a-z0-9-]+)`: \S", FEATURES_MD.read_text(encoding="utf-8"), re.MULTILINE)
    vocabulary = TOOLSET_SCHEMA["$defs"]["toolset"]["properties"]["features"]["items"]["enum"]
    assert documented == vocabulary


toolset_ids = pytest.mark.parametrize("set_id", sorted(TOOLSETS))


@toolset_ids
def test_toolset_matches_toolset_schema(set_id: str):
    errors = [e.message for e in schema_validator(CURATED).iter_errors(TOOLSETS[set_id])]
    assert not errors


@toolset_ids
def test_strict_variant_matches_toolset_schema(set_id: str):
    """The loader's derived -strict variant (strict: true on every function) is still a well-formed set."""
    variant = copy.deepcopy(TOOLSETS[set_id])
    for tool in variant["tools"]:
        tool["function"]["strict"] = True
    assert schema_validator(CURATED).is_valid(variant)


@toolset_ids
def test_id_is_file_stem(set_id: str):
    assert TOOLSETS[set_id]["id"] == set_id


@toolset_ids
def test_function_names_are_unique(set_id: str):
    names = [tool["function"]["name"] for tool in TOOLSETS[set_id]["tools"]]
    assert len(names) == len(set(names)), names


@toolset_ids
def test_named_function_is_one_of_the_tools(set_id: str):
    toolset = TOOLSETS[set_id]
    names = [tool["function"]["name"] for tool in toolset["tools"]]
    assert toolset.get("named", names[0]) in names


@pytest.mark.parametrize("set_id", sorted(k for k, v in TOOLSETS.items() if "messages" in v))
def test_conversation_ends_with_the_user(set_id: str):
    assert TOOLSETS[set_id]["messages"][-1]["role"] == "user"


@toolset_ids
def test_features_are_exactly_what_the_set_contains(set_id: str):
    toolset = TOOLSETS[set_id]
    declared = set(toolset["features"])
    found = toolset_features(toolset)
    assert declared == found, f"declared but absent: {declared - found}; present but untagged: {found - declared}"


@toolset_ids
def test_text_is_nfc_normalized(set_id: str):
    """Decomposed characters would make a property name differ from what a server echoes back."""
    odd = [s for s in all_strings(TOOLSETS[set_id]) if unicodedata.normalize("NFC", s) != s]
    assert not odd


@pytest.mark.parametrize("parameters", TOOL_PARAMETERS)
def test_parameters_are_valid_draft_2020_12(parameters: dict[str, Any]):
    Draft202012Validator.check_schema(parameters)


@pytest.mark.parametrize("parameters", TOOL_PARAMETERS)
@settings(
    max_examples=8,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_parameters_are_satisfiable(parameters: dict[str, Any], data: st.DataObject):
    """Instances drawn from the schema, sent through JSON as arguments would be, validate with formats."""
    instance = data.draw(from_schema(parameters, custom_formats=CUSTOM_FORMATS), label="arguments")
    arguments = json.loads(json.dumps(instance, ensure_ascii=False))
    validator = Draft202012Validator(parameters, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(arguments)]
    assert not errors


def test_many_tools_has_at_least_twenty_tools():
    assert len(TOOLSETS["many-tools"]["tools"]) >= 20


def test_unicode_set_keeps_function_names_ascii():
    toolset = TOOLSETS["unicode"]
    assert {"non-ascii-properties", "non-ascii-descriptions"} <= toolset_features(toolset)
    for tool in toolset["tools"]:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool["function"]["name"])


# --- the seed: vLLM's examples/online_serving/openai_chat_completion_client_with_tools_required.py -------

# The example's third message continues its string literal with a backslash-newline, so the 12 spaces
# of indentation on the next source line become part of the string: 13 spaces between "Dallas" and "and".
SEED_THIRD_MESSAGE = (
    "Can you tell me what the current weather is in Dallas"
    + " " * 13
    + "and the forecast for the next 5 days, in fahrenheit?"
)
SEED_MESSAGES = [
    {"role": "user", "content": "Hi! How are you doing today?"},
    {"role": "assistant", "content": "I'm doing well! How can I help you?"},
    {"role": "user", "content": SEED_THIRD_MESSAGE},
]
UNIT = {
    "type": "string",
    "description": "The unit to fetch the temperature in",
    "enum": ["celsius", "fahrenheit"],
}
SEED_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {
                        "type": "string",
                        "description": "The city to find the weather for, e.g. 'San Francisco'",
                    },
                    "state": {
                        "type": "string",
                        "description": "the two-letter abbreviation for the state that the city is in, "
                        "e.g. 'CA' which would mean 'California'",
                    },
                    "unit": UNIT,
                },
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
                    "city": {
                        "type": "string",
                        "description": "The city to get the forecast for, e.g. 'New York'",
                    },
                    "state": {
                        "type": "string",
                        "description": "The two-letter abbreviation for the state, e.g. 'NY'",
                    },
                    "days": {
                        "type": "integer",
                        "description": "Number of days to get the forecast for (1-7)",
                    },
                    "unit": UNIT,
                },
                "required": ["city", "state", "days", "unit"],
            },
        },
    },
]


def test_seed_messages_are_the_examples():
    seed = TOOLSETS["weather-seed"]
    assert seed["messages"] == SEED_MESSAGES
    assert seed["messages"][2]["content"] == SEED_THIRD_MESSAGE
    assert "Dallas             and" in seed["messages"][2]["content"]
    assert "prompt" not in seed


def test_seed_tools_are_the_examples():
    tools = TOOLSETS["weather-seed"]["tools"]
    assert tools == SEED_TOOLS
    assert [t["function"]["name"] for t in tools] == ["get_current_weather", "get_forecast"]
    assert [t["function"]["parameters"]["required"] for t in tools] == [
        ["city", "state", "unit"],
        ["city", "state", "days", "unit"],
    ]
    # Dict equality ignores order; the example's property order is part of what is sent.
    assert [list(t["function"]["parameters"]["properties"]) for t in tools] == [
        ["city", "state", "unit"],
        ["city", "state", "days", "unit"],
    ]
    assert all("strict" not in t["function"] for t in tools)


# --- envelope schemas -----------------------------------------------------------------------------------

# Shapes as OpenAI documents them (API reference examples for a tool call, streamed and blocking).
OPENAI_COMPLETION = {
    "id": "chatcmpl-abc123",
    "object": "chat.completion",
    "created": 1699896916,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{\n"location": "Boston, MA"\n}',
                        },
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 82,
        "completion_tokens": 17,
        "total_tokens": 99,
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
}
OPENAI_CHUNK_FIRST_TOOL_DELTA = {
    "id": "chatcmpl-123",
    "object": "chat.completion.chunk",
    "created": 1694268190,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                        "type": "function",
                        "function": {"name": "get_current_weather", "arguments": ""},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": None,
        }
    ],
}
OPENAI_CHUNK_ARGUMENTS_DELTA = {
    **OPENAI_CHUNK_FIRST_TOOL_DELTA,
    "choices": [
        {
            "index": 0,
            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"location'}}]},
            "logprobs": None,
            "finish_reason": None,
        }
    ],
}
OPENAI_CHUNK_FINISH = {
    **OPENAI_CHUNK_FIRST_TOOL_DELTA,
    "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}],
}
OPENAI_CHUNK_USAGE = {
    **OPENAI_CHUNK_FIRST_TOOL_DELTA,
    "choices": [],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
}
OPENAI_ERROR = {
    "error": {
        "message": "Invalid 'tools[0].function.name': string does not match pattern.",
        "type": "invalid_request_error",
        "param": "tools[0].function.name",
        "code": "invalid_value",
    }
}

# What vLLM sends, extras included (field names from vllm/entrypoints/openai/chat_completion/protocol.py
# and engine/protocol.py): blocking bodies are full dumps with every optional field null; stream chunks are
# dumped with exclude_unset, so unset fields are absent but explicitly set ones arrive as null.
VLLM_COMPLETION = {
    "id": "chatcmpl-4f0c2a7d9e1b4c35a8d6f1e2b3c4d5e6",
    "object": "chat.completion",
    "created": 1763931245,
    "model": "tiny-llama",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": None,
                "audio": None,
                "function_call": None,
                "tool_calls": [
                    {
                        "id": "chatcmpl-tool-9b2e6f0a1c3d4e5f",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{"city": "Dallas", "state": "TX", "unit": "fahrenheit"}',
                        },
                    }
                ],
                "reasoning": None,
                "reasoning_content": None,
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
            "stop_reason": None,
            "token_ids": None,
        }
    ],
    "service_tier": None,
    "system_fingerprint": None,
    "usage": {"prompt_tokens": 212, "total_tokens": 251, "completion_tokens": 39, "prompt_tokens_details": None},
    "prompt_logprobs": None,
    "prompt_token_ids": None,
    "kv_transfer_params": None,
}
VLLM_CHUNK_HEAD = {
    "id": "chatcmpl-4f0c2a7d9e1b4c35a8d6f1e2b3c4d5e6",
    "object": "chat.completion.chunk",
    "created": 1763931245,
    "model": "tiny-llama",
}
VLLM_CHUNK_ROLE = {
    **VLLM_CHUNK_HEAD,
    "choices": [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "", "reasoning_content": None},
            "logprobs": None,
            "finish_reason": None,
        }
    ],
    "prompt_token_ids": None,
}
VLLM_CHUNK_TOOL_DELTA = {
    **VLLM_CHUNK_HEAD,
    "choices": [
        {
            "index": 0,
            "delta": {
                "tool_calls": [
                    {
                        "id": "chatcmpl-tool-9b2e6f0a1c3d4e5f",
                        "type": "function",
                        "index": 0,
                        "function": {"name": "get_current_weather"},
                    }
                ],
                "reasoning_content": None,
            },
            "logprobs": None,
            "finish_reason": None,
            "token_ids": None,
        }
    ],
}
VLLM_CHUNK_FINISH = {
    **VLLM_CHUNK_HEAD,
    "choices": [
        {
            "index": 0,
            "delta": {"content": "", "reasoning_content": None},
            "logprobs": None,
            "finish_reason": "tool_calls",
            "stop_reason": None,
            "token_ids": None,
        }
    ],
}
VLLM_CHUNK_USAGE = {
    **VLLM_CHUNK_HEAD,
    "choices": [],
    "usage": {"prompt_tokens": 212, "total_tokens": 251, "completion_tokens": 39},
}
VLLM_ERROR = {
    "error": {
        "message": 'tool_choice="required" requires --tool-call-parser to be set',
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
}

VALID_SAMPLES = [
    ("chat.completion", "openai-tool-call", OPENAI_COMPLETION),
    ("chat.completion", "vllm-tool-call", VLLM_COMPLETION),
    ("chat.completion.chunk", "openai-first-tool-delta", OPENAI_CHUNK_FIRST_TOOL_DELTA),
    ("chat.completion.chunk", "openai-arguments-delta", OPENAI_CHUNK_ARGUMENTS_DELTA),
    ("chat.completion.chunk", "openai-finish", OPENAI_CHUNK_FINISH),
    ("chat.completion.chunk", "openai-include-usage-final", OPENAI_CHUNK_USAGE),
    ("chat.completion.chunk", "vllm-role", VLLM_CHUNK_ROLE),
    ("chat.completion.chunk", "vllm-tool-delta", VLLM_CHUNK_TOOL_DELTA),
    ("chat.completion.chunk", "vllm-finish", VLLM_CHUNK_FINISH),
    ("chat.completion.chunk", "vllm-include-usage-final", VLLM_CHUNK_USAGE),
    ("error", "openai", OPENAI_ERROR),
    ("error", "vllm", VLLM_ERROR),
]


def broken(document: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A deep copy of a document with one change applied."""
    copied = copy.deepcopy(document)
    change(copied)
    return copied


def first_tool_call(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["choices"][0]["message"]["tool_calls"][0]


def first_tool_delta(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["choices"][0]["delta"]["tool_calls"][0]


INVALID_SAMPLES = [
    ("chat.completion", "missing-object", broken(OPENAI_COMPLETION, lambda d: d.pop("object"))),
    ("chat.completion", "wrong-object", broken(OPENAI_COMPLETION, lambda d: d.update(object="chat.completion.chunk"))),
    ("chat.completion", "missing-choices", broken(OPENAI_COMPLETION, lambda d: d.pop("choices"))),
    ("chat.completion", "created-as-string", broken(OPENAI_COMPLETION, lambda d: d.update(created="1699896916"))),
    (
        "chat.completion",
        "tool-call-without-function",
        broken(OPENAI_COMPLETION, lambda d: first_tool_call(d).pop("function")),
    ),
    ("chat.completion", "tool-call-without-id", broken(VLLM_COMPLETION, lambda d: first_tool_call(d).pop("id"))),
    (
        "chat.completion",
        "tool-call-type-custom",
        broken(VLLM_COMPLETION, lambda d: first_tool_call(d).update(type="custom")),
    ),
    (
        "chat.completion",
        "arguments-as-object",
        broken(VLLM_COMPLETION, lambda d: first_tool_call(d)["function"].update(arguments={"city": "Dallas"})),
    ),
    (
        "chat.completion",
        "finish-reason-bogus",
        broken(OPENAI_COMPLETION, lambda d: d["choices"][0].update(finish_reason="bogus")),
    ),
    (
        "chat.completion",
        "finish-reason-null",
        broken(VLLM_COMPLETION, lambda d: d["choices"][0].update(finish_reason=None)),
    ),
    (
        "chat.completion",
        "message-without-content",
        broken(OPENAI_COMPLETION, lambda d: d["choices"][0]["message"].pop("content")),
    ),
    (
        "chat.completion",
        "role-user",
        broken(OPENAI_COMPLETION, lambda d: d["choices"][0]["message"].update(role="user")),
    ),
    ("chat.completion", "usage-without-total", broken(OPENAI_COMPLETION, lambda d: d["usage"].pop("total_tokens"))),
    ("chat.completion.chunk", "missing-object", broken(OPENAI_CHUNK_FIRST_TOOL_DELTA, lambda d: d.pop("object"))),
    (
        "chat.completion.chunk",
        "object-of-blocking",
        broken(VLLM_CHUNK_ROLE, lambda d: d.update(object="chat.completion")),
    ),
    (
        "chat.completion.chunk",
        "tool-delta-without-index",
        broken(VLLM_CHUNK_TOOL_DELTA, lambda d: first_tool_delta(d).pop("index")),
    ),
    (
        "chat.completion.chunk",
        "tool-delta-index-as-string",
        broken(OPENAI_CHUNK_ARGUMENTS_DELTA, lambda d: first_tool_delta(d).update(index="0")),
    ),
    (
        "chat.completion.chunk",
        "arguments-fragment-as-object",
        broken(OPENAI_CHUNK_ARGUMENTS_DELTA, lambda d: first_tool_delta(d)["function"].update(arguments={})),
    ),
    (
        "chat.completion.chunk",
        "finish-reason-bogus",
        broken(VLLM_CHUNK_FINISH, lambda d: d["choices"][0].update(finish_reason="bogus")),
    ),
    (
        "chat.completion.chunk",
        "choice-without-finish-reason",
        broken(OPENAI_CHUNK_ARGUMENTS_DELTA, lambda d: d["choices"][0].pop("finish_reason")),
    ),
    (
        "chat.completion.chunk",
        "choice-without-delta",
        broken(OPENAI_CHUNK_FINISH, lambda d: d["choices"][0].pop("delta")),
    ),
    ("chat.completion.chunk", "usage-as-number", broken(VLLM_CHUNK_USAGE, lambda d: d.update(usage=251))),
    ("error", "missing-message", broken(OPENAI_ERROR, lambda d: d["error"].pop("message"))),
    ("error", "missing-type", broken(VLLM_ERROR, lambda d: d["error"].pop("type"))),
    ("error", "not-wrapped", dict(VLLM_ERROR["error"], object="error")),
]


def envelope_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(ENVELOPES[name])


@pytest.mark.parametrize("name", ENVELOPE_NAMES)
def test_envelope_schema_is_valid_draft_2020_12(name: str):
    schema = ENVELOPES[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{name}.json"
    assert "openai-python" in schema["description"], "the schema cites the source of its shape"


@pytest.mark.parametrize("name", ENVELOPE_NAMES)
def test_envelope_schema_is_self_contained(name: str):
    refs = [sub["$ref"] for sub in subschemas(ENVELOPES[name]) if "$ref" in sub]
    assert all(ref.startswith("#/$defs/") for ref in refs), refs


@pytest.mark.parametrize(("name", "document"), [pytest.param(n, d, id=f"{n}:{i}") for n, i, d in VALID_SAMPLES])
def test_envelope_accepts(name: str, document: dict[str, Any]):
    errors = [f"{e.json_path}: {e.message}" for e in envelope_validator(name).iter_errors(document)]
    assert not errors


@pytest.mark.parametrize(("name", "document"), [pytest.param(n, d, id=f"{n}:{i}") for n, i, d in INVALID_SAMPLES])
def test_envelope_rejects(name: str, document: dict[str, Any]):
    assert not envelope_validator(name).is_valid(document)


def test_envelope_samples_cover_every_schema():
    assert {n for n, _, _ in VALID_SAMPLES} == set(ENVELOPE_NAMES)
    assert {n for n, _, _ in INVALID_SAMPLES} == set(ENVELOPE_NAMES)
