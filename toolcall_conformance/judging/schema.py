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


def envelope_problems(document: Any, name: str) -> list[SchemaProblem]:
    """Every way a response document breaks OpenAI's envelope for its kind."""
    return _problems(_envelope_validator(name), document)
