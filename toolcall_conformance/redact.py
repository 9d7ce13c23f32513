"""Keeps credentials out of everything the suite writes or prints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"
# Shorter keys are placeholders or test values ("EMPTY", "test"): replacing them in every text would mangle
# test ids and words, and no real key is that short.
MIN_SECRET_LENGTH = 8


def url_without_credentials(url: str) -> str:
    """The URL with any user:password@ part removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret in text."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    return text


def scrub_data(value: Any, secrets: list[str]) -> Any:
    """A copy of JSON-like data with every string (keys included) scrubbed: still valid data after it."""
    return map_strings(value, lambda text: scrub(text, secrets))


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """A copy of JSON-like data with `change` applied to every string, keys included."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {map_strings(key, change): map_strings(item, change) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_strings(item, change) for item in value]
    return value
