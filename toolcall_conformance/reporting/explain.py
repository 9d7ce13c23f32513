"""Failure text a person reads, and the reproducer (request JSON and curl line, key never included)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..jsontext import cut, indent
from ..judging.catalogue import all_checks
from ..judging.verdict import Judgement
from ..redact import url_without_credentials
from ..wire.client import Exchange
from .results import violation_record

RESPONSE_SHOWN = 1200


def curl_line(exchange: Exchange) -> str:
    """A runnable curl command; the key is read from $OPENAI_API_KEY, never spelled out."""
    parts = ["curl", "-sS"] + (["-N"] if exchange.stream else []) + [shlex.quote(url_without_credentials(exchange.url))]
    parts += ["-H", shlex.quote("Content-Type: application/json"), "-H", '"Authorization: Bearer $OPENAI_API_KEY"']
    if exchange.sent is not None:  # a body that is not the request's JSON, sent byte for byte
        return " ".join([*parts, "--data-binary", shlex.quote(exchange.sent.decode("utf-8", errors="replace"))])
    body = json.dumps(exchange.request, ensure_ascii=False, separators=(",", ":"))
    return " ".join([*parts, "-d", shlex.quote(body)])


def response_text(exchange: Exchange, limit: int = RESPONSE_SHOWN) -> str:
    """The response as it came on the wire, cut to a readable size."""
    if exchange.transport_error:
        return f"({exchange.transport_error.kind}: {exchange.transport_error.message})"
    text = exchange.raw.decode("utf-8", errors="replace")
    shown = text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return f"HTTP {exchange.status} {exchange.content_type}\n{shown}"


def render(judgement: Judgement) -> str:
    """The text a failing (or warning) test shows: each broken rule, then how to reproduce."""
    lines = [f"{judgement.test_id}: {judgement.verdict.value}, {_summary(judgement)}"]
    for violation in judgement.violations:
        lines.append(violation.line())
    lines.append("")
    registry = all_checks()
    for check_id in judgement.failed_checks:
        registered = registry.get(check_id)
        if registered:
            lines.append(f"  {check_id}: {registered.rule} ({registered.source})")
    if judgement.note:
        lines.append(judgement.note)
    for exchange in judgement.exchanges:
        lines += ["", *exchange_lines(exchange, judgement.reproducer)]
    return "\n".join(lines)


def exchange_lines(exchange: Exchange, reproducer: str | None) -> list[str]:
    """One exchange as a failure shows it: the request's mode and time, the reproducer, curl line, response."""
    mode = "stream" if exchange.stream else "blocking"
    lines = [f"--- {mode} request, answered in {exchange.elapsed:.2f} s"]
    if reproducer:
        lines.append(f"Request JSON: {reproducer}")
    return [*lines, "Reproduce with:", "  " + curl_line(exchange), "Response:", indent(response_text(exchange))]


def _summary(judgement: Judgement) -> str:
    count = len(judgement.failed_checks)
    return f"{count} check{'s' if count != 1 else ''} broken: {', '.join(judgement.failed_checks)}"


def reproducer_document(judgement: Judgement) -> dict[str, Any]:
    """What a reproducer file holds: requests, curl lines, and the responses as received."""
    return {
        "test": judgement.test_id,
        "verdict": judgement.verdict.value,
        "violations": [violation_record(violation) for violation in judgement.violations],
        "exchanges": [
            {
                "url": url_without_credentials(exchange.url),
                "request": exchange.request if exchange.sent is None else exchange.sent.decode("utf-8", "replace"),
                "curl": curl_line(exchange),
                "status": exchange.status,
                "response": response_text(exchange, limit=200_000),
            }
            for exchange in judgement.exchanges
        ],
    }


def one_line(judgement: Judgement) -> str:
    """A verdict in one line, for skip reasons and summaries."""
    return cut(judgement.note, 300) if judgement.note else judgement.verdict.value
