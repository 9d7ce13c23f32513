"""The checks of a thinking model's answers: the thought stays in its own field, out of content and the calls.

OpenAI's Chat Completions carry no thought; servers of open models put it beside content in `reasoning` (vLLM
since its PR #27752) or `reasoning_content` (vLLM before it, DeepSeek, llama.cpp), and clients read either: the
OpenAI Agents SDK takes `reasoning_content`, else `reasoning`. These checks hold a server to what such a client
needs. An answer without a thought passes them all: a model need not think, and a server need not send it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..wire.stream import REASONING_FIELDS
from .answer import Answer, decode_arguments
from .registry import OPENAI_FUNCTION_CALLING, Observation, PairObservation, Subject, check
from .schema import shorten
from .verdict import Level

VLLM_REASONING = (
    "vLLM docs, Reasoning Outputs (the thought in `reasoning`, as OpenAI's gpt-oss cookbook advises for Chat"
    " Completions; `reasoning_content` before vLLM PRs #27752 and #33402; content and tool_calls hold the rest)"
)
CLIENTS_READ = (
    "OpenAI Agents SDK, models/chatcmpl_converter.py and chatcmpl_stream_handler.py (read reasoning_content, and"
    " reasoning only when it is a string)"
)
# The markers that open or close a thought in the families vLLM has reasoning parsers for: <think> (Qwen3,
# DeepSeek-R1, GLM, MiniMax, Kimi K2), Seed-OSS's, Kimi-VL's, and gpt-oss's analysis channel.
_THINK_MARKUP = re.compile(r"</?think>|</?seed:think>|◁/?think▷|<\|channel\|>analysis")
# In arguments only a whole thought counts, opened and closed (or gpt-oss's channel): a lone "<think>" can be a
# value the schema asks for (an enum of tags), and a model may write one.
_THOUGHT_BLOCK = re.compile(
    r"<think>.*?</think>|<seed:think>.*?</seed:think>|◁think▷.*?◁/think▷|<\|channel\|>analysis", re.S
)
# A thought shorter than this could be repeated in content by chance ("OK."); one this long was copied there.
REPEATED_AT_LEAST = 16


@check(
    "reasoning.type",
    rule="Where an answer carries a thought (`reasoning` or `reasoning_content`, in the message or in a delta),"
    " it is a string or null.",
    source=f"{VLLM_REASONING}; {CLIENTS_READ}",
)
def reasoning_type(seen: Observation) -> Iterator[str]:
    for where, name, value in seen.answer.odd_reasoning:
        yield f"{where}: {name} is {type(value).__name__}, not a string: {shorten(value)}"


@check(
    "reasoning.no-markup",
    rule="No thinking markup (`<think>`, `</think>` and the like) is left in content or in a call's name, and no"
    " thought in its markup in a call's arguments: the server parses the thought out of the answer.",
    source=f"{VLLM_REASONING}; {OPENAI_FUNCTION_CALLING}",
)
def reasoning_no_markup(seen: Observation) -> Iterator[str]:
    for where, texts, markup in _answer_texts(seen.answer):
        found = next((hit for hit in map(markup.search, texts) if hit), None)
        if found:
            yield f"{where} holds thinking markup {shorten(found.group(0))}: {shorten(found.string)}"


@check(
    "reasoning.not-repeated",
    rule="The thought is not repeated in content: a client shows content as the answer.",
    source=VLLM_REASONING,
)
def reasoning_not_repeated(seen: Observation) -> Iterator[str]:
    # Arguments are left alone: a tool may ask for the thought (a "think" tool), and a model may give it.
    content = seen.answer.content or ""
    for thought in dict.fromkeys(text.strip() for text in seen.answer.reasoning.values()):
        if len(thought) >= REPEATED_AT_LEAST and thought in content:
            yield f"content repeats the thought ({len(thought)} characters): {shorten(thought)}"


@check(
    "reasoning.names-agree",
    rule="An answer that sends its thought under both names (`reasoning` and `reasoning_content`) sends the same"
    " text under each: clients read one or the other.",
    source=CLIENTS_READ,
    level=Level.SHOULD,
)
def reasoning_names_agree(seen: Observation) -> Iterator[str]:
    texts = [seen.answer.reasoning.get(name) for name in REASONING_FIELDS]
    if all(texts) and len(set(texts)) > 1:  # an empty name carries no thought to disagree with
        shown = ", ".join(f"{name} {shorten(text)}" for name, text in zip(REASONING_FIELDS, texts, strict=True))
        yield f"the two names carry different thoughts: {shown}"


@check(
    "equivalence.reasoning",
    rule="For one seeded request, streaming and blocking carry the same thought (either name, ends trimmed), or"
    " neither carries one.",
    source=f"{VLLM_REASONING}; vLLM issue #20663 (the thought missing under tool_choice required)",
    subject=Subject.PAIR,
    level=Level.SHOULD,
)
def equivalence_reasoning(seen: PairObservation) -> Iterator[str]:
    blocking, stream = _thought(seen.blocking.answer), _thought(seen.stream.answer)
    if blocking == stream:
        return
    if blocking is None or stream is None:
        sent, missing = ("blocking", "streamed") if stream is None else ("streamed", "blocking")
        yield f"the {sent} answer carries a thought, the {missing} one none: {shorten(blocking or stream)}"
        return
    yield f"blocking thought {shorten(blocking)} vs streamed {shorten(stream)}"


def _thought(answer: Answer) -> str | None:
    text = answer.reasoning_text
    return text.strip() or None if text is not None else None


def _answer_texts(answer: Answer) -> Iterator[tuple[str, list[str], re.Pattern[str]]]:
    """The answer's own texts by where they are, with the markup that must not be there: content and each call's
    name (any marker), each call's arguments (a marked-up thought; the strings they decode to, one by one, so
    markup is seen through JSON's escapes and never across two values; the raw text when they are no JSON)."""
    if answer.content:
        yield "content", [answer.content], _THINK_MARKUP
    for call in answer.calls:
        if isinstance(call.name, str):
            yield f"{call.label()}'s name", [call.name], _THINK_MARKUP
        if isinstance(call.arguments, str):
            decoded, problem = decode_arguments(call.arguments)
            yield f"{call.label()}'s arguments", [call.arguments] if problem else _strings(decoded), _THOUGHT_BLOCK


def _strings(value: Any) -> list[str]:
    """Every string in a decoded JSON value, keys and values (iteratively: arguments may nest deeply)."""
    found, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    return found
