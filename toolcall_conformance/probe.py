"""Probe a server one JSON Schema keyword at a time: which keywords it refuses, breaks, or holds.

python -m toolcall_conformance probe --endpoint=URL [--examples N] [--stream] [--only KEYWORD ...]
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.database
from hypothesis import strategies as st

from .inputs.cases import Case, Mode
from .inputs.strategies import KEYWORD_PROBES, Tool, generated_case, keyword_tool_sets
from .judging.generated import Example, Outcome, classify
from .settings import OPTIONS, Settings
from .wire.client import Exchange

# ---------------------------------------------------------------- probing a server keyword by keyword


@dataclass
class ProbeResult:
    """What the examples of one keyword probe came to, and which schema keywords the broken calls broke."""

    cells: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)

    def add(self, example: Example) -> None:
        self.cells[_probe_cell(example)] += 1
        self.broken.update(example.broken)

    @property
    def verdict(self) -> str:
        """refused, broken or holds, in that order of precedence; "untested" when no call came back."""
        for verdict in ("refused", "refused-in-200-stream", "broken", "holds"):
            if self.cells[verdict]:
                return verdict
        return "untested"

    def cell(self) -> str:
        counts = ", ".join(f"{count} {name}" for name, count in self.cells.most_common())
        broke = f"; broke {', '.join(self.broken)}" if self.broken else ""
        return f"**{self.verdict}** ({counts}{broke})"


def probe(
    send: Callable[[dict[str, Any]], Exchange],
    body_of: Callable[[Case], dict[str, Any]],
    probes: Iterable[str],
    examples: int,
    seed: int,
    modes: tuple[Mode, ...] = ("blocking",),
) -> dict[str, dict[str, ProbeResult]]:
    """Send `examples` generated tools per keyword probe, strict and plain, and sum up what came back."""
    results: dict[str, dict[str, ProbeResult]] = {}
    for name in probes:
        results[name] = {}
        for strict in (True, False):
            result = ProbeResult()
            _send_probe(name, strict, lambda case: send(body_of(case)), result, examples, seed, modes)
            results[name]["strict" if strict else "plain"] = result
    return results


def _send_probe(
    name: str,
    strict: bool,
    answer: Callable[[Case], Exchange],
    result: ProbeResult,
    examples: int,
    seed: int,
    modes: tuple[Mode, ...],
) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=examples, database=None, deadline=None, phases=[hypothesis.Phase.generate])
    @hypothesis.given(tools=keyword_tool_sets(name, strict), sampling_seed=st.integers(0, 2**31 - 1))
    def send_one(tools: list[Tool], sampling_seed: int) -> None:
        for mode in modes:
            case = generated_case(tools, mode, "required", sampling_seed=sampling_seed)
            result.add(classify(f"probe[{name}]", case, answer(case)))

    send_one()


def _probe_cell(example: Example) -> str:
    """What a probe example says about its keyword: refused, broken, holds, or something else happened."""
    if example.outcome is Outcome.REFUSED:
        return "refused"
    if example.refused:
        return "refused-in-200-stream"
    if any(not call.valid for call in example.calls):
        return "broken"
    if example.calls:
        return "holds"
    if example.outcome is Outcome.TRUNCATED:
        return "truncated"
    if example.outcome in (Outcome.SERVER_ERROR, Outcome.TIMEOUT, Outcome.ERROR):
        return example.outcome.value
    return "no-call"


def probe_table(results: dict[str, dict[str, ProbeResult]]) -> str:
    """Probe results as markdown: per keyword, the verdict for strict and for plain tools, with counts."""
    lines = ["| keyword | strict tools | plain tools |", "|---|---|---|"]
    for name, by_strictness in results.items():
        cells = [by_strictness[s].cell() if s in by_strictness else "-" for s in ("strict", "plain")]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m toolcall_conformance probe`: send generated tools keyword by keyword, print what came back."""
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance probe", description=__doc__)
    parser.add_argument("--endpoint", required=True, help="base URL ending in /v1")
    parser.add_argument("--model", default=None, help="model id (default: the first of GET /models)")
    parser.add_argument("--examples", type=int, default=8, help="examples per keyword and strictness")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed of the probe")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--stream", action="store_true", help="also send each example streamed")
    parser.add_argument("--only", nargs="*", default=None, help="probe ids (default: all of KEYWORD_PROBES)")
    return _probe_command(parser.parse_args(argv))


def _probe_command(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    import httpx

    from .wire.client import send
    from .wire.preflight import preflight

    defaults = Settings(**{option.name: option.default for option in OPTIONS})
    api_key = os.environ.get("OPENAI_API_KEY", defaults.api_key)
    target = preflight(args.endpoint, api_key, args.model)
    options = dataclasses.replace(defaults, api_key=api_key, max_tokens=args.max_tokens)
    options = options.with_target(target.endpoint, target.model)

    async def one(body: dict[str, Any]) -> Exchange:
        async with httpx.AsyncClient() as http:
            return await send(http, target.endpoint, api_key, body, options.request_timeout)

    modes: tuple[Mode, ...] = ("blocking", "stream") if args.stream else ("blocking",)
    results = probe(
        lambda body: asyncio.run(one(body)),
        lambda case: case.body(options),
        args.only or list(KEYWORD_PROBES),
        args.examples,
        args.seed,
        modes,
    )
    print(f"server {target.endpoint} ({target.server_version or 'version unknown'}), model {target.model}")
    print(probe_table(results))
    return 0
