"""The package's layers import downwards only, and every command of the command line starts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from toolcall_conformance.__main__ import COMMANDS

PACKAGE = Path(__file__).resolve().parent.parent / "toolcall_conformance"
# What each layer may import from the package besides itself; the shared helpers are below every layer.
SHARED = {"data", "jsontext", "redact", "settings", "__init__"}
ALLOWED = {
    "inputs": SHARED,
    "wire": SHARED,
    "judging": SHARED | {"inputs", "wire"},
    "reporting": SHARED | {"inputs", "wire", "judging"},
    "target": SHARED,
}


def _imports(path: Path) -> set[str]:
    """The top-level parts of the package (layer or module) that a module imports, relative imports only."""
    here = list(path.relative_to(PACKAGE).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - node.level + 1]
            target = base + (node.module.split(".") if node.module else [])
            found.add(target[0] if target else "__init__")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {imported}"
        for path in (PACKAGE / layer).rglob("*.py")
        for imported in _imports(path) - ALLOWED[layer] - {layer}
    }
    assert not wrong


def test_no_absolute_imports_of_the_package_inside_it() -> None:
    # Relative imports are what the layer test reads; an absolute one would slip past it.
    absolute = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and not node.level
        and (node.module or "").startswith("toolcall_conformance")
    ]
    assert not absolute


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_help(command: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "toolcall_conformance", command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "usage: python -m toolcall_conformance" in run.stdout


def test_an_unknown_command_is_one_line_and_exit_2() -> None:
    run = subprocess.run([sys.executable, "-m", "toolcall_conformance", "nope"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"python -m toolcall_conformance: unknown command 'nope'; one of {', '.join(COMMANDS)}"
    ]


def test_the_wheel_lists_every_package_of_the_package() -> None:
    """pyproject.toml lists the packages explicitly (its mapped ones are not found by a search): none is left out."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(PACKAGE.parent).parts) for path in PACKAGE.rglob("__init__.py")}
    assert found <= listed
