"""Requests a server must refuse (schemas/bad-requests.json), and the valid request sent after each.

Each case is a template: "$seed.messages" and "$seed.tools" stand for the seed scenario's conversation and tools,
the run's model and max_tokens are filled in unless the case sets them. A case whose body is no valid JSON is
sent as raw bytes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..data import BAD_REQUESTS_FILE, TOOLS_DIR
from ..settings import Settings
from .cases import SEED_ID, load_toolset

FOLLOW_UP_MAX_TOKENS = 16


@dataclass(frozen=True)
class BadRequest:
    """One request a server must refuse, why it is invalid, and how binding the refusal is."""

    id: str
    title: str
    invalid_because: str
    level: str  # MUST or SHOULD (judging.verdict.Level): how binding the refusal is
    level_because: str
    source: str
    body: dict[str, Any] | None = None
    raw: str | None = None

    def labels(self) -> dict[str, str]:
        """The report matrix position: every bad request is a blocking request of the feature 'bad-request'."""
        return {"feature": "bad-request", "mode": "blocking", "choice": self.id}

    def request(self, settings: Settings) -> dict[str, Any] | bytes:
        """What is sent: the filled-in JSON body, or the raw bytes of a case that is no valid JSON."""
        return self.raw.encode("utf-8") if self.raw is not None else self.json_body(settings)

    def json_body(self, settings: Settings) -> dict[str, Any]:
        """The template filled in: the run's model and max_tokens unless it sets them, the seed's placeholders."""
        assert self.body is not None, f"{self.id} is sent as raw bytes"
        filled: dict[str, Any] = {"model": settings.model, **_with_seed(self.body)}
        filled.setdefault("max_tokens", settings.max_tokens)
        return filled


@cache
def _seed_values() -> dict[str, Any]:
    seed = load_toolset(TOOLS_DIR / f"{SEED_ID}.json")
    return {"$seed.messages": seed.conversation(), "$seed.tools": list(seed.tools)}


def _with_seed(template: Any) -> Any:
    """A deep copy of the template with "$seed.messages" and "$seed.tools" replaced by the seed's values."""
    if isinstance(template, dict):
        return {key: _with_seed(value) for key, value in template.items()}
    if isinstance(template, list):
        return [_with_seed(item) for item in template]
    placeholders = _seed_values() if isinstance(template, str) and template.startswith("$seed.") else {}
    return copy.deepcopy(placeholders.get(template, template))


@cache
def bad_requests(path: Path = BAD_REQUESTS_FILE) -> tuple[BadRequest, ...]:
    """Every case of the data file, in file order."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        BadRequest(
            id=case["id"],
            title=case["title"],
            invalid_because=case["invalid_because"],
            level=case["level"],
            level_because=case["level_because"],
            source=case["source"],
            body=case.get("body"),
            raw=case.get("raw"),
        )
        for case in document["cases"]
    )


def follow_up_body(settings: Settings) -> dict[str, Any]:
    """A valid request with tools and tool_choice "required"; its small max_tokens keeps it cheap and its own."""
    return {
        "model": settings.model,
        "messages": _with_seed("$seed.messages"),
        "tools": _with_seed("$seed.tools"),
        "tool_choice": "required",
        "max_tokens": FOLLOW_UP_MAX_TOKENS,
        "seed": settings.seed,
    }
