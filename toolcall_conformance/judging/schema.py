"""Validation of tool-call arguments against their function's schema, and of response envelopes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from ..data import ENVELOPES_DIR

# Re-exported: checks and reports import them from here.
from ..jsontext import SHOWN_CHARS as SHOWN_CHARS
from ..jsontext import cut
from ..jsontext import shorten as shorten
from ..jsontext import strict_json as strict_json

COMPLETION = "chat.completion"
CHUNK = "chat.completion.chunk"
ERROR = "error"


@dataclass(frozen=True)
class SchemaProblem:
    """One place where an instance breaks its schema, in words a person reads."""

    pointer: str
    message: str
    wanted: str
    got: str

    def describe(self) -> str:
        return f"at {self.pointer or '/'}: {self.message} (schema wanted {self.wanted}; got {self.got})"


def _pointer(path: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _problem(error: ValidationError) -> SchemaProblem:
    wanted = {error.validator: error.validator_value} if isinstance(error.validator, str) else error.schema
    return SchemaProblem(
        pointer=_pointer(error.absolute_path),
        message=cut(error.message, 2 * SHOWN_CHARS),
        wanted=shorten(wanted),
        got=shorten(error.instance),
    )


@lru_cache(maxsize=512)
def _validator_for(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator with format checking, cached by the schema's content."""
    return _validator_for(json.dumps(schema, sort_keys=True))


def schema_problems(instance: Any, schema: dict[str, Any]) -> list[SchemaProblem]:
    """Every way the instance breaks the schema, most specific first; [] when valid."""
    try:
        return _problems(validator(schema), instance)
    except SchemaError as exc:
        return [SchemaProblem("", f"the tool's own schema is invalid: {exc.message}", shorten(exc.schema), "-")]


def _problems(checker: Draft202012Validator, instance: Any) -> list[SchemaProblem]:
    errors = sorted(checker.iter_errors(instance), key=lambda e: (list(e.absolute_path), e.message))
    return [_problem(error) for error in errors]


@cache
def envelope_schema(name: str) -> dict[str, Any]:
    """One of the response envelope schemas under schemas/openai/."""
    return json.loads((ENVELOPES_DIR / f"{name}.json").read_text(encoding="utf-8"))


@cache
def _envelope_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(envelope_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


# The envelope schemas constrain the strings of these keys (const, enum); all other strings only by their type.
_CONSTRAINED_STRINGS = frozenset({"object", "role", "finish_reason", "type"})
_VALID_SHAPES: dict[str, bool] = {}
_SHAPES_KEPT = 4096


def _shape(value: Any, key: str | None = None) -> Any:
    """The document as the envelope schemas see it: free strings emptied, integers reduced to their sign."""
    if isinstance(value, str):
        return value if key in _CONSTRAINED_STRINGS else ""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return 0 if value >= 0 else -1
    if isinstance(value, dict):
        return {name: _shape(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_shape(item, key) for item in value]
    return value


def envelope_problems(document: Any, name: str) -> list[SchemaProblem]:
    """Every way a response document breaks OpenAI's envelope for its kind.

    A stream's chunks differ mostly in their free strings (argument fragments, ids): a shape once found valid is
    valid again, so it is validated once (the schemas constrain no string but by const or enum, kept in the
    shape, and no integer but by its sign). An invalid shape is validated every time, so that the messages
    quote the document's own values."""
    try:
        key = name + json.dumps(_shape(document), ensure_ascii=False)
    except (RecursionError, ValueError):
        return _problems(_envelope_validator(name), document)
    if _VALID_SHAPES.get(key):
        return []
    problems = _problems(_envelope_validator(name), document)
    if not problems:
        if len(_VALID_SHAPES) >= _SHAPES_KEPT:
            _VALID_SHAPES.clear()
        _VALID_SHAPES[key] = True
    return problems
