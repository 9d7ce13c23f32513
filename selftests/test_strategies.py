"""The Hypothesis strategies: every schema valid and satisfiable, names within OpenAI's rule, edges reachable."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from selftests.instances import valid_instance
from toolcall_conformance.inputs import strategies as S
from toolcall_conformance.inputs.cases import EMPTY_PARAMETERS

CUSTOM_FORMATS = {"uuid": st.uuids().map(str)}  # hypothesis-jsonschema has no uuid of its own
QUICK = settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
EDGE = settings(QUICK, max_examples=2000, phases=[Phase.generate])  # found is enough: no shrinking


def parameters(tool: dict[str, Any]) -> dict[str, Any]:
    return tool["function"].get("parameters", EMPTY_PARAMETERS)


def assert_valid_and_satisfiable(schema: dict[str, Any], data: st.DataObject) -> None:
    """Metaschema-valid; an instance drawn by hypothesis-jsonschema and the fault server's own both validate."""
    Draft202012Validator.check_schema(schema)
    checker = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    drawn = data.draw(from_schema(schema, custom_formats=CUSTOM_FORMATS), label="instance")
    assert checker.is_valid(drawn), (schema, drawn)
    built = valid_instance(schema)
    assert checker.is_valid(built), (schema, built)


@QUICK
@given(tools=S.generated_tool_sets("mixed"), data=st.data())
def test_generated_tool_sets_are_valid_and_satisfiable(tools: list[dict[str, Any]], data: st.DataObject) -> None:
    assert 1 <= len(tools) <= S.MAX_TOOLS
    names = [tool["function"]["name"] for tool in tools]
    assert len(set(names)) == len(names)
    for tool in tools:
        assert tool["type"] == "function"
        assert S.NAME_RULE.match(tool["function"]["name"])
        assert parameters(tool).get("type") == "object"
        json.dumps(tool).encode("utf-8")  # sendable: no lone surrogates
        assert_valid_and_satisfiable(parameters(tool), data)


@pytest.mark.parametrize("probe", list(S.KEYWORD_PROBES))
@settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_keyword_probes_use_their_keyword(probe: str, data: st.DataObject) -> None:
    tools = data.draw(S.keyword_tool_sets(probe, strict=data.draw(st.booleans(), label="strict")), label="tools")
    assert len(tools) == 1
    assert PROBE_KEYWORDS.get(probe, probe.partition(":")[0]) in S.keywords_used(tools)
    assert_valid_and_satisfiable(parameters(tools[0]), data)


PROBE_KEYWORDS = {  # probes named after a case rather than a keyword: the keyword they must use
    "additionalProperties:false": "additionalProperties",
    "nested-object": "properties",
    "nullable:type-list": "type",
    "nullable:anyOf": "anyOf",
    "empty-properties": "properties",
    "unusual-property-name": "required",
    **{f"format:{name}": f"format:{name}" for name in S.FORMATS},
}


@pytest.mark.parametrize("strictness", ["strict", "plain", "mixed"])
@QUICK
@given(data=st.data())
def test_strictness_of_generated_sets(strictness: str, data: st.DataObject) -> None:
    flags = {tool["function"].get("strict") for tool in data.draw(S.generated_tool_sets(strictness))}
    if strictness == "strict":
        assert flags == {True}
    if strictness == "plain":
        assert True not in flags


@QUICK
@given(name=S.tool_names())
def test_names_and_their_near_collisions_follow_openai_rule(name: str) -> None:
    assert S.NAME_RULE.match(name)
    for other in S.near_collisions(name):
        assert S.NAME_RULE.match(other) and other != name


EDGES: dict[str, tuple[st.SearchStrategy[Any], Any]] = {
    "name of length 1": (S.tool_names(), lambda name: len(name) == 1),
    "name of length 64": (S.tool_names(), lambda name: len(name) == 64),
    "name starting with a digit": (S.tool_names(), lambda name: name[0].isdigit()),
    "name with a dash": (S.tool_names(), lambda name: "-" in name),
    "near-collision in a set": (
        S.generated_tool_sets(),
        lambda tools: any(t["function"]["name"] in S.near_collisions(tools[0]["function"]["name"]) for t in tools),
    ),
    "empty description": (S.descriptions(), lambda text: text == ""),
    "long description": (S.descriptions(), lambda text: len(text) >= 1000),
    "non-ASCII description": (S.descriptions(), lambda text: any(ord(c) > 127 for c in text)),
    "property name with a space": (S.property_names(), lambda name: " " in name),
    "non-ASCII property name": (S.property_names(), lambda name: any(ord(c) > 127 for c in name)),
    "no parameters": (S.tool_definitions(), lambda tool: "parameters" not in tool["function"]),
    "empty properties": (S.parameter_schemas(), lambda schema: schema is not None and schema.get("properties") == {}),
    "$defs and $ref": (S.parameter_schemas(), lambda schema: schema is not None and "$ref" in json.dumps(schema)),
    "nested object in an array": (
        S.value_schemas(),
        lambda schema: schema.get("type") == "array" and schema.get("items", {}).get("type") == "object",
    ),
    "nullable type list": (S.value_schemas(), lambda schema: schema.get("type", [None])[-1:] == ["null"]),
    "enum mixing types": (S.enum_schemas(), lambda schema: len({type(v) for v in schema["enum"]}) >= 3),
    "enum with null": (S.enum_schemas(), lambda schema: None in schema["enum"]),
    "exclusive bounds and multipleOf": (
        S.number_schemas(),
        lambda schema: {"exclusiveMinimum", "exclusiveMaximum", "multipleOf"} <= schema.keys(),
    ),
    "pattern with length bounds": (S.string_schemas(), lambda schema: {"pattern", "minLength"} <= schema.keys()),
    "date-time format": (S.string_schemas(), lambda schema: schema.get("format") == "date-time"),
    "oneOf of three types": (S.one_of_schemas(), lambda schema: len(schema["oneOf"]) == 3),
    "strict and non-strict in one set": (
        S.generated_tool_sets("mixed"),
        lambda tools: {t["function"].get("strict") for t in tools} >= {True, None},
    ),
}


@pytest.mark.parametrize("edge", list(EDGES))
def test_edges_are_reachable(edge: str) -> None:
    strategy, condition = EDGES[edge]
    find(strategy, condition, settings=EDGE)


KEYWORD_CASES = [
    ({"type": "object", "properties": {"pattern": {"type": "string"}, "type": {"type": "integer"}}}, {"properties", "type"}),
    ({"type": "object", "properties": {"d": {"$ref": "#/$defs/D"}}, "$defs": {"D": {"format": "date"}}}, {"$defs", "$ref", "format", "format:date", "properties", "type"}),
    ({"anyOf": [{"enum": [{"minimum": 1}]}, {"items": {"maxItems": 2}}]}, {"anyOf", "enum", "items", "maxItems"}),
    ({"type": "object", "additionalProperties": {"const": "x"}, "required": ["minimum"]}, {"additionalProperties", "const", "required", "type"}),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "expected"), KEYWORD_CASES)
def test_schema_keywords_tell_keywords_from_names_and_values(schema: dict[str, Any], expected: set[str]) -> None:
    assert S.schema_keywords(schema) == expected


def test_keywords_used_names_missing_parameters() -> None:
    tools = [
        {"type": "function", "function": {"name": "a"}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert S.keywords_used(tools) == ["no-parameters", "properties", "type"]


def test_pattern_table_lengths_hold() -> None:
    """Each pattern's (shortest, longest) is right: strings of those lengths match, one shorter does not."""
    for pattern, (shortest, longest) in S.PATTERNS.items():
        for length in {shortest, longest or shortest + 5}:
            found = find(st.from_regex(pattern, fullmatch=True), lambda text, n=length: len(text) == n, settings=EDGE)
            assert re.search(pattern, found)
        with pytest.raises(NoSuchExample):
            find(st.from_regex(pattern, fullmatch=True), lambda text, n=shortest: len(text) < n, settings=QUICK)


@QUICK
@given(tools=S.generated_tool_sets("mixed", exclude=("no-parameters", "pattern", "$ref")))
def test_excluded_keywords_are_never_generated(tools: list[dict[str, Any]]) -> None:
    assert not {"no-parameters", "pattern", "$ref"} & set(S.keywords_used(tools))
