"""Keeps credentials out of everything the suite writes or prints."""

from __future__ import annotations

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
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub_data(key, secrets): scrub_data(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(item, secrets) for item in value]
    return value
