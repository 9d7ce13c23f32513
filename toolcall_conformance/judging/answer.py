"""One view of an answer's tool calls, content and finish reason, whether it was streamed or not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..jsontext import strict_json
from ..wire.client import Exchange
from ..wire.stream import REASONING_FIELDS, Reassembly, fold_reasoning, reassemble


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
    """What a client reads from one response: calls, content, finish reason; and what says whether it was cut:
    the request's token limit and the completion's token count (usage), where the answer gives one."""

    calls: list[Call] = field(default_factory=list)
    content: str | None = None
    finish_reason: Any = None
    stream: Reassembly | None = None
    limit: int | None = None  # the request's max_tokens (or max_completion_tokens)
    completion_tokens: int | None = None  # usage.completion_tokens: the body's, or a stream's last usage
    usage_owed: bool = False  # it must carry usage: every blocking answer, a stream that asked for include_usage
    reasoning: dict[str, str] = field(default_factory=dict)  # the thought by field name (REASONING_FIELDS)
    odd_reasoning: list[tuple[str, str, Any]] = field(default_factory=list)  # (where, field, value) no string

    @property
    def reasoning_text(self) -> str | None:
        """The answer's thought: `reasoning` (vLLM's name, as OpenAI advises) if filled, else `reasoning_content`.

        Clients differ in which they read first (the Agents SDK takes reasoning_content); reasoning.names-agree
        holds a server to one text under both."""
        return next((self.reasoning[name] for name in REASONING_FIELDS if self.reasoning.get(name)), None)

    @property
    def claims_length(self) -> bool:
        """The server says the answer was cut at the token limit (finish_reason "length")."""
        return self.finish_reason == "length"

    @property
    def reached_limit(self) -> bool | None:
        """Whether the completion's tokens reached the request's limit; None when no usage or no limit says."""
        if self.completion_tokens is None or self.limit is None:
            return None
        return self.completion_tokens >= self.limit

    @property
    def last_call_cut(self) -> bool:
        """The last call's arguments are a string that is no complete JSON, as a call cut off mid-way leaves it."""
        if not self.calls or not isinstance(self.calls[-1].arguments, str):
            return False
        return self.calls[-1].parsed_arguments()[1] is not None

    @property
    def length_proven(self) -> bool:
        """Whether the facts agree with a "length" claim.

        With usage and a limit: the completion reached it. An answer that owes usage and carries none proves
        nothing (a server could drop it to keep its claim). Where there is nothing to count with (a stream that
        did not ask for usage, a request without max_tokens), only a last call whose arguments are complete JSON
        contradicts it: an answer with no call, or with a cut one, may have run to the limit."""
        reached = self.reached_limit
        if reached is not None:
            return reached
        if self.usage_owed and self.completion_tokens is None:
            return False
        return not self.calls or self.last_call_cut

    @property
    def cut_unclaimed(self) -> bool:
        """Cut at the limit by the facts (usage reached it, the last call is cut), yet finish_reason says it
        finished: vLLM #58228's blocking "tool_calls" over a truncation."""
        return not self.claims_length and self.reached_limit is True and self.last_call_cut

    @property
    def truncated(self) -> bool:
        """Cut at the token limit, by the facts: a proven "length", or a cut the server did not own up to. The
        rules of a complete answer are not judged on it; a "length" the facts contradict is no truncation."""
        return (self.claims_length and self.length_proven) or self.cut_unclaimed

    def truncation_evidence(self) -> str:
        """What shows that the answer was cut, for a verdict's note."""
        if self.reached_limit:
            return f"usage.completion_tokens {self.completion_tokens} reached max_tokens {self.limit}"
        nothing = "the request set no max_tokens" if self.limit is None else "a stream without usage"
        if self.last_call_cut:
            return f"{nothing}; the last call's arguments are cut"
        return f"{nothing}, and no call to contradict it"


def answer_of(exchange: Exchange) -> Answer:
    """The answer a 200 response carries; empty for anything else."""
    if not exchange.ok:
        return Answer()
    answer = _from_stream(reassemble(exchange.events)) if exchange.stream else _from_blocking(exchange.json_body)
    answer.limit = _token_limit(exchange.request)
    options = exchange.request.get("stream_options")
    answer.usage_owed = not exchange.stream or (isinstance(options, dict) and options.get("include_usage") is True)
    return answer


def _token_limit(request: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = request.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _completion_tokens(usage: Any) -> int | None:
    value = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _from_stream(reassembly: Reassembly) -> Answer:
    calls = [
        Call(position, call.id, call.type, call.name, call.arguments)
        for position, call in enumerate(reassembly.ordered_calls())
    ]
    completion = _completion_tokens(reassembly.usages[-1][1]) if reassembly.usages else None
    return Answer(
        calls,
        reassembly.content,
        reassembly.finish_reason,
        stream=reassembly,
        completion_tokens=completion,
        reasoning=dict(reassembly.reasoning),
        odd_reasoning=[(f"event {position}", name, value) for position, name, value in reassembly.odd_reasoning],
    )


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
    usage = body.get("usage") if isinstance(body, dict) else None
    answer = Answer(calls, content, choice.get("finish_reason"), completion_tokens=_completion_tokens(usage))
    fold_reasoning(message, answer.reasoning, answer.odd_reasoning, "message")
    return answer


def _first_choice(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return {}
    for choice in body["choices"]:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return {}
