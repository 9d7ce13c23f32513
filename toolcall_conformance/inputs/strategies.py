"""Hypothesis strategies for OpenAI tool definitions: valid, satisfiable, and biased to the edges servers miss.

Every schema built here passes the Draft 2020-12 metaschema and has at least one valid instance, by
construction: bounds are drawn around a value that meets them, a pattern only gets length bounds its matches
can meet, oneOf branches have disjoint JSON types. Builders take `require`, the keywords a schema must use,
so a probe can pin one keyword while everything else is drawn (see `KEYWORD_PROBES`).

The public pieces, smallest first: `tool_names`, `descriptions`, `property_names`; one builder per kind of
schema (`string_schemas`, `integer_schemas`, `number_schemas`, `boolean_schemas`, `null_schemas`,
`enum_schemas`, `const_schemas`, `array_schemas`, `object_schemas`, `any_of_schemas`, `one_of_schemas`,
`nullable_schemas`); `value_schemas` (any of them, nested to a bounded depth); `parameter_schemas` (a function's
parameters, possibly with `$defs`/`$ref`); `tool_definitions`; `tool_sets`; `keyword_tool_sets`. And
`keywords_used`, which says which schema keywords a tool set uses.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import string
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

from .cases import Case, Choice, Mode, ToolSet

Schema = dict[str, Any]
Tool = dict[str, Any]
GENERATED_ID = "generated"

NAME_RULE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # OpenAI's rule for function names
NAME_ALPHABET = string.ascii_letters + string.digits + "_-"
MAX_NAME_LENGTH = 64
MAX_TOOLS = 4
MAX_PROPERTIES = 4
MAX_DEPTH = 2  # levels of nesting below a function's parameters object
MAX_ITEMS = 3
MAX_DEFS = 2  # at most len(DEF_NAMES)

EVERYDAY_NAMES = ("get_weather", "search", "lookup_order", "send_email", "convert_units", "book_table")
EVERYDAY_DESCRIPTIONS = ("Get the current weather for a city.", "Search the catalogue.", "Look up an order by id.")
NON_ASCII_DESCRIPTIONS = (
    "Météo actuelle à Zürich, en °C.",
    "現在の天気を取得します。",
    "Прогноз погоды на завтра.",
    "Busca vuelos baratos ✈️ y hoteles 🏨.",
    "يحصل على الطقس الحالي",
)
LONG_TEXT = (
    "This function looks up the requested record and returns every field the caller asked for. "
    "Arguments must follow the schema exactly; optional fields may be left out. "
)
PROPERTY_NAMES = ("city", "count", "unit", "query", "id", "date", "enabled", "tags")
UNUSUAL_PROPERTY_NAMES = (
    "first name",
    "città",
    "日付",
    "with-dash",
    "$dollar",
    "123",
    "a.b",
    'quo"te',
    "type",
    "required",
    "",
)
DEF_NAMES = ("Address", "Unit", "Item", "Point", "Status")
WORDS = ("alpha", "beta", "celsius", "fahrenheit", "red", "on", "x")
TRICKY_STRINGS = ("", 'say "hi"', "back\\slash", "new\nline", "tab\there", "ünïcödé", "日本", "🎉", "<tool_call>")

FORMATS = ("date", "date-time", "time", "email", "uuid", "ipv4", "ipv6", "hostname", "uri")
# pattern -> (shortest, longest) length of its matches; every length in between has a match
PATTERNS: dict[str, tuple[int, int | None]] = {
    "^[a-z]+$": (1, None),
    "^[A-Z]{2}$": (2, 2),
    "^[0-9]{5}$": (5, 5),
    "^[0-9]{3}-[0-9]{4}$": (8, 8),
    "^[a-z0-9_]{3,16}$": (3, 16),
    "^(red|blue|green)$": (3, 5),
    # unanchored: any string holding a digit matches; its bounds are drawn as for a single digit so that
    # generators that read patterns as anchored (a common shortcut) still find an instance
    "[0-9]": (1, 1),
}
INTEGER_STEPS = (2, 3, 5, 10)
NUMBER_STEPS = (0.5, 0.25, 2.5)  # exact in binary, so jsonschema's float division judges them right
NUMBER_GRAIN = 0.25  # numbers are drawn as multiples of this: exact in binary too
SCALAR_TYPES = ("string", "integer", "number", "boolean", "null")
# JSON types whose instances never overlap: the families of oneOf branches (integer and number share one)
DISJOINT_FAMILIES = {"string": "string", "integer": "numeric", "number": "numeric", "boolean": "boolean"}
DISJOINT_FAMILIES |= {"null": "null", "array": "array", "object": "object"}

# keyword -> how its value holds subschemas: one schema, a list of them, or a map of name -> schema
SUBSCHEMA_KEYWORDS: dict[str, str] = {
    "items": "one",
    "additionalProperties": "one",
    "contains": "one",
    "not": "one",
    "if": "one",
    "then": "one",
    "else": "one",
    "propertyNames": "one",
    "unevaluatedItems": "one",
    "unevaluatedProperties": "one",
    "prefixItems": "list",
    "allOf": "list",
    "anyOf": "list",
    "oneOf": "list",
    "properties": "map",
    "patternProperties": "map",
    "$defs": "map",
    "dependentSchemas": "map",
}


# ---------------------------------------------------------------- names and texts


def tool_names() -> st.SearchStrategy[str]:
    """Function names valid under OpenAI's rule ^[a-zA-Z0-9_-]{1,64}$, biased to its edges."""
    return st.one_of(
        st.sampled_from(EVERYDAY_NAMES),
        st.text(NAME_ALPHABET, min_size=1, max_size=1),
        st.text(NAME_ALPHABET, min_size=MAX_NAME_LENGTH, max_size=MAX_NAME_LENGTH),
        st.builds(str.__add__, st.sampled_from(string.digits), st.text(NAME_ALPHABET, max_size=MAX_NAME_LENGTH - 1)),
        st.lists(st.sampled_from(WORDS), min_size=2, max_size=4).map("-".join),
        st.text(NAME_ALPHABET, min_size=1, max_size=MAX_NAME_LENGTH),
    )


def near_collisions(name: str) -> list[str]:
    """Valid names one character away from `name` (get / get_ / get- / ge), never `name` itself."""
    stem = name[: MAX_NAME_LENGTH - 1]
    found = [stem + "_", stem + "-", name[:-1], name.swapcase()]
    return [other for other in dict.fromkeys(found) if other != name and NAME_RULE.match(other)]


def descriptions() -> st.SearchStrategy[str]:
    """Descriptions: everyday, empty, non-ASCII, long."""
    printable = st.characters(exclude_categories=("Cs", "Cc"))
    return st.one_of(
        st.sampled_from(EVERYDAY_DESCRIPTIONS),
        st.just(""),
        st.sampled_from(NON_ASCII_DESCRIPTIONS),
        st.text(printable, min_size=1, max_size=60),
        st.integers(300, 2000).map(lambda size: (LONG_TEXT * (size // len(LONG_TEXT) + 1))[:size]),
    )


def property_names() -> st.SearchStrategy[str]:
    """Property names: identifiers first, then spaces, unicode, keyword look-alikes, the empty name."""
    return st.one_of(
        st.sampled_from(PROPERTY_NAMES),
        st.from_regex(r"\A[a-z][a-z0-9_]{0,15}\Z"),
        st.sampled_from(UNUSUAL_PROPERTY_NAMES),
        st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12),
    )


def _present(draw: st.DrawFn, keyword: str, require: Collection[str]) -> bool:
    """Whether an optional keyword goes in: always when required, else drawn (shrinks to absent)."""
    return keyword in require or draw(st.booleans())


# ---------------------------------------------------------------- scalars


def scalar_values(type_name: str) -> st.SearchStrategy[Any]:
    """JSON values of one scalar type; numbers are never integral, so 1 and 1.0 never meet in one enum."""
    values: dict[str, st.SearchStrategy[Any]] = {
        "string": st.one_of(st.sampled_from(WORDS), st.sampled_from(TRICKY_STRINGS), st.text(max_size=10)),
        "integer": st.integers(-100, 100),
        "number": st.integers(-200, 200).map(lambda whole: whole + 0.5),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    return values[type_name]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


STRING_KINDS = ("plain", "length", "pattern", "format")  # simplest first: shrinking goes this way


@st.composite
def string_schemas(draw: st.DrawFn, require: Collection[str] = (), formats: tuple[str, ...] = FORMATS) -> Schema:
    """{"type": "string"} plain, with length bounds, with a pattern (and maybe length bounds) or with a format."""
    schema: Schema = {"type": "string"}
    if "format" in require:
        kind = "format"
    elif "pattern" in require:
        kind = "pattern"
    elif {"minLength", "maxLength"} & set(require):
        kind = "length"
    else:
        kind = draw(st.sampled_from(STRING_KINDS))
    if kind == "format":
        schema["format"] = draw(st.sampled_from(formats))
        return schema  # a format fixes the shape; length bounds could contradict it
    shortest, longest = 0, None
    if kind == "pattern":
        schema["pattern"], (shortest, longest) = draw(st.sampled_from(sorted(PATTERNS.items())))
    if kind == "plain" or (kind == "pattern" and not draw(st.booleans())):
        return schema
    if _present(draw, "minLength", require):
        schema["minLength"] = draw(st.integers(0, longest if longest is not None else shortest + 8))
    if _present(draw, "maxLength", require):
        floor = max(schema.get("minLength", 0), shortest)
        schema["maxLength"] = draw(st.integers(floor, floor + 10))
    return schema


@st.composite
def integer_schemas(draw: st.DrawFn, require: Collection[str] = ()) -> Schema:
    """{"type": "integer"} with bounds (inclusive and exclusive) and multipleOf, all met by one drawn value."""
    schema: Schema = {"type": "integer"}
    step = 1
    if _present(draw, "multipleOf", require):
        schema["multipleOf"] = step = draw(st.sampled_from(INTEGER_STEPS))
    anchor = draw(st.integers(-1000, 1000)) * step  # the value every bound below admits
    gap = st.integers(0, 100)
    if _present(draw, "minimum", require):
        schema["minimum"] = anchor - draw(gap)
    if _present(draw, "maximum", require):
        schema["maximum"] = anchor + draw(gap)
    if _present(draw, "exclusiveMinimum", require):
        schema["exclusiveMinimum"] = anchor - draw(gap) - 1
    if _present(draw, "exclusiveMaximum", require):
        schema["exclusiveMaximum"] = anchor + draw(gap) + 1
    return schema


@st.composite
def number_schemas(draw: st.DrawFn, require: Collection[str] = ()) -> Schema:
    """{"type": "number"} with bounds and multipleOf, all met by one drawn value; every number exact in binary."""
    schema: Schema = {"type": "number"}
    step = NUMBER_GRAIN
    if _present(draw, "multipleOf", require):
        schema["multipleOf"] = step = draw(st.sampled_from(NUMBER_STEPS))
    anchor = draw(st.integers(-4000, 4000)) * step
    gap = st.integers(0, 400).map(lambda grains: grains * NUMBER_GRAIN)
    if _present(draw, "minimum", require):
        schema["minimum"] = anchor - draw(gap)
    if _present(draw, "maximum", require):
        schema["maximum"] = anchor + draw(gap)
    if _present(draw, "exclusiveMinimum", require):
        schema["exclusiveMinimum"] = anchor - draw(gap) - NUMBER_GRAIN
    if _present(draw, "exclusiveMaximum", require):
        schema["exclusiveMaximum"] = anchor + draw(gap) + NUMBER_GRAIN
    return schema


def boolean_schemas() -> st.SearchStrategy[Schema]:
    """{"type": "boolean"}."""
    return st.just({"type": "boolean"})


def null_schemas() -> st.SearchStrategy[Schema]:
    """{"type": "null"}."""
    return st.just({"type": "null"})


@st.composite
def enum_schemas(draw: st.DrawFn, types: tuple[str, ...] = (*SCALAR_TYPES, "mixed")) -> Schema:
    """{"enum": [...]} of strings, numbers, booleans, null or a mix, sometimes with the matching "type"."""
    kind = draw(st.sampled_from(types))
    members = st.one_of(*(scalar_values(name) for name in SCALAR_TYPES)) if kind == "mixed" else scalar_values(kind)
    values = draw(st.lists(members, min_size=1, max_size=5, unique_by=_canonical))
    schema: Schema = {"enum": values}
    if kind != "mixed" and draw(st.booleans()):
        schema = {"type": kind, **schema}
    return schema


@st.composite
def const_schemas(draw: st.DrawFn, types: tuple[str, ...] = SCALAR_TYPES) -> Schema:
    """{"const": value} of any scalar type, sometimes with the matching "type"."""
    kind = draw(st.sampled_from(types))
    schema: Schema = {"const": draw(scalar_values(kind))}
    if draw(st.booleans()):
        schema = {"type": kind, **schema}
    return schema


# ---------------------------------------------------------------- structures


@st.composite
def array_schemas(
    draw: st.DrawFn, items: st.SearchStrategy[Schema] | None = None, require: Collection[str] = ()
) -> Schema:
    """{"type": "array"} with items, minItems and maxItems (minItems <= maxItems, both small)."""
    schema: Schema = {"type": "array"}
    if _present(draw, "items", require):
        schema["items"] = draw(items if items is not None else scalar_schemas())
    if _present(draw, "minItems", require):
        schema["minItems"] = draw(st.integers(0, MAX_ITEMS))
    if _present(draw, "maxItems", require):
        schema["maxItems"] = draw(st.integers(schema.get("minItems", 0), MAX_ITEMS))
    return schema


@st.composite
def object_schemas(
    draw: st.DrawFn,
    values: st.SearchStrategy[Schema] | None = None,
    require: Collection[str] = (),
    names: st.SearchStrategy[str] | None = None,
    max_properties: int = MAX_PROPERTIES,
) -> Schema:
    """{"type": "object"} with properties (possibly none), required and additionalProperties."""
    values = values if values is not None else scalar_schemas()
    schema: Schema = {"type": "object"}
    minimum = 1 if {"required", "properties"} & set(require) else 0
    pairs = draw(
        st.lists(
            st.tuples(names if names is not None else property_names(), values),
            min_size=minimum,
            max_size=max_properties,
            unique_by=lambda pair: pair[0],
        )
    )
    if pairs or _present(draw, "properties", require):
        schema["properties"] = dict(pairs)
    required = [name for name, _ in pairs if draw(st.booleans())]
    if "required" in require and not required:
        required = [pairs[0][0]]
    if required:
        schema["required"] = required
    if _present(draw, "additionalProperties", require):
        schema["additionalProperties"] = draw(st.one_of(st.just(False), st.just(True), scalar_schemas()))
    return schema


def any_of_schemas(branches: st.SearchStrategy[Schema] | None = None) -> st.SearchStrategy[Schema]:
    """{"anyOf": [...]}: one to three branches, each satisfiable, so the whole is."""
    branch = branches if branches is not None else scalar_schemas()
    return st.lists(branch, min_size=1, max_size=3).map(lambda found: {"anyOf": found})


@st.composite
def one_of_schemas(draw: st.DrawFn, depth: int = 0) -> Schema:
    """{"oneOf": [...]}: branches of disjoint JSON types, so any instance of one branch matches only that one."""
    families = draw(
        st.lists(st.sampled_from(sorted(DISJOINT_FAMILIES)), min_size=1, max_size=3, unique_by=DISJOINT_FAMILIES.get)
    )
    return {"oneOf": [draw(typed_schemas(family, depth)) for family in families]}


def typed_schemas(type_name: str, depth: int = 0) -> st.SearchStrategy[Schema]:
    """Schemas every instance of which has the given JSON type."""
    inner = value_schemas(depth - 1) if depth > 0 else scalar_schemas()
    builders: dict[str, Callable[[], st.SearchStrategy[Schema]]] = {
        "string": lambda: st.one_of(string_schemas(), enum_schemas(("string",)), const_schemas(("string",))),
        "integer": lambda: st.one_of(integer_schemas(), enum_schemas(("integer",))),
        "number": lambda: st.one_of(number_schemas(), enum_schemas(("number",))),
        "boolean": boolean_schemas,
        "null": null_schemas,
        "array": lambda: array_schemas(inner),
        "object": lambda: object_schemas(inner, max_properties=2),
    }
    return builders[type_name]()


@st.composite
def nullable_schemas(draw: st.DrawFn, inner: st.SearchStrategy[Schema] | None = None) -> Schema:
    """A schema that also admits null: "type": [T, "null"], or anyOf with {"type": "null"}."""
    schema = draw(inner if inner is not None else st.one_of(string_schemas(), integer_schemas(), boolean_schemas()))
    if isinstance(schema.get("type"), str) and "enum" not in schema and "const" not in schema and draw(st.booleans()):
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


@functools.cache
def scalar_schemas() -> st.SearchStrategy[Schema]:
    """Schemas of one scalar value: string, integer, number, boolean, null, enum, const."""
    return st.one_of(
        string_schemas(),
        integer_schemas(),
        number_schemas(),
        boolean_schemas(),
        enum_schemas(),
        const_schemas(),
        null_schemas(),
    )


@functools.cache
def value_schemas(depth: int = MAX_DEPTH) -> st.SearchStrategy[Schema]:
    """Any schema this module builds, nested at most `depth` levels (0: scalars and nullable scalars)."""
    if depth <= 0:
        return st.one_of(scalar_schemas(), nullable_schemas())
    inner = value_schemas(depth - 1)
    return st.one_of(
        scalar_schemas(),
        nullable_schemas(),
        array_schemas(inner),
        object_schemas(inner, max_properties=3),
        any_of_schemas(inner),
        one_of_schemas(depth - 1),
    )


# ---------------------------------------------------------------- parameters and tools


@st.composite
def with_definitions(draw: st.DrawFn, parameters: st.SearchStrategy[Schema]) -> Schema:
    """An object schema whose property schemas (some, at least one) moved to $defs and are reached by $ref."""
    schema = draw(parameters)
    properties = schema.get("properties") or {}
    names = list(properties)[:MAX_DEFS]
    if not names:
        return schema
    chosen = [name for name in names if draw(st.booleans())] or names[:1]
    definitions: dict[str, Schema] = {}
    hoisted = dict(properties)
    for index, name in enumerate(chosen):
        def_name = DEF_NAMES[index]
        definitions[def_name] = properties[name]
        hoisted[name] = {"$ref": f"#/$defs/{def_name}"}
    return {**schema, "properties": hoisted, "$defs": definitions}


def parameter_schemas(depth: int = MAX_DEPTH) -> st.SearchStrategy[Schema | None]:
    """A function's parameters: an object schema, maybe with $defs/$ref; {} properties; or None (left out)."""
    objects = object_schemas(value_schemas(depth - 1))
    return st.one_of(
        objects,
        with_definitions(object_schemas(value_schemas(depth - 1), require=("properties",))),
        st.just({"type": "object", "properties": {}}),
        st.none(),
    )


@st.composite
def tool_definitions(
    draw: st.DrawFn,
    names: st.SearchStrategy[str] | None = None,
    parameters: st.SearchStrategy[Schema | None] | None = None,
    strict: st.SearchStrategy[bool | None] | None = None,
) -> Tool:
    """One {"type": "function", "function": {...}} with a name, maybe a description, parameters and strict."""
    function: dict[str, Any] = {"name": draw(names if names is not None else tool_names())}
    if draw(st.booleans()):
        function["description"] = draw(descriptions())
    found = draw(parameters if parameters is not None else parameter_schemas())
    if found is not None:
        function["parameters"] = found
    flag = draw(strict if strict is not None else st.sampled_from([None, True, False]))
    if flag is not None:
        function["strict"] = flag
    return {"type": "function", "function": function}


@st.composite
def tool_sets(
    draw: st.DrawFn,
    max_tools: int = MAX_TOOLS,
    tools: Callable[[st.SearchStrategy[str]], st.SearchStrategy[Tool]] | None = None,
) -> list[Tool]:
    """One to `max_tools` tools with distinct names, sometimes near-collisions of the first (get, get_)."""
    make = tools if tools is not None else lambda names: tool_definitions(names=names)
    first = draw(make(tool_names()))
    found = [first]
    count = draw(st.integers(1, max_tools))
    taken = {first["function"]["name"]}
    for _ in range(count - 1):
        nearby = [name for name in near_collisions(first["function"]["name"]) if name not in taken]
        if nearby and draw(st.booleans()):
            names = st.sampled_from(nearby)
        else:
            names = tool_names().filter(lambda name: name not in taken)
        tool = draw(make(names))
        taken.add(tool["function"]["name"])
        found.append(tool)
    return found


def strict_flags(kind: str) -> st.SearchStrategy[bool | None]:
    """The "strict" value of each tool: "strict" (always true), "plain" (absent or false) or "mixed"."""
    kinds: dict[str, st.SearchStrategy[bool | None]] = {
        "strict": st.just(True),
        "plain": st.sampled_from([None, False]),
        "mixed": st.sampled_from([None, True, False]),
    }
    return kinds[kind]


def generated_tool_sets(
    strictness: str = "mixed", max_tools: int = MAX_TOOLS, exclude: Collection[str] = ()
) -> st.SearchStrategy[list[Tool]]:
    """Tool sets whose tools are all strict, all plain, or mixed; none using a keyword of `exclude`."""
    flags = strict_flags(strictness)
    found = tool_sets(max_tools=max_tools, tools=lambda names: tool_definitions(names=names, strict=flags))
    return excluding(found, exclude) if exclude else found


def excluding(tool_sets: st.SearchStrategy[list[Tool]], keywords: Collection[str]) -> st.SearchStrategy[list[Tool]]:
    """Only the tool sets that use none of `keywords` (as keywords_used names them, e.g. "no-parameters")."""
    unwanted = frozenset(keywords)
    return tool_sets.filter(lambda tools: not unwanted.intersection(keywords_used(tools)))


# ---------------------------------------------------------------- one keyword at a time

PROBE_PROPERTY = "value"
PLAIN_TYPES = ("string", "integer", "number", "boolean")


def plain_schemas() -> st.SearchStrategy[Schema]:
    """{"type": T} and nothing else, T a scalar type: the neutral filling of a keyword probe."""
    return st.sampled_from([{"type": name} for name in PLAIN_TYPES])


def _probe(schemas: st.SearchStrategy[Schema], *keep: str) -> st.SearchStrategy[Schema]:
    """Parameters with one required property whose schema keeps only `keep` (all of it when empty)."""
    return schemas.map(lambda found: _one_property(_keeping(found, keep) if keep else found))


def _keeping(schema: Schema, keep: tuple[str, ...]) -> Schema:
    # Dropping constraints only widens a schema, so it stays satisfiable.
    return {key: value for key, value in schema.items() if key in keep}


def _probed(parameters: Schema) -> Schema:
    return parameters["properties"][PROBE_PROPERTY]


def _one_property(schema: Schema) -> Schema:
    return {"type": "object", "properties": {PROBE_PROPERTY: schema}, "required": [PROBE_PROPERTY]}


def _number_with(keyword: str) -> st.SearchStrategy[Schema]:
    schemas = st.one_of(integer_schemas(require=(keyword,)), number_schemas(require=(keyword,)))
    return _probe(schemas, "type", keyword)


def _string_with(keyword: str, formats: tuple[str, ...] = FORMATS) -> st.SearchStrategy[Schema]:
    return _probe(string_schemas(require=(keyword,), formats=formats), "type", keyword)


def _array_with(keyword: str) -> st.SearchStrategy[Schema]:
    arrays = array_schemas(plain_schemas(), require=("items", keyword))
    return _probe(arrays.filter(lambda schema: schema.get("minItems") != 0), "type", "items", keyword)


def _length_narrows_pattern(schema: Schema) -> bool:
    """Whether a string schema's length bounds rule out some strings its pattern matches."""
    shortest, longest = PATTERNS[schema["pattern"]]
    too_long = "maxLength" in schema and (longest is None or schema["maxLength"] < longest)
    return schema.get("minLength", 0) > shortest or too_long


# probe id -> parameters schemas that use that keyword and, beside it, only plain {"type": T} schemas
KEYWORD_PROBES: dict[str, Callable[[], st.SearchStrategy[Schema | None]]] = {
    "type": lambda: _probe(plain_schemas()),
    "type:null": lambda: _probe(null_schemas()),
    "properties": lambda: object_schemas(plain_schemas(), require=("properties",)).map(
        lambda schema: _keeping(schema, ("type", "properties"))
    ),
    "required": lambda: object_schemas(plain_schemas(), require=("required",)).map(
        lambda schema: _keeping(schema, ("type", "properties", "required"))
    ),
    "additionalProperties:false": lambda: object_schemas(plain_schemas(), require=("required",)).map(
        lambda schema: {**_keeping(schema, ("type", "properties", "required")), "additionalProperties": False}
    ),
    "nested-object": lambda: _probe(
        object_schemas(plain_schemas(), require=("required",), max_properties=2), "type", "properties", "required"
    ),
    "items": lambda: _array_with("items"),
    "minItems": lambda: _array_with("minItems"),
    "maxItems": lambda: _array_with("maxItems"),
    "minItems:without-items": lambda: _probe(
        array_schemas(require=("minItems",)).filter(lambda schema: schema["minItems"] > 0), "type", "minItems"
    ),
    "enum": lambda: _probe(enum_schemas()),
    "const": lambda: _probe(const_schemas()),
    "minimum": lambda: _number_with("minimum"),
    "maximum": lambda: _number_with("maximum"),
    "exclusiveMinimum": lambda: _number_with("exclusiveMinimum"),
    "exclusiveMaximum": lambda: _number_with("exclusiveMaximum"),
    "multipleOf:integer": lambda: _probe(integer_schemas(require=("multipleOf",)), "type", "multipleOf"),
    "multipleOf:number": lambda: _probe(number_schemas(require=("multipleOf",)), "type", "multipleOf"),
    "multipleOf:with-bounds": lambda: _probe(
        integer_schemas(require=("multipleOf",)).filter(lambda schema: {"minimum", "maximum"} & schema.keys()),
        *("type", "multipleOf", "minimum", "maximum"),
    ),
    "minLength": lambda: _string_with("minLength").filter(lambda schema: _probed(schema)["minLength"] > 0),
    "maxLength": lambda: _string_with("maxLength"),
    "pattern": lambda: _string_with("pattern"),
    "pattern:with-length": lambda: _probe(
        string_schemas(require=("pattern",)).filter(_length_narrows_pattern),
        "type",
        "pattern",
        "minLength",
        "maxLength",
    ),
    **{f"format:{name}": (lambda name=name: _string_with("format", (name,))) for name in FORMATS},
    "anyOf": lambda: _probe(any_of_schemas(plain_schemas())),
    "oneOf": lambda: _probe(
        st.lists(st.sampled_from(("string", "integer", "boolean", "null")), min_size=1, max_size=3, unique=True).map(
            lambda types: {"oneOf": [{"type": name} for name in types]}
        )
    ),
    "$ref": lambda: with_definitions(st.builds(_one_property, plain_schemas())),
    "nullable:type-list": lambda: _probe(plain_schemas().map(lambda schema: {"type": [schema["type"], "null"]})),
    "nullable:anyOf": lambda: _probe(plain_schemas().map(lambda schema: {"anyOf": [schema, {"type": "null"}]})),
    "empty-properties": lambda: st.just({"type": "object", "properties": {}}),
    "no-parameters": lambda: st.none(),
    "unusual-property-name": lambda: object_schemas(
        plain_schemas(), require=("required",), names=st.sampled_from(UNUSUAL_PROPERTY_NAMES), max_properties=1
    ).map(lambda schema: _keeping(schema, ("type", "properties", "required"))),
}


def keyword_tool_sets(probe: str, strict: bool) -> st.SearchStrategy[list[Tool]]:
    """One tool, everyday name, whose parameters use the probed keyword; strict or not."""
    parameters = KEYWORD_PROBES[probe]()
    tool = tool_definitions(names=st.just("probe"), parameters=parameters, strict=st.just(strict or None))
    return tool.map(lambda found: [found])


# ---------------------------------------------------------------- which keywords a tool set uses


def schema_keywords(schema: Any) -> set[str]:
    """The JSON Schema keywords a schema uses anywhere, plus "format:<name>" for each format it names."""
    return set(_walk_keywords(schema))


def _walk_keywords(schema: Any) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    for keyword, value in schema.items():
        yield keyword
        if keyword == "format" and isinstance(value, str):
            yield f"format:{value}"
        for sub in _subschemas(keyword, value):
            yield from _walk_keywords(sub)


def _subschemas(keyword: str, value: Any) -> Iterable[Any]:
    shape = SUBSCHEMA_KEYWORDS.get(keyword)
    if shape == "one":
        return [value]
    if shape == "list" and isinstance(value, list):
        return value
    if shape == "map" and isinstance(value, dict):
        return value.values()
    return []


def keywords_used(tools: Iterable[Tool]) -> list[str]:
    """Which schema keywords a tool set uses, sorted; "no-parameters" for a function without parameters."""
    found: set[str] = set()
    for tool in tools:
        function = tool.get("function") or {}
        if "parameters" not in function:
            found.add("no-parameters")
        found |= schema_keywords(function.get("parameters"))
    return sorted(found)


def generated_case(
    tools: Iterable[Tool],
    mode: Mode,
    choice: Choice,
    named_index: int = 0,
    sampling_seed: int | None = None,
    drawn_from: ToolSet | None = None,
) -> Case:
    """The Case that sends a generated tool set; a named choice names tools[named_index % len(tools)].

    drawn_from: the user's tool set the tools come from (variants_of); its conversation is sent with them."""
    tools = tuple(tools)
    names = [tool["function"]["name"] for tool in tools]
    strict = all(tool["function"].get("strict") is True for tool in tools)
    toolset = ToolSet(
        id=GENERATED_ID,
        title="generated tool set" if drawn_from is None else f"drawn from {drawn_from.id}",
        tools=tools,
        messages=None if drawn_from is None else drawn_from.messages,
        prompt=None if drawn_from is None else drawn_from.prompt,
        named=names[named_index % len(names)],
        strict=strict,
    )
    return Case(toolset, mode, choice, extra={} if sampling_seed is None else {"seed": sampling_seed})


# ---------------------------------------------------------------- drawn from a user's own tool set (--toolsets)

# Objects with these keywords keep every property: leaving one out could break what they say about the rest.
_PRUNE_GUARDS = frozenset(
    {"minProperties", "dependentRequired", "dependentSchemas", "if", "allOf", "anyOf", "oneOf", "not", "$ref"}
)


@st.composite
def _pruned(draw: st.DrawFn, schema: Any) -> Any:
    """The schema with some optional properties left out, at every level of plain nested objects."""
    if not isinstance(schema, dict):
        return schema
    pruned = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict) and not _PRUNE_GUARDS & schema.keys():
        required = set(schema.get("required", ()))
        pruned["properties"] = {
            name: draw(_pruned(sub))
            for name, sub in properties.items()
            if name in required or draw(st.booleans())  # shrinks to False: an optional property left out
        }
    if isinstance(schema.get("items"), dict):
        pruned["items"] = draw(_pruned(schema["items"]))
    return pruned


@st.composite
def variants_of(draw: st.DrawFn, tools: Sequence[Tool]) -> list[Tool]:
    """Tool sets drawn from a user's own: some of its tools (in their order), each with some optional properties
    left out, all with "strict": true or as written. Shrinks towards one tool with its required properties only:
    the smallest part of the user's tools on which the server still fails. (The set as written is what the other
    tests send.)

    Every tool's choices are drawn whether it is kept or not, so that each keeps its place in Hypothesis's
    choice sequence and the shrinker can drop one tool without changing the others; with none kept, the
    first is sent."""
    strict = draw(st.booleans())
    drawn = []
    for tool in tools:
        kept = draw(st.booleans())  # shrinks to False: the tool left out
        variant = copy.deepcopy(tool)
        function = variant["function"]
        if "parameters" in function:
            function["parameters"] = draw(_pruned(function["parameters"]))
        if strict:
            function["strict"] = True
        drawn.append((kept, variant))
    return [variant for kept, variant in drawn if kept] or [drawn[0][1]]
