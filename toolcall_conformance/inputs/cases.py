"""The cases built from tool sets: what is sent, in which mode and with which tool_choice."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..settings import Settings
from .toolsets import EMPTY_PARAMETERS, NEUTRAL_PROMPT, SEED_ID, ToolSet, curated_toolsets, load_toolset, parameters_of

__all__ = [  # the tool set names are re-exported: cases is where tests and checks have always found them
    "EMPTY_PARAMETERS",
    "MODES",
    "NEUTRAL_PROMPT",
    "SEED_ID",
    "Case",
    "Choice",
    "Mode",
    "Pair",
    "ToolSet",
    "equivalence_pairs",
    "load_toolset",
    "named_cases",
    "parallel_off_cases",
    "parameters_of",
    "required_cases",
    "user_sets",
]

Mode = Literal["blocking", "stream"]
Choice = Literal["required", "named"]
MODES: tuple[Mode, ...] = ("blocking", "stream")


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


ToolSets = Sequence[ToolSet] | None  # a run's tool sets; None: the curated ones


def _or_curated(toolsets: ToolSets) -> Sequence[ToolSet]:
    return curated_toolsets() if toolsets is None else toolsets


def required_cases(toolsets: ToolSets = None) -> list[Case]:
    """Every tool set in both modes with tool_choice="required"."""
    return [case for toolset in _or_curated(toolsets) for case in _each_mode(toolset, "required")]


def named_cases(toolsets: ToolSets = None) -> list[Case]:
    """Every tool set in both modes with one function named in tool_choice."""
    return [case for toolset in _or_curated(toolsets) for case in _each_mode(toolset, "named")]


def parallel_off_cases(toolsets: ToolSets = None) -> list[Case]:
    """Multi-tool sets with tool_choice="required" and parallel_tool_calls=false."""
    return [
        case
        for toolset in _or_curated(toolsets)
        if len(toolset.tools) > 1
        for case in _each_mode(toolset, "required", parallel_off=True)
    ]


def equivalence_pairs(toolsets: ToolSets = None) -> list[Pair]:
    """Blocking and streamed forms of every required and named case."""
    return [
        Pair(Case(toolset, "blocking", choice), Case(toolset, "stream", choice))
        for toolset in _or_curated(toolsets)
        for choice in ("required", "named")
    ]


def user_sets(toolsets: ToolSets = None) -> list[ToolSet]:
    """The run's tool sets of --toolsets, each as written (what the user-drawn probes start from)."""
    return [toolset for toolset in _or_curated(toolsets) if toolset.is_user]
