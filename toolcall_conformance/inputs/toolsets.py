"""Tool sets: the curated ones of schemas/tools/, and a user's own (--toolsets DIR), read and validated.

A tool set file holds OpenAI's `tools` array, either alone or in an object that may add a conversation
(`messages` or `prompt`), the function a named tool_choice names, an id and a title. Every file is validated
against schemas/tools/toolset.schema.json before it is used; a broken one is a ToolSetError that names the file
and the JSON pointer of what is wrong.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from ..data import TOOLS_DIR, TOOLSET_SCHEMA_FILE

SEED_ID = "weather-seed"
NEUTRAL_PROMPT = "Please use one of the available tools to help me. Choose sensible values for every argument."
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
STRICT_SUFFIX = "-strict"


class ToolSetError(ValueError):
    """A tool set file that cannot be used; the message names the file, the JSON pointer and the rule."""


@dataclass(frozen=True)
class ToolSet:
    """A set of tools and the conversation that asks for one of them."""

    id: str
    title: str
    tools: tuple[dict[str, Any], ...]
    features: tuple[str, ...] = ()
    messages: tuple[dict[str, Any], ...] | None = None
    prompt: str | None = None
    named: str | None = None
    strict: bool = False
    source: str | None = None  # the file of a user's tool set; None for the curated ones

    @property
    def is_seed(self) -> bool:
        """True for the scenario of vLLM's example client, which is sent as the example sends it."""
        return self.id == SEED_ID and self.source is None

    @property
    def is_user(self) -> bool:
        return self.source is not None

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(tool["function"]["name"] for tool in self.tools)

    @property
    def named_function(self) -> str:
        return self.named or self.function_names[0]

    def conversation(self) -> list[dict[str, Any]]:
        if self.messages is not None:
            return copy.deepcopy(list(self.messages))
        return [{"role": "user", "content": self.prompt or NEUTRAL_PROMPT}]

    def strict_variant(self) -> ToolSet:
        """The same set with "strict": true on every function."""
        tools = copy.deepcopy(list(self.tools))
        for tool in tools:
            tool["function"]["strict"] = True
        return ToolSet(
            id=f"{self.id}{STRICT_SUFFIX}",
            title=f"{self.title} (strict)",
            tools=tuple(tools),
            features=(*self.features, "strict"),
            messages=self.messages,
            prompt=self.prompt,
            named=self.named,
            strict=True,
            source=self.source,
        )


def parameters_of(tools: list[dict[str, Any]] | tuple[dict[str, Any], ...], name: str) -> dict[str, Any] | None:
    """The parameters schema of the named function; None when no tool has that name."""
    for tool in tools:
        function = tool.get("function") or {}
        if function.get("name") == name:
            return function.get("parameters", EMPTY_PARAMETERS)
    return None


CURATED = "#/$defs/curated"


@cache
def schema_validator(ref: str = "#") -> Draft202012Validator:
    """A validator for the part of toolset.schema.json at ref: "#" any tool set file, CURATED ours."""
    schema = json.loads(TOOLSET_SCHEMA_FILE.read_text(encoding="utf-8"))
    if ref == "#":
        return Draft202012Validator(schema)
    definitions = {key: value for key, value in schema.items() if key not in ("if", "then", "else")}
    return Draft202012Validator({**definitions, "$ref": ref})


def json_pointer(path: Iterable[str | int]) -> str:
    """RFC 6901: '/tools/0/function/name'; the whole document is ''."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _where(path: Iterable[str | int]) -> str:
    pointer = json_pointer(path)
    return f"at {pointer}" if pointer else "at the top level"


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolSetError(f"{path}: cannot be read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolSetError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


def _check(path: Path, document: Any, curated: bool) -> None:
    """Schema, then what a schema cannot say: valid parameters schemas, unique names, a named tool that exists."""
    error = best_match(schema_validator(CURATED if curated else "#").iter_errors(document))
    if error is not None:
        raise ToolSetError(f"{path}: {_where(error.absolute_path)}: {error.message}")
    tools, prefix = (document, []) if isinstance(document, list) else (document["tools"], ["tools"])
    seen: dict[str, int] = {}
    for index, tool in enumerate(tools):
        function = tool["function"]
        name = function["name"]
        if name in seen:
            where = _where([*prefix, index, "function", "name"])
            raise ToolSetError(f"{path}: {where}: the function name {name!r} is taken by tool {seen[name]}")
        seen[name] = index
        if "parameters" in function:
            try:
                Draft202012Validator.check_schema(function["parameters"])
            except SchemaError as exc:
                where = _where([*prefix, index, "function", "parameters", *exc.path])
                raise ToolSetError(f"{path}: {where}: not a valid JSON Schema: {exc.message}") from None
    named = document.get("named") if isinstance(document, dict) else None
    if named is not None and named not in seen:
        raise ToolSetError(f"{path}: at /named: no tool is called {named!r} (the tools: {', '.join(seen)})")


def load_toolset(path: Path, *, curated: bool = True) -> ToolSet:
    """Read and validate one tool set file; a user's (curated=False) may be a bare tools array."""
    document = _read(path)
    _check(path, document, curated)
    data = {"tools": document} if isinstance(document, list) else document
    toolset_id = data.get("id", path.stem)
    if "id" not in data and not schema_validator("#/$defs/toolset/properties/id").is_valid(toolset_id):
        raise ToolSetError(
            f"{path}: the file name makes no tool set id ({toolset_id!r}: letters, digits and -_. between them, "
            f'not ending in {STRICT_SUFFIX}): rename the file or give an "id"'
        )
    messages = data.get("messages")
    return ToolSet(
        id=toolset_id,
        title=data.get("title", toolset_id),
        tools=tuple(data["tools"]),
        features=tuple(data.get("features", ())),
        messages=tuple(messages) if messages is not None else None,
        prompt=data.get("prompt"),
        named=data.get("named"),
        source=None if curated else str(path),
    )


@cache
def curated_toolsets(directory: Path = TOOLS_DIR) -> tuple[ToolSet, ...]:
    """Every curated tool set, the seed first, each followed by its strict variant."""
    loaded = [load_toolset(path) for path in _set_files(directory)]
    loaded.sort(key=lambda toolset: (not toolset.is_seed, toolset.id))
    return tuple(variant for toolset in loaded for variant in (toolset, toolset.strict_variant()))


def _set_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.json") if not path.name.endswith(".schema.json"))


def user_toolsets(directories: Sequence[str | Path], taken: Iterable[str] = ()) -> tuple[ToolSet, ...]:
    """The tool sets of every *.json file in the given directories, sent as written, in directory then file order.

    taken: ids already in the run (the curated sets'); a user's set may not reuse one, nor another user set's."""
    owners = dict.fromkeys(taken, "a curated tool set")
    found: list[ToolSet] = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            raise ToolSetError(f"--toolsets {directory}: no such directory")
        files = _set_files(directory)
        if not files:
            raise ToolSetError(f"--toolsets {directory}: no tool set files (*.json) in it")
        for path in files:
            toolset = load_toolset(path, curated=False)
            if toolset.id in owners:
                raise ToolSetError(
                    f'{path}: the id {toolset.id!r} is already {owners[toolset.id]}: give this set another "id"'
                    + (" (or run with --only-user-toolsets)" if owners[toolset.id].startswith("a curated") else "")
                )
            owners[toolset.id] = f"the id of {path}"
            found.append(toolset)
    return tuple(found)


def run_toolsets(directories: Sequence[str | Path], only_user: bool) -> tuple[ToolSet, ...]:
    """A run's tool sets: the curated ones (unless only_user), then the user's own."""
    if only_user and not directories:
        raise ToolSetError("--only-user-toolsets needs tool sets of your own: give --toolsets DIR")
    curated = () if only_user else curated_toolsets()
    return (*curated, *user_toolsets(directories, taken=(toolset.id for toolset in curated)))
