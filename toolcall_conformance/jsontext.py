"""Text as the suite reads and shows it: strict JSON decoding, values and texts cut to a readable length, indenting.

Kept apart from schema.py so that the sending process does not import jsonschema (0.8 s of start-up).
"""

from __future__ import annotations

import json
from typing import Any

SHOWN_CHARS = 160
ELLIPSIS = "…"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """json.loads that rejects NaN and Infinity and turns absurd nesting into a ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply to decode") from None


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """The text, or its first limit - 1 characters and an ellipsis when it is longer than limit."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def single_line(text: str, limit: int = SHOWN_CHARS) -> str:
    """The text with its runs of whitespace (newlines too) made single spaces, cut to limit."""
    return cut(" ".join(text.split()), limit)


def shorten(value: Any, limit: int = SHOWN_CHARS) -> str:
    """Compact JSON (or repr) of a value, cut to a readable length."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return cut(text, limit)


def indent(text: str, prefix: str = "  ") -> str:
    """Every line of the text behind the prefix."""
    return "\n".join(prefix + line for line in text.splitlines())
