"""Deterministic valid and invalid JSON instances for JSON Schema Draft 2020-12 (with format checking)."""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["Unsatisfiable", "invalid_variant", "valid_instance"]

SHALLOW_DEPTH = 4  # below this, optional properties are left out and arrays kept minimal
MAX_DEPTH = 16
MAX_HOPS = 64  # $ref / combinator expansions on one path: stops self-referencing schemas

FORMAT_SAMPLES: dict[str, tuple[str, ...]] = {
    "date": ("2024-01-15", "2024-02-20"),
    "date-time": ("2024-01-15T10:30:00Z", "2024-02-20T08:15:00+01:00"),
    "time": ("10:30:00Z", "08:15:00+01:00"),
    "duration": ("P1D", "PT2H"),
    "email": ("user@example.com", "admin@example.org"),
    "idn-email": ("user@example.com", "admin@example.org"),
    "uuid": ("123e4567-e89b-42d3-a456-426614174000", "9b2c4f4e-7f0a-4c1e-9d6b-3a5e2f1c0d8a"),
    "ipv4": ("192.0.2.1", "198.51.100.7"),
    "ipv6": ("2001:db8::1", "2001:db8::2"),
    "uri": ("https://example.com/path", "https://example.org/other"),
    "uri-reference": ("https://example.com/path", "/relative/path"),
    "iri": ("https://example.com/path", "https://example.org/other"),
    "iri-reference": ("https://example.com/path", "/relative/path"),
    "uri-template": ("https://example.com/{id}", "https://example.org/{name}"),
    "hostname": ("example.com", "api.example.org"),
    "idn-hostname": ("example.com", "api.example.org"),
    "json-pointer": ("/items/0", "/name"),
    "relative-json-pointer": ("0/name", "1"),
    "regex": ("^[a-z]+$", "[0-9]+"),
}
PLAIN_WORDS = ("example", "sample", "demo", "value")
ALL_TYPES = ("string", "integer", "number", "boolean", "object", "array", "null")
KEYWORD_TYPES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "object",
        frozenset(
            {"properties", "required", "additionalProperties", "patternProperties", "minProperties"}
            | {"maxProperties", "propertyNames", "dependentRequired", "unevaluatedProperties"}
        ),
    ),
    ("array", frozenset({"items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"})),
    ("string", frozenset({"minLength", "maxLength", "pattern", "format"})),
    ("number", frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})),
)
LOWER_BOUND_KEYS = frozenset({"minimum", "minLength", "minItems", "minProperties", "minContains"})
UPPER_BOUND_KEYS = frozenset({"maximum", "maxLength", "maxItems", "maxProperties", "maxContains"})
WRONG_VALUES: tuple[Any, ...] = ("wrong-type", 12345, True, None, [1, 2], {"unexpected": 1})


class Unsatisfiable(ValueError):
    """No instance of the schema could be built."""


def valid_instance(schema: dict | bool, *, variant: int = 0) -> Any:
    """Return a JSON value valid against `schema`; the same input always gives the same output.

    `variant` > 0 asks for another valid value where the schema leaves room (enum member, number, string).
    Raises `Unsatisfiable` when no instance is found and `jsonschema.SchemaError` for an invalid schema.
    """
    return copy.deepcopy(_cached_instance(json.dumps(schema), variant))  # key order kept: it orders properties


def invalid_variant(schema: dict | bool, valid: Any) -> Any | None:
    """Return a JSON object that breaks `schema` in one obvious, local way, or None when none exists."""
    if not isinstance(schema, dict) or not isinstance(valid, dict):
        return None
    validator = _validator(schema)
    shape = _flatten(schema, schema)
    for candidate in _local_violations(schema, shape, valid):
        if not validator.is_valid(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=1024)
def _cached_instance(schema_json: str, variant: int) -> Any:
    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return _Generator(schema).generate(schema, depth=0, variant=variant, hops=0)


def _validator(root: dict | bool) -> Draft202012Validator:
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


class _Generator:
    """Builds candidates for each schema node and keeps the first one the real validator accepts."""

    def __init__(self, root: dict | bool) -> None:
        self.root = root
        self.validator = _validator(root)

    def generate(self, schema: Any, *, depth: int, variant: int, hops: int) -> Any:
        if depth > MAX_DEPTH or hops > MAX_HOPS:
            raise Unsatisfiable("schema nests too deep")
        node_validator = self.validator.evolve(schema=schema)
        for candidate in self._candidates(schema, depth, variant, hops):
            if node_validator.is_valid(candidate):
                return candidate
        raise Unsatisfiable(f"no instance found for {json.dumps(schema)[:200]}")

    def _candidates(self, schema: Any, depth: int, variant: int, hops: int) -> Iterator[Any]:
        if schema is True or schema == {}:
            yield from self._typed({}, depth, variant)
            return
        if not isinstance(schema, dict):
            return
        if "$ref" in schema:
            yield from self._expand(_deref(schema, self.root), depth, variant, hops)
        elif "const" in schema:
            yield schema["const"]
        elif "enum" in schema:
            yield from _rotated(schema["enum"], variant)
        elif "allOf" in schema:
            rest = _without(schema, "allOf")
            parts = [_deref(part, self.root) for part in schema["allOf"]]
            yield from self._expand(functools.reduce(_merge, parts, rest), depth, variant, hops)
        elif "anyOf" in schema or "oneOf" in schema:
            yield from self._branches(schema, depth, variant, hops)
        elif "if" in schema:
            rest = _without(schema, "if", "then", "else")
            for branch in (schema.get("then", True), schema.get("else", True)):
                yield from self._expand(_merge(rest, _deref(branch, self.root)), depth, variant, hops)
        else:
            yield from self._typed(schema, depth, variant)

    def _expand(self, schema: Any, depth: int, variant: int, hops: int) -> Iterator[Any]:
        if hops >= MAX_HOPS:
            return
        yield from _guarded(lambda: self._candidates(schema, depth, variant, hops + 1))

    def _branches(self, schema: dict, depth: int, variant: int, hops: int) -> Iterator[Any]:
        keyword = "anyOf" if "anyOf" in schema else "oneOf"
        rest = _without(schema, keyword)
        # A real value reads better than null near the top; deep down null ends recursive structures early.
        deep = depth >= SHALLOW_DEPTH
        branches = sorted(schema[keyword], key=lambda branch: _is_null_only(branch) != deep)
        for branch in branches:
            yield from self._expand(_merge(rest, _deref(branch, self.root)), depth, variant, hops)

    def _typed(self, schema: dict, depth: int, variant: int) -> Iterator[Any]:
        builders: dict[str, Callable[[], Iterator[Any]]] = {
            "object": lambda: self._objects(schema, depth, variant),
            "array": lambda: self._arrays(schema, depth, variant),
            "string": lambda: _strings(schema, variant),
            "integer": lambda: iter(_numbers(schema, integer=True, variant=variant)),
            "number": lambda: iter(_numbers(schema, integer=False, variant=variant)),
            "boolean": lambda: iter(_rotated([True, False], variant)),
            "null": lambda: iter([None]),
        }
        for type_name in _candidate_types(schema):
            yield from _guarded(builders[type_name])

    def _objects(self, schema: dict, depth: int, variant: int) -> Iterator[dict]:
        yield self._object(schema, depth, variant, include_optional=depth < SHALLOW_DEPTH)
        yield self._object(schema, depth, variant, include_optional=False)

    def _object(self, schema: dict, depth: int, variant: int, *, include_optional: bool) -> dict:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        names = [name for name in properties if include_optional or name in required]
        names += [name for name in required if name not in properties]
        result: dict[str, Any] = {}
        for name in names:
            try:
                result[name] = self._child(_property_schema(schema, name), depth, variant)
            except Unsatisfiable:
                if name in required:
                    raise
        for index in range(len(result), schema.get("minProperties", 0)):
            name = f"extra_{index}"
            result[name] = self._child(_property_schema(schema, name), depth, variant)
        return result

    def _arrays(self, schema: dict, depth: int, variant: int) -> Iterator[list]:
        minimum = schema.get("minItems", 0)
        preferred = max(minimum, len(schema.get("prefixItems", [])), 1) if depth < SHALLOW_DEPTH else minimum
        maximum = schema.get("maxItems", preferred)
        for count in dict.fromkeys((min(preferred, maximum), minimum)):
            yield from _guarded(lambda count=count: iter([self._array(schema, count, depth, variant)]))

    def _array(self, schema: dict, count: int, depth: int, variant: int) -> list:
        prefix = schema.get("prefixItems", [])
        items = [
            self._child(prefix[index] if index < len(prefix) else schema.get("items", True), depth, variant + index)
            for index in range(count)
        ]
        contains = schema.get("contains")
        if contains is not None and not any(self.validator.evolve(schema=contains).is_valid(i) for i in items):
            items.append(self._child(contains, depth, variant))
        return items

    def _child(self, schema: Any, depth: int, variant: int) -> Any:
        if schema is False:
            raise Unsatisfiable("false schema")
        return self.generate(schema, depth=depth + 1, variant=variant, hops=0)


def _guarded(make: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """Yield from a candidate source; a source that finds itself unsatisfiable just ends."""
    try:
        yield from make()
    except Unsatisfiable:
        return


def _rotated(values: list, variant: int) -> list:
    if not values:
        return []
    shift = variant % len(values)
    return list(values[shift:]) + list(values[:shift])


def _without(schema: dict, *keys: str) -> dict:
    return {key: value for key, value in schema.items() if key not in keys}


def _is_null_only(schema: Any) -> bool:
    return isinstance(schema, dict) and (schema.get("type") == "null" or schema.get("const", 0) is None)


def _candidate_types(schema: dict) -> list[str]:
    declared = schema.get("type")
    if declared is not None:
        types = [declared] if isinstance(declared, str) else list(declared)
        return sorted(types, key=lambda name: name == "null")
    inferred = [name for name, keywords in KEYWORD_TYPES if keywords & schema.keys()]
    return list(dict.fromkeys([*inferred, *ALL_TYPES]))


# --- references and merging -------------------------------------------------------------------


def _deref(schema: Any, root: Any, hops: int = 0) -> Any:
    """Replace a local `$ref` by its target, merged with the keywords beside it."""
    if not isinstance(schema, dict) or "$ref" not in schema:
        return schema
    if hops > MAX_HOPS:
        raise Unsatisfiable("$ref cycle")
    target = _resolve_pointer(root, schema["$ref"])
    return _merge(_deref(target, root, hops + 1), _without(schema, "$ref"))


def _resolve_pointer(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        raise Unsatisfiable(f"only local references are supported, got {ref!r}")
    node = root
    for token in [part for part in ref[1:].split("/") if part]:
        token = token.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise Unsatisfiable(f"unresolvable reference {ref!r}") from error
    return node


def _merge(base: Any, extra: Any) -> Any:
    """Merge two schemas that must both hold (simple cases; the validator has the last word)."""
    if extra is True or extra == {}:
        return base
    if base is True or base == {}:
        return extra
    if base is False or extra is False:
        return False
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merge_keyword(key, merged[key], value) if key in merged else value
    return merged


def _merge_keyword(key: str, mine: Any, theirs: Any) -> Any:
    if key in LOWER_BOUND_KEYS or key == "exclusiveMinimum":
        return max(mine, theirs)
    if key in UPPER_BOUND_KEYS or key == "exclusiveMaximum":
        return min(mine, theirs)
    if key == "required":
        return list(dict.fromkeys([*mine, *theirs]))
    if key == "properties":
        merged = dict(mine)
        for name, sub in theirs.items():
            merged[name] = {"allOf": [mine[name], sub]} if name in mine else sub
        return merged
    if key == "type":
        return _intersect_types(mine, theirs)
    if key == "enum":
        return [value for value in mine if any(_json_equal(value, other) for other in theirs)]
    if key == "allOf":
        return [*mine, *theirs]
    if key == "additionalProperties" and (mine is False or theirs is False):
        return False
    return mine


def _intersect_types(mine: str | list, theirs: str | list) -> list[str]:
    first = [mine] if isinstance(mine, str) else mine
    second = [theirs] if isinstance(theirs, str) else theirs
    common = []
    for name in first:
        if name in second:
            common.append(name)
        elif {name, *second} >= {"integer", "number"}:  # integer is a subset of number
            common.append("integer")
    return list(dict.fromkeys(common))


def _json_equal(left: Any, right: Any) -> bool:
    return type(left) is type(right) and left == right


def _flatten(schema: Any, root: Any) -> dict:
    """The top-level shape of a schema: its $ref and allOf folded in, for finding local violations."""
    shape = _deref(schema, root)
    if isinstance(shape, dict) and "allOf" in shape:
        parts = [_deref(part, root) for part in shape["allOf"]]
        shape = functools.reduce(_merge, parts, _without(shape, "allOf"))
    return shape if isinstance(shape, dict) else {}


def _property_schema(schema: dict, name: str) -> Any:
    parts = []
    if name in schema.get("properties", {}):
        parts.append(schema["properties"][name])
    parts += [sub for pattern, sub in schema.get("patternProperties", {}).items() if re.search(pattern, name)]
    if not parts:
        parts.append(schema.get("additionalProperties", True))
    return parts[0] if len(parts) == 1 else {"allOf": parts}


# --- numbers ------------------------------------------------------------------------------------


def _numbers(schema: dict, *, integer: bool, variant: int) -> list[int | float]:
    lower, lower_strict = _bound(schema, "minimum", "exclusiveMinimum", max)
    upper, upper_strict = _bound(schema, "maximum", "exclusiveMaximum", min)
    step = _step(schema.get("multipleOf"), integer)

    def in_bounds(value: Fraction) -> bool:
        above = lower is None or value > lower or (value == lower and not lower_strict)
        below = upper is None or value < upper or (value == upper and not upper_strict)
        return above and below

    if step is None:
        anchors = [lower, upper, None if lower is None or upper is None else (lower + upper) / 2]
        offsets = [bound + delta for bound in (lower, upper) if bound is not None for delta in (1, -1)]
        raw = [value for value in [*anchors, *offsets, Fraction(1), Fraction(0), Fraction(3, 2)] if value is not None]
    else:
        start = _first_multiple(step, lower, lower_strict, upper, upper_strict)
        raw = [start + step * offset for offset in (0, 1, 2, 3, -1, -2)]
    values = list(dict.fromkeys(value for value in raw if in_bounds(value)))
    return [_as_json_number(value, integer) for value in _rotated(values, variant)]


def _bound(schema: dict, inclusive: str, exclusive: str, tighter: Callable) -> tuple[Fraction | None, bool]:
    candidates = []
    if _is_number(schema.get(inclusive)):
        candidates.append((Fraction(str(schema[inclusive])), False))
    if _is_number(schema.get(exclusive)):
        candidates.append((Fraction(str(schema[exclusive])), True))
    if not candidates:
        return None, False
    best = tighter(value for value, _ in candidates)
    return best, any(strict for value, strict in candidates if value == best)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _step(multiple_of: Any, integer: bool) -> Fraction | None:
    if not _is_number(multiple_of):
        return Fraction(1) if integer else None
    step = Fraction(str(multiple_of))
    return Fraction(step.numerator) if integer else step  # lcm(p/q, 1) == p: the integer multiples


def _first_multiple(
    step: Fraction, lower: Fraction | None, lower_strict: bool, upper: Fraction | None, upper_strict: bool
) -> Fraction:
    if lower is not None:
        count = math.ceil(lower / step)
        return step * (count + 1 if lower_strict and step * count == lower else count)
    start = step * math.ceil(1 / step)
    if upper is None or start < upper or (start == upper and not upper_strict):
        return start
    count = math.floor(upper / step)
    return step * (count - 1 if upper_strict and step * count == upper else count)


def _as_json_number(value: Fraction, integer: bool) -> int | float:
    if integer or value.denominator == 1:
        return int(value)
    return float(value)


# --- strings ------------------------------------------------------------------------------------


def _strings(schema: dict, variant: int) -> Iterator[str]:
    min_length = schema.get("minLength", 0)
    max_length = schema.get("maxLength")
    yield from _rotated(list(FORMAT_SAMPLES.get(schema.get("format", ""), ())), variant)
    pattern = schema.get("pattern")
    if pattern is not None:
        for candidate in (_walk_regex(pattern, variant), _walk_regex(pattern, 0)):
            if candidate is not None and _fits(candidate, pattern, min_length, max_length):
                yield candidate
        found = _regex_from_hypothesis(pattern, min_length, max_length)
        if found is not None:
            yield found
        return
    for word_index in range(variant, variant + len(PLAIN_WORDS)):
        yield _fit_length(_plain_word(word_index), min_length, max_length)


def _plain_word(index: int) -> str:
    word = PLAIN_WORDS[index % len(PLAIN_WORDS)]
    return word if index < len(PLAIN_WORDS) else f"{word}{index // len(PLAIN_WORDS)}"


def _fit_length(text: str, min_length: int, max_length: int | None) -> str:
    text = text + "x" * max(0, min_length - len(text))
    return text if max_length is None else text[:max_length]


def _fits(text: str, pattern: str, min_length: int, max_length: int | None) -> bool:
    long_enough = len(text) >= min_length and (max_length is None or len(text) <= max_length)
    return long_enough and re.search(pattern, text) is not None


class _UnsupportedRegex(Exception):
    """The tiny regex walker does not handle this construct."""


CATEGORY_SAMPLES: dict[Any, str] = {
    sre_constants.CATEGORY_DIGIT: "01",
    sre_constants.CATEGORY_NOT_DIGIT: "ab",
    sre_constants.CATEGORY_WORD: "ab",
    sre_constants.CATEGORY_NOT_WORD: "-.",
    sre_constants.CATEGORY_SPACE: " \t",
    sre_constants.CATEGORY_NOT_SPACE: "ab",
}
CATEGORY_PATTERNS: dict[Any, str] = {
    sre_constants.CATEGORY_DIGIT: r"\d",
    sre_constants.CATEGORY_NOT_DIGIT: r"\D",
    sre_constants.CATEGORY_WORD: r"\w",
    sre_constants.CATEGORY_NOT_WORD: r"\W",
    sre_constants.CATEGORY_SPACE: r"\s",
    sre_constants.CATEGORY_NOT_SPACE: r"\S",
}
NEGATED_SET_POOL = "abcxyzABC012_-. @"
REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None))


@functools.lru_cache(maxsize=1024)
def _walk_regex(pattern: str, variant: int) -> str | None:
    """A short string for the simple anchored patterns real tools use; None when out of reach."""
    try:
        return _walk(sre_parser.parse(pattern), variant, {})
    except (_UnsupportedRegex, re.error, RecursionError):
        return None


def _walk(items: Any, variant: int, groups: dict[int, str]) -> str:
    return "".join(_walk_node(op, argument, variant, groups) for op, argument in items)


def _walk_node(op: Any, argument: Any, variant: int, groups: dict[int, str]) -> str:
    if op is sre_constants.LITERAL:
        return chr(argument)
    if op is sre_constants.NOT_LITERAL:
        return "b" if argument == ord("a") else "a"
    if op is sre_constants.ANY:
        return "a"
    if op is sre_constants.IN:
        return _pick_from_set(argument, variant)
    if op in REPEATS:
        low, high, sub = argument
        count = low + (1 if variant and (high == sre_constants.MAXREPEAT or high > low) else 0)
        return "".join(_walk(sub, variant, groups) for _ in range(count))
    if op is sre_constants.SUBPATTERN:
        group, _, _, sub = argument
        text = _walk(sub, variant, groups)
        if group is not None:
            groups[group] = text
        return text
    if op is sre_constants.BRANCH:
        return _walk(argument[1][0], variant, groups)
    if op is sre_constants.AT:
        return ""
    if op is sre_constants.GROUPREF:
        return groups.get(argument, "")
    if op is getattr(sre_constants, "ATOMIC_GROUP", None):
        return _walk(argument, variant, groups)
    raise _UnsupportedRegex(str(op))


def _pick_from_set(items: list, variant: int) -> str:
    if items and items[0][0] is sre_constants.NEGATE:
        pool = [char for char in NEGATED_SET_POOL if not _in_set(char, items[1:])]
    else:
        pool = [char for op, argument in items for char in _set_member_samples(op, argument)]
    if not pool:
        raise _UnsupportedRegex("empty character set")
    return pool[variant % len(pool)]


def _set_member_samples(op: Any, argument: Any) -> str:
    if op is sre_constants.LITERAL:
        return chr(argument)
    if op is sre_constants.RANGE:
        return chr(argument[0]) + chr(min(argument[0] + 1, argument[1]))
    if op is sre_constants.CATEGORY and argument in CATEGORY_SAMPLES:
        return CATEGORY_SAMPLES[argument]
    raise _UnsupportedRegex(str(op))


def _in_set(char: str, items: list) -> bool:
    for op, argument in items:
        if op is sre_constants.LITERAL and ord(char) == argument:
            return True
        if op is sre_constants.RANGE and argument[0] <= ord(char) <= argument[1]:
            return True
        if op is sre_constants.CATEGORY and re.fullmatch(CATEGORY_PATTERNS.get(argument, r"(?!)"), char):
            return True
    return False


_HYPOTHESIS_LOCK = threading.Lock()  # hypothesis' engine is not meant to run in several threads at once


@functools.lru_cache(maxsize=256)
def _regex_from_hypothesis(pattern: str, min_length: int, max_length: int | None) -> str | None:
    """The shrunk (hence deterministic) smallest string hypothesis finds for a pattern the walker missed."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis import strategies as st

    quiet = settings(
        database=None, derandomize=True, max_examples=500, suppress_health_check=list(HealthCheck), deadline=None
    )
    upper = math.inf if max_length is None else max_length
    with _HYPOTHESIS_LOCK:
        try:
            return find(
                st.from_regex(pattern, fullmatch=True), lambda text: min_length <= len(text) <= upper, settings=quiet
            )
        except Exception:  # NoSuchExample, Unsatisfiable, unsupported regex syntax: no sample
            return None


# --- invalid variants ---------------------------------------------------------------------------


def _local_violations(root: dict, shape: dict, valid: dict) -> Iterator[dict]:
    """Candidates in order of obviousness: drop a required property, then a wrong type, then an extra key."""
    for name in shape.get("required", []):
        if name in valid:
            yield _without(valid, name)
    properties = shape.get("properties", {})
    for name in valid:
        declared = _declared_types(_deref(properties.get(name, True), root))
        for wrong in sorted(WRONG_VALUES, key=lambda value: _json_type(value) in declared):
            yield {**valid, name: wrong}
    if shape.get("additionalProperties") is False or shape.get("unevaluatedProperties") is False:
        yield {**valid, "unexpected_property": 1}


def _declared_types(schema: Any) -> set[str]:
    if not isinstance(schema, dict) or "type" not in schema:
        return set()
    declared = schema["type"]
    types = {declared} if isinstance(declared, str) else set(declared)
    return types | ({"integer"} if "number" in types else set())


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "number")
