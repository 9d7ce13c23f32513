"""The server under test: preflight of the endpoint, the model to ask for, the server's version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..redact import url_without_credentials

PREFLIGHT_TIMEOUT = 10.0


class PreflightError(RuntimeError):
    """The endpoint cannot be used: the message names the URL and the cause."""


@dataclass(frozen=True)
class Target:
    """A reachable server and what it told about itself."""

    endpoint: str
    model: str
    models: tuple[str, ...]
    server_version: str | None


def preflight(
    endpoint: str, api_key: str, model: str | None, timeout: float = PREFLIGHT_TIMEOUT, verify: str | bool = True
) -> Target:
    """Ask GET /models once; raise PreflightError with the URL and cause when the endpoint is unusable."""
    url = endpoint.rstrip("/") + "/models"
    shown = url_without_credentials(url)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout, verify=verify)
    except httpx.ConnectError as exc:
        raise PreflightError(f"cannot reach {shown}: {exc or 'connection failed'}") from None
    except httpx.TimeoutException:
        raise PreflightError(f"{shown} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise PreflightError(f"GET {shown} failed: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        hint = " (does --endpoint end in /v1?)" if response.status_code == 404 else ""
        raise PreflightError(f"GET {shown} answered HTTP {response.status_code}{hint}: {response.text[:200]!r}")
    ids = _model_ids(response, shown)
    chosen = model or ids[0]
    return Target(endpoint.rstrip("/"), chosen, tuple(ids), server_version(endpoint, headers, verify))


def _model_ids(response: httpx.Response, url: str) -> list[str]:
    try:
        data: Any = response.json()
    except ValueError:
        raise PreflightError(f"GET {url} did not answer JSON: {response.text[:200]!r}") from None
    entries = data.get("data") if isinstance(data, dict) else None
    entries = entries if isinstance(entries, list) else []
    ids = [entry["id"] for entry in entries if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
    if not ids:
        raise PreflightError(f"GET {url} listed no models: {response.text[:200]!r}")
    return ids


def server_version(endpoint: str, headers: dict[str, str], verify: str | bool = True) -> str | None:
    """vLLM answers GET /version beside /v1; other servers may not, which is fine."""
    root = endpoint.rstrip("/").removesuffix("/v1")
    try:
        response = httpx.get(root + "/version", headers=headers, timeout=3.0, verify=verify)
        version = response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None
