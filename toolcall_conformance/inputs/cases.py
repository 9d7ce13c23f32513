"""Tool sets from schemas/tools/, and the cases built from them: what is sent, in which mode."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ..data import TOOLS_DIR
from ..settings import Settings

SEED_ID = "weather-seed"
NEUTRAL_PROMPT = "Please use one of the available tools to help me. Choose sensible values for every argument."
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

Mode = Literal["blocking", "stream"]
Choice = Literal["required", "named"]
MODES: tuple[Mode, ...] = ("blocking", "stream")


@dataclass(frozen=True)
class ToolSet:
    """A curated set of tools and the conversation that asks for one of them."""

    id: str
    title: str
    tools: tuple[dict[str, Any], ...]
    features: tuple[str, ...] = ()
    messages: tuple[dict[str, Any], ...] | None = None
    prompt: str | None = None
    named: str | None = None
    strict: bool = False

    @property
    def is_seed(self) -> bool:
        """True for the scenario of vLLM's example client, which is sent as the example sends it."""
        return self.id == SEED_ID

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(tool["function"]["name"] for tool in self.tools)

    @property
    def named_function(self) -> str:
        return self.named or self.function_names[0]

    def conversation(self) -> list[dict[str, Any]]:
        if self.messages is not None:
            return copy.deepcopy(list(self.messages))
        return [{"role": "user", "content": self.prompt or NEUTRAL_PROMPT}]

    def strict_variant(self) -> ToolSet:
        """The same set with "strict": true on every function."""
        tools = copy.deepcopy(list(self.tools))
        for tool in tools:
            tool["function"]["strict"] = True
        return ToolSet(
            id=f"{self.id}-strict",
            title=f"{self.title} (strict)",
            tools=tuple(tools),
            features=(*self.features, "strict"),
            messages=self.messages,
            prompt=self.prompt,
            named=self.named,
            strict=True,
        )


def parameters_of(tools: list[dict[str, Any]] | tuple[dict[str, Any], ...], name: str) -> dict[str, Any] | None:
    """The parameters schema of the named function; None when no tool has that name."""
    for tool in tools:
        function = tool.get("function") or {}
        if function.get("name") == name:
            return function.get("parameters", EMPTY_PARAMETERS)
    return None


def load_toolset(path: Path) -> ToolSet:
    """Read one tool set file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    messages = data.get("messages")
    return ToolSet(
        id=data["id"],
        title=data.get("title", data["id"]),
        tools=tuple(data["tools"]),
        features=tuple(data.get("features", ())),
        messages=tuple(messages) if messages is not None else None,
        prompt=data.get("prompt"),
        named=data.get("named"),
    )


@cache
def toolsets(directory: Path = TOOLS_DIR) -> tuple[ToolSet, ...]:
    """Every curated tool set, the seed first, each followed by its strict variant."""
    loaded = [load_toolset(path) for path in sorted(directory.glob("*.json")) if not path.name.endswith(".schema.json")]
    loaded.sort(key=lambda toolset: (not toolset.is_seed, toolset.id))
    return tuple(variant for toolset in loaded for variant in (toolset, toolset.strict_variant()))


@dataclass(frozen=True)
class Case:
    """One request to send: a tool set, a mode and a tool_choice."""

    toolset: ToolSet
    mode: Mode
    choice: Choice
    parallel_off: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        return f"{self.toolset.id}-{self.mode}"

    @property
    def stream(self) -> bool:
        return self.mode == "stream"

    @property
    def named_function(self) -> str | None:
        return self.toolset.named_function if self.choice == "named" else None

    @property
    def include_usage(self) -> bool:
        # The seed goes out as vLLM's example sends it, which asks for no usage chunk.
        return self.stream and not self.toolset.is_seed

    def labels(self) -> dict[str, str]:
        """Where the case sits in a report's matrix: feature (tool set) x mode x choice."""
        return {
            "feature": self.toolset.id,
            "mode": self.mode,
            "choice": "parallel-off" if self.parallel_off else self.choice,
        }

    def tool_choice(self) -> str | dict[str, Any]:
        if self.choice == "named":
            return {"type": "function", "function": {"name": self.toolset.named_function}}
        return "required"

    def body(self, settings: Settings, repetition: int = 0) -> dict[str, Any]:
        """The JSON body of the chat completion request; repetition r of --repeat uses seed + r."""
        body: dict[str, Any] = {
            "model": settings.model,
            "messages": self.toolset.conversation(),
            "tools": copy.deepcopy(list(self.toolset.tools)),
            "tool_choice": self.tool_choice(),
        }
        if self.stream:
            body["stream"] = True
        if self.include_usage:
            body["stream_options"] = {"include_usage": True}
        if self.parallel_off:
            body["parallel_tool_calls"] = False
        body["max_tokens"] = settings.max_tokens
        body["seed"] = settings.seed + repetition
        if settings.temperature is not None:
            body["temperature"] = settings.temperature
        body.update(self.extra)
        return body


@dataclass(frozen=True)
class Pair:
    """The blocking and streamed forms of one request, to be compared."""

    blocking: Case
    stream: Case

    @property
    def id(self) -> str:
        return f"{self.blocking.toolset.id}-{self.blocking.choice}"

    @property
    def both(self) -> tuple[Case, Case]:
        return self.blocking, self.stream

    def labels(self) -> dict[str, str]:
        """The matrix position of a comparison: its own mode, 'equivalence'."""
        return {**self.blocking.labels(), "mode": "equivalence"}


def _each_mode(toolset: ToolSet, choice: Choice, parallel_off: bool = False) -> Iterator[Case]:
    for mode in MODES:
        yield Case(toolset, mode, choice, parallel_off)


def required_cases() -> list[Case]:
    """Every tool set in both modes with tool_choice="required"."""
    return [case for toolset in toolsets() for case in _each_mode(toolset, "required")]


def named_cases() -> list[Case]:
    """Every tool set in both modes with one function named in tool_choice."""
    return [case for toolset in toolsets() for case in _each_mode(toolset, "named")]


def parallel_off_cases() -> list[Case]:
    """Multi-tool sets with tool_choice="required" and parallel_tool_calls=false."""
    return [
        case
        for toolset in toolsets()
        if len(toolset.tools) > 1
        for case in _each_mode(toolset, "required", parallel_off=True)
    ]


def equivalence_pairs() -> list[Pair]:
    """Blocking and streamed forms of every required and named case."""
    return [
        Pair(Case(toolset, "blocking", choice), Case(toolset, "stream", choice))
        for toolset in toolsets()
        for choice in ("required", "named")
    ]
