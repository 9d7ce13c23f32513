"""The documentation says what the code and the committed runs say: generated blocks are up to date, the README
stays a short entry with CI's two quickstart commands, and nothing points outside the repository."""

import json
import re
from pathlib import Path

from toolcall_conformance import reference
from toolcall_conformance.judging.catalogue import all_checks
from toolcall_conformance.matrix import cli as matrix_cli
from toolcall_conformance.matrix.columns import configurations
from toolcall_conformance.settings import OPTIONS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def page(relative: str) -> str:
    return (DOCS / relative).read_text(encoding="utf-8")


def test_every_generated_block_is_what_its_source_makes():
    """Run `python -m toolcall_conformance reference` after changing a check, an option or a committed matrix."""
    assert reference.stale(ROOT) == []


def test_every_block_a_page_names_has_a_generator_and_every_generator_a_page():
    named = [found["name"] for path in DOCS.rglob("*.md") for found in reference.BLOCK.finditer(path.read_text())]
    assert sorted(named) == sorted(reference.GENERATORS)


def test_every_check_has_its_entry_with_a_recorded_failure():
    checks = page("reference/checks.md")
    missing = [found for found in all_checks() if f"### `{found}` {{ #{found} }}" not in checks]
    assert missing == []
    assert "example failure: none recorded" not in checks


def test_every_option_is_in_the_options_reference():
    options = page("reference/options.md")
    assert [option.flag for option in OPTIONS if f"| `{option.flag}` | `{option.env_var}` |" not in options] == []


def test_every_option_of_the_matrix_is_explained_in_its_guide():
    """The guide's hand-written table, whose meanings say more than --help, cannot fall behind the parser."""
    flags = [flag for action in matrix_cli._parser()._actions for flag in action.option_strings]
    rows = [line for line in page("guides/release-matrix.md").splitlines() if line.startswith("| `--")]
    missing = [
        flag
        for flag in flags
        if flag.startswith("--") and flag != "--help"
        if not any(row.startswith((f"| `{flag} ", f"| `{flag}`")) for row in rows)
    ]
    assert missing == []


def test_the_committed_configuration_matrix_is_the_planned_one_but_the_timing_dependent_columns():
    committed = json.loads((ROOT / reference.CONFIGURATION_MATRIX).read_text(encoding="utf-8"))
    planned = [column.label for column in configurations(["0.32.0"])]
    not_committed = ["0.32.0 mistral", "0.32.0 deepseek_v31"]  # they depend on timing (the document says why)
    assert [column["label"] for column in committed["columns"]] == [
        label for label in planned if label not in not_committed
    ]


def test_the_readme_is_a_short_entry():
    assert len(README.splitlines()) <= 150


def test_the_readme_quickstart_is_what_ci_runs():
    """Exactly two commands, each run by .ci/run as written."""
    quickstart = README.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    block = quickstart.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands == ["scripts/conformance", "scripts/selftest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert re.search(rf"^\s*{re.escape(command)}( \|\||$)", ci, re.M), f".ci/run does not run {command}"


def test_the_readme_s_links_lead_to_files_of_the_repository():
    targets = [target.split("#", 1)[0] for target in LINK.findall(README) if not target.startswith("http")]
    assert targets, "the README links into the docs"
    missing = [
        target
        for target in targets
        if not (ROOT / target).resolve().is_relative_to(ROOT) or not (ROOT / target).exists()
    ]
    assert missing == []


def test_nothing_points_outside_the_repository():
    """The docs are the product's: no file of the workspace around the checkout is named or linked."""
    offenders = []
    for path in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        text = path.read_text(encoding="utf-8")
        if "../shared" in text or "TARGET_FACTS" in text:
            offenders.append(path.relative_to(ROOT).as_posix())
        for target in LINK.findall(text):
            if target.startswith(("http", "#", "mailto:")):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT):
                offenders.append(f"{path.relative_to(ROOT).as_posix()}: {target}")
    assert offenders == []


def test_the_verdicts_page_has_every_verdict_in_the_order_of_severity():
    """Its table is prose about each verdict (how pytest ends it, what it means); the vocabulary is the code's."""
    from toolcall_conformance.judging.verdict import SEVERITY, Verdict

    verdicts = page("reference/verdicts.md")
    assert [verdict.value for verdict in Verdict if f"\n| {verdict.value} | " not in verdicts] == []
    order = ", ".join(f"`{verdict.value}`" for verdict in SEVERITY)
    assert f"most severe first, decides which verdict stands for several: {order}." in " ".join(verdicts.split())
