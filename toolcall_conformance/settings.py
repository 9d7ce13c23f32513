"""One frozen Settings object, resolved from command line, environment and ini, in that order."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest


@dataclass(frozen=True)
class Option:
    """A suite option: one command-line flag, one environment variable, one ini key.

    kind "value" takes one value; "paths" is repeatable (the environment separates them with os.pathsep, the
    ini file with new lines); "flag" takes no value (the environment and ini say 1/true/yes or 0/false/no)."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    default: Any = None
    env: str = ""
    kind: Literal["value", "paths", "flag"] = "value"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env_var(self) -> str:
        return self.env or "TCC_" + self.name.upper()

    @property
    def ini_key(self) -> str:
        return "tcc_" + self.name


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"must be positive, got {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"must be 0 or more, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(f"must be a share from 0 to 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"must be positive, got {text}")
    return value


def _yes_or_no(text: str) -> bool:
    answer = text.strip().lower()
    if answer not in ("1", "true", "yes", "0", "false", "no"):
        raise ValueError(f"must be 1/true/yes or 0/false/no, got {text!r}")
    return answer in ("1", "true", "yes")


def _name_or_none(text: str) -> str | None:
    """A name, or None for "none" (what the matrix's --reasoning-parser also calls the default)."""
    return None if text.strip().lower() in ("", "none") else text.strip()


FAIL_ON = ("regression", "any")
# Half: a healthy target leaves almost nothing unjudged (the embedded vLLM: 0 of 218 tests), while a run whose
# answers are mostly truncated tested the model's length, not the contract; and a server may choose to say "length".
MAX_UNJUDGED = 0.5


def _fail_on(text: str) -> str:
    if text not in FAIL_ON:
        raise ValueError(f"must be one of {', '.join(FAIL_ON)}, got {text!r}")
    return text


OPTIONS: tuple[Option, ...] = (
    Option("endpoint", "base URL of the server under test, ending in /v1 (default: start the embedded vLLM)"),
    Option("model", "model id to request (default: the first id of GET /v1/models)"),
    Option(
        "api_key",
        "API key sent as a Bearer token; never written to reports (default: $OPENAI_API_KEY, else EMPTY)",
        env="OPENAI_API_KEY",
        default="EMPTY",
    ),
    Option("request_timeout", "seconds one request may take, headers to last byte", _positive_float, 60.0),
    Option("max_tokens", "max_tokens sent with every request", _positive_int, 256),
    Option("seed", "per-request sampling seed, so streamed and blocking answers can be compared", int, 1234),
    Option("temperature", "temperature sent with every request (default: not sent, the server decides)", float),
    Option("concurrency", "requests in flight at once", _positive_int, 16),
    Option(
        "repeat", "send each case K times (seeds seed..seed+K-1); a test passes only if all K pass", _positive_int, 1
    ),
    Option("retry_overloaded", "retries of a request answered 429 or 503, with backoff (0: none)", int, 0),
    Option("ca_bundle", "CA bundle for TLS verification of https endpoints (verification is always on)", str),
    Option("report_dir", "where run reports are written", str, "reports"),
    Option(
        "progress_every", "seconds between progress lines while tests run (0: after every test)", _not_negative, 10.0
    ),
    Option(
        "baseline",
        "an expectation file or an earlier results.json: known failures become xfail, the run is diffed against it",
        str,
    ),
    Option(
        "fail_on",
        "with --baseline, what makes the exit status non-zero: regression or any change",
        _fail_on,
        "regression",
    ),
    Option(
        "max_unjudged",
        "the run fails when more than this share (0 to 1) of its tests could not be judged (truncated or"
        " inconclusive; tests not run are not counted); 0: any such test fails the run, 1: never. Half by default:"
        " a healthy target leaves almost none unjudged (the embedded vLLM: 0 of 218), a run of mostly truncated"
        " answers tested the model's length, not the contract",
        _share,
        MAX_UNJUDGED,
    ),
    Option(
        "target_engine",
        "embedded target's engine: vllm (vLLM's CPU build) or llamacpp (llama.cpp's server, the same tiny model as"
        " GGUF; hermes, shaped and default settings only)",
        str,
        "vllm",
    ),
    Option(
        "target_flavour", "embedded target's model: shaped (useful answers) or random (random weights)", str, "shaped"
    ),
    Option(
        "target_parser",
        "embedded target's --tool-call-parser, the tiny model built for its family: hermes, pythonic, llama3_json,"
        " qwen3_coder, mistral, deepseek_v31, kimi_k2, glm45 or granite4",
        str,
        "hermes",
    ),
    Option(
        "target_reasoning_parser",
        "embedded target's --reasoning-parser, the tiny model then thinking before it calls: qwen3 or deepseek_r1"
        " (with hermes), glm45 (with glm45); default: none, the model does not think",
        _name_or_none,
    ),
    Option("target_strict_level", "embedded target's --tool-strict-level: auto, function or parameter", str),
    Option(
        "target_backend",
        "embedded target's structured-output backend: auto (vLLM's default, no flag), xgrammar, guidance, outlines"
        " or lm-format-enforcer",
        str,
        "auto",
    ),
    Option("target_args", "more vLLM arguments for the embedded target, space-separated", str, ""),
    Option("target_timeout", "seconds the embedded target may take to start", _positive_float, 600.0),
    Option(
        "toolsets",
        "a directory of your own tool sets (one JSON file each, OpenAI's tools format); repeatable",
        default=(),
        kind="paths",
    ),
    Option(
        "only_user_toolsets",
        "run only the tool sets of --toolsets, none of the suite's own",
        _yes_or_no,
        False,
        kind="flag",
    ),
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """What the suite was told, after defaults; one object shared by every part of a run."""

    endpoint: str | None
    model: str | None
    api_key: str
    request_timeout: float
    max_tokens: int
    seed: int
    temperature: float | None
    concurrency: int
    repeat: int
    retry_overloaded: int
    ca_bundle: str | None
    report_dir: str
    progress_every: float
    baseline: str | None
    fail_on: str
    max_unjudged: float
    target_engine: str
    target_flavour: str
    target_parser: str
    target_reasoning_parser: str | None
    target_strict_level: str | None
    target_backend: str
    target_args: str
    target_timeout: float
    toolsets: tuple[str, ...]
    only_user_toolsets: bool

    @property
    def verify(self) -> str | bool:
        """What httpx verifies TLS against: the given CA bundle, else the system's."""
        return self.ca_bundle or True

    def with_target(self, endpoint: str, model: str) -> Settings:
        """The same settings pointed at a resolved endpoint and model."""
        return dataclasses.replace(self, endpoint=endpoint.rstrip("/"), model=model)


def add_options(parser: pytest.Parser) -> None:
    """Register every option in one named group, each with its ini key."""
    group = parser.getgroup("toolcall-conformance", "tool-call conformance suite")
    for option in OPTIONS:
        dest, help_text = "tcc_" + option.name, _help_with_sources(option)
        if option.kind == "flag":
            group.addoption(option.flag, dest=dest, action="store_const", const="yes", default=None, help=help_text)
            parser.addini(option.ini_key, help=option.help, type="bool", default=None)
        elif option.kind == "paths":
            group.addoption(option.flag, dest=dest, action="append", default=None, metavar="DIR", help=help_text)
            parser.addini(option.ini_key, help=option.help, type="paths", default=[])
        else:
            group.addoption(option.flag, dest=dest, default=None, help=help_text)
            parser.addini(option.ini_key, help=option.help, default=None)


def _help_with_sources(option: Option) -> str:
    default = "" if option.default in (None, ()) else f"; default {option.default}"
    return f"{option.help} [env {option.env_var}, ini {option.ini_key}{default}]"


def resolve(config: pytest.Config, environ: dict[str, str] | None = None) -> Settings:
    """Settings from the command line, then the environment, then the ini file, then defaults."""
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, Any] = {}
    given: set[str] = set()
    for option in OPTIONS:
        if option.kind == "paths":
            values[option.name], source = _paths(config, environ, option)
            if values[option.name]:
                given.add(option.name)
            continue
        raw, source = _raw_value(config, environ, option)
        if raw:
            given.add(option.name)
        if raw is None or raw == "":
            values[option.name] = option.default
            continue
        try:
            values[option.name] = option.parse(raw)
        except ValueError as exc:
            raise pytest.UsageError(f"{option.flag} (from {source}): {exc}") from None
    if values["endpoint"]:
        values["endpoint"] = values["endpoint"].rstrip("/")
    if values["ca_bundle"] and not os.path.isfile(values["ca_bundle"]):
        raise pytest.UsageError(f"--ca-bundle {values['ca_bundle']}: no such file")
    if "fail_on" in given and not values["baseline"]:
        raise pytest.UsageError("--fail-on decides what fails a run compared with a baseline: give --baseline too")
    if values["retry_overloaded"] < 0:
        raise pytest.UsageError("--retry-overloaded must be 0 or more")
    return Settings(**values)


def _raw_value(config: pytest.Config, environ: dict[str, str], option: Option) -> tuple[str | None, str]:
    cli = config.getoption("tcc_" + option.name, default=None)
    if cli is not None:
        return str(cli), "command line"
    if option.env_var in environ:
        return environ[option.env_var], f"${option.env_var}"
    ini = config.getini(option.ini_key)
    if ini is not None and ini != "":
        return ("yes" if ini else "no") if isinstance(ini, bool) else str(ini), f"ini {option.ini_key}"
    return None, "default"


def _paths(config: pytest.Config, environ: dict[str, str], option: Option) -> tuple[tuple[str, ...], str]:
    """Every path the first source that gives any gives; relative paths as given (the ini's: to its file)."""
    cli = config.getoption("tcc_" + option.name, default=None)
    if cli:
        return tuple(cli), "command line"
    if environ.get(option.env_var):
        return tuple(filter(None, environ[option.env_var].split(os.pathsep))), f"${option.env_var}"
    ini = config.getini(option.ini_key)
    if ini:
        return tuple(str(path) for path in ini), f"ini {option.ini_key}"
    return tuple(option.default), "default"
