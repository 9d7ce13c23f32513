"""The instance generator behind the fault server: valid, deterministic, and able to break a schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from selftests.instances import Unsatisfiable, invalid_variant, valid_instance

TOOLS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "tools"
EMPTY_PARAMETERS = {"type": "object", "properties": {}}


def _obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, **extra}
    return schema if required is None else {**schema, "required": required}


FORMATS = ["date", "date-time", "time", "email", "uuid", "ipv4", "ipv6", "uri", "hostname"]
SCHEMAS: dict[str, Any] = {
    "empty": {},
    "true": True,
    "no-properties": EMPTY_PARAMETERS,
    "type-list": {"type": ["integer", "string"]},
    "type-list-null-first": {"type": ["null", "boolean"]},
    "required-and-optional": _obj({"a": {"type": "string"}, "b": {"type": "integer"}}, ["a"]),
    "closed-object": _obj({"a": {"type": "boolean"}}, ["a"], additionalProperties=False),
    "required-not-in-properties": _obj({}, ["ghost"]),
    "nested-objects": _obj({"outer": _obj({"inner": _obj({"leaf": {"type": "number"}}, ["leaf"])}, ["inner"])}),
    "property-schemas-true-false": _obj({"anything": True, "never": False}),
    "pattern-properties": {"type": "object", "patternProperties": {"^x_": {"type": "integer"}}, "minProperties": 1},
    "min-properties": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2},
    "array-items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3},
    "array-max-zero": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
    "array-unique": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3, "uniqueItems": True},
    "prefix-items": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
    "contains": {"type": "array", "items": {"type": "integer"}, "contains": {"minimum": 10}},
    "array-of-objects": {"type": "array", "items": _obj({"id": {"type": "integer"}}, ["id"]), "minItems": 1},
    "enum": {"enum": ["red", "green", "blue"]},
    "enum-with-type": {"type": "string", "enum": [1, "two", None]},
    "const": {"const": {"fixed": [1, 2]}},
    "const-null": {"const": None},
    "integer-bounds": {"type": "integer", "minimum": 5, "maximum": 7},
    "integer-exclusive": {"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 7},
    "integer-negative-only": {"type": "integer", "maximum": -3},
    "integer-multiple": {"type": "integer", "minimum": 7, "multipleOf": 5},
    "integer-multiple-fraction": {"type": "integer", "multipleOf": 2.5},
    "number-exclusive-unit": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "number-multiple": {"type": "number", "minimum": 0.05, "maximum": 0.5, "multipleOf": 0.01},
    "number-tight": {"type": "number", "minimum": 2.5, "maximum": 2.5},
    "string-lengths": {"type": "string", "minLength": 12, "maxLength": 14},
    "string-max-one": {"type": "string", "maxLength": 1},
    "pattern-zip": {"type": "string", "pattern": r"^\d{5}(-\d{4})?$"},
    "pattern-unanchored": {"type": "string", "pattern": "[A-Z]{2}[0-9]"},
    "pattern-alternation": {"type": "string", "pattern": "^(draft|final)-v[1-9]$"},
    "pattern-negated-set": {"type": "string", "pattern": "^[^a-z0-9]{3}$"},
    "pattern-with-lengths": {"type": "string", "pattern": "^[a-z]+$", "minLength": 4, "maxLength": 6},
    "pattern-lookahead": {"type": "string", "pattern": "^(?!admin)[a-z]{3,8}$"},
    **{f"format-{name}": {"type": "string", "format": name} for name in FORMATS},
    "format-with-max-length": {"type": "string", "format": "email", "maxLength": 40},
    "any-of-null-first": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 2}]},
    "any-of-object-branches": _obj({"v": {"anyOf": [_obj({"a": {"const": 1}}, ["a"]), {"type": "integer"}]}}, ["v"]),
    "one-of-overlapping": {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    "one-of-objects": {"oneOf": [_obj({"kind": {"const": "a"}}, ["kind"]), _obj({"kind": {"const": "b"}}, ["kind"])]},
    "all-of-merge": {"allOf": [_obj({"a": {"type": "integer"}}, ["a"]), _obj({"b": {"const": "x"}}, ["b"])]},
    "all-of-bounds": {"allOf": [{"type": "integer", "minimum": 3}, {"maximum": 4}, {"multipleOf": 2}]},
    "if-then-else": {"if": {"type": "string"}, "then": {"minLength": 3}, "else": {"type": "integer"}},
    "not": {"not": {"type": "string"}},
    "defs-ref": {
        "$defs": {"money": _obj({"amount": {"type": "number", "minimum": 0}, "currency": {"const": "EUR"}})},
        **_obj({"price": {"$ref": "#/$defs/money"}, "tax": {"$ref": "#/$defs/money"}}, ["price"]),
    },
    "definitions-ref": {
        "definitions": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        **_obj({"from": {"$ref": "#/definitions/code"}, "to": {"$ref": "#/definitions/code"}}, ["from", "to"]),
    },
    "ref-with-siblings": {
        "$defs": {"base": _obj({"a": {"type": "integer"}}, ["a"])},
        **_obj({"thing": {"$ref": "#/$defs/base", "required": ["b"], "properties": {"b": {"type": "string"}}}}),
    },
    "recursive-ref": {
        "$defs": {"tree": _obj({"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}})},
        "$ref": "#/$defs/tree",
    },
    "recursive-required": {
        "$defs": {"node": _obj({"next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, ["next"])},
        **_obj({"head": {"$ref": "#/$defs/node"}}, ["head"]),
    },
    "non-ascii-names": _obj({"城市": {"type": "string"}, "température": {"type": "number"}}, ["城市"]),
}
VIOLABLE = [
    "required-and-optional",
    "closed-object",
    "nested-objects",
    "all-of-merge",
    "defs-ref",
    "definitions-ref",
    "non-ascii-names",
    "any-of-object-branches",
]


def _validator(schema: Any) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _curated_tools() -> list[Any]:
    """(file stem, tool name) -> parameters for every tool of every curated tool set present now."""
    params = []
    for path in sorted(TOOLS_DIR.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not isinstance(document.get("tools"), list):
            continue  # e.g. the JSON Schema that describes tool-set files
        for tool in document["tools"]:
            function = tool["function"]
            parameters = function.get("parameters", EMPTY_PARAMETERS)
            params.append(pytest.param(parameters, id=f"{path.stem}-{function['name']}"))
    return params


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_valid_instance_is_valid_and_deterministic(schema: Any) -> None:
    instance = valid_instance(schema)
    _validator(schema).validate(instance)
    assert json.dumps(valid_instance(schema)) == json.dumps(instance)


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_other_variant_is_valid(schema: Any) -> None:
    _validator(schema).validate(valid_instance(schema, variant=1))


def test_variant_changes_values_where_the_schema_leaves_room() -> None:
    schema = _obj({"unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1}})
    assert valid_instance(schema) == {"unit": "celsius", "days": 1}
    assert valid_instance(schema, variant=1) == {"unit": "fahrenheit", "days": 2}


def test_fills_optional_properties_in_declared_order() -> None:
    schema = _obj({"z": {"type": "string"}, "a": {"type": "integer"}, "m": {"type": "boolean"}}, ["a"])
    assert list(valid_instance(schema)) == ["z", "a", "m"]


def test_prefers_a_value_over_null() -> None:
    assert valid_instance({"type": ["null", "integer"]}) == 1
    assert valid_instance(SCHEMAS["any-of-null-first"]) is not None


def test_returns_a_fresh_copy() -> None:
    schema = _obj({"tags": {"type": "array", "items": {"type": "string"}}})
    valid_instance(schema)["tags"].append("mutated")
    assert valid_instance(schema)["tags"] == ["example"]


@pytest.mark.parametrize(
    "schema", [False, {"type": "integer", "minimum": 3, "maximum": 2}, _obj({}, ["a"], additionalProperties=False)]
)
def test_unsatisfiable_schema_raises(schema: Any) -> None:
    with pytest.raises(Unsatisfiable):
        valid_instance(schema)


@pytest.mark.parametrize("name", VIOLABLE)
def test_invalid_variant_breaks_the_schema(name: str) -> None:
    schema = SCHEMAS[name]
    broken = invalid_variant(schema, valid_instance(schema))
    assert isinstance(broken, dict)
    assert not _validator(schema).is_valid(broken)


def test_invalid_variant_drops_a_required_property_first() -> None:
    schema = _obj({"a": {"type": "string"}, "b": {"type": "integer"}}, ["b"])
    assert invalid_variant(schema, {"a": "example", "b": 1}) == {"a": "example"}


def test_invalid_variant_uses_a_wrong_type_without_required() -> None:
    schema = _obj({"count": {"type": "integer"}})
    assert invalid_variant(schema, {"count": 1}) == {"count": "wrong-type"}


def test_invalid_variant_adds_a_key_to_a_closed_empty_object() -> None:
    schema = _obj({}, additionalProperties=False)
    assert invalid_variant(schema, {}) == {"unexpected_property": 1}


@pytest.mark.parametrize("schema", [EMPTY_PARAMETERS, {"type": "object"}, _obj({"free": {}})])
def test_invalid_variant_is_none_when_nothing_can_be_violated(schema: Any) -> None:
    assert invalid_variant(schema, valid_instance(schema)) is None


@pytest.mark.parametrize("parameters", _curated_tools())
def test_curated_tool_parameters(parameters: Any) -> None:
    validator = _validator(parameters)
    instance = valid_instance(parameters)
    validator.validate(instance)
    validator.validate(valid_instance(parameters, variant=1))
    broken = invalid_variant(parameters, instance)
    assert broken is None or (isinstance(broken, dict) and not validator.is_valid(broken))
