"""One view of an answer's tool calls, content and finish reason, whether it was streamed or not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..jsontext import strict_json
from ..wire.client import Exchange
from ..wire.stream import Reassembly, reassemble


def decode_arguments(arguments: Any) -> tuple[Any, str | None]:
    """A call's arguments decoded and None, or None and why they are not a JSON string."""
    if not isinstance(arguments, str):
        return None, f"arguments is {type(arguments).__name__}, not a string holding JSON"
    try:
        return strict_json(arguments), None
    except ValueError as exc:
        return None, f"arguments is not JSON ({exc})"


def comparable_arguments(arguments: Any) -> str:
    """Arguments in a type-strict form for comparing calls: 1 and true differ, and so do JSON and raw text;
    key order and whitespace do not."""
    decoded, problem = decode_arguments(arguments)
    if problem is None:
        try:
            return "json " + json.dumps(decoded, sort_keys=True)
        except RecursionError:
            pass
    return f"raw {arguments!r}"


@dataclass(frozen=True)
class Call:
    """One tool call as the client ends up with it."""

    position: int
    id: Any
    type: Any
    name: Any
    arguments: Any

    def parsed_arguments(self) -> tuple[Any, str | None]:
        """The decoded arguments and None, or None and why they are not a JSON string."""
        return decode_arguments(self.arguments)

    def label(self) -> str:
        return f"call {self.position} ({self.name!r})" if isinstance(self.name, str) else f"call {self.position}"


@dataclass
class Answer:
    """What a client reads from one response: calls, content, finish reason."""

    calls: list[Call] = field(default_factory=list)
    content: str | None = None
    finish_reason: Any = None
    stream: Reassembly | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def answer_of(exchange: Exchange) -> Answer:
    """The answer a 200 response carries; empty for anything else."""
    if not exchange.ok:
        return Answer()
    if exchange.stream:
        return _from_stream(reassemble(exchange.events))
    return _from_blocking(exchange.json_body)


def _from_stream(reassembly: Reassembly) -> Answer:
    calls = [
        Call(position, call.id, call.type, call.name, call.arguments)
        for position, call in enumerate(reassembly.ordered_calls())
    ]
    return Answer(calls, reassembly.content, reassembly.finish_reason, stream=reassembly)


def _from_blocking(body: Any) -> Answer:
    choice = _first_choice(body)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    tool_calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    calls = []
    for position, raw in enumerate(tool_calls):
        raw = raw if isinstance(raw, dict) else {}
        function = raw.get("function") if isinstance(raw.get("function"), dict) else {}
        calls.append(Call(position, raw.get("id"), raw.get("type"), function.get("name"), function.get("arguments")))
    content = message.get("content") if isinstance(message.get("content"), str) else None
    return Answer(calls, content, choice.get("finish_reason"))


def _first_choice(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return {}
    for choice in body["choices"]:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return {}
