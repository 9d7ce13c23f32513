"""The README documents every check and every option the suite has."""

from pathlib import Path

from toolcall_conformance.checks import REGISTRY
from toolcall_conformance.settings import OPTIONS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_check_is_in_the_readme():
    assert [check for check in REGISTRY if f"| `{check}` |" not in README] == []


def test_every_option_is_in_the_readme():
    assert [option.flag for option in OPTIONS if f"| `{option.flag}` | `{option.env_var}` |" not in README] == []
