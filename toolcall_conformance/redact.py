"""Keeps credentials out of everything the suite writes or prints."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

REDACTED = "[REDACTED]"


def url_without_credentials(url: str) -> str:
    """The URL with any user:password@ part removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret (ignoring the placeholder key EMPTY) in text."""
    for secret in secrets:
        if secret and secret != "EMPTY" and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
