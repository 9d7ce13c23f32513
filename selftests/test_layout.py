"""The package's layers import downwards only, with no cycle (selftests/import_graph.py, scripts/import-graph),
and every command of the command line starts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from selftests import import_graph
from toolcall_conformance.__main__ import COMMANDS

PACKAGE = import_graph.PACKAGE


@pytest.fixture(scope="module")
def graph() -> import_graph.Graph:
    return import_graph.scan()


def test_the_package_has_no_import_cycle(graph: import_graph.Graph) -> None:
    """Lazy imports count: one inside a function hides a cycle from Python at import time, not from the design."""
    found = [line for component in import_graph.cycles(graph) for line in import_graph.describe_cycle(graph, component)]
    assert not found, "import cycles (scripts/import-graph shows the graph):\n" + "\n".join(found)


def test_every_import_points_down_the_layers(graph: import_graph.Graph) -> None:
    """The table is import_graph.RANKS: a module imports lower ranks, or modules of its own subpackage."""
    found = [import_graph.describe_violation(edge) for edge in import_graph.violations(graph)]
    assert not found, "imports across the layers (selftests/import_graph.py RANKS):\n" + "\n".join(found)


def test_every_module_has_its_place_in_the_layers(graph: import_graph.Graph) -> None:
    found = import_graph.unplaced(graph)
    assert not found, "modules with no rank: add their subpackage or module to selftests/import_graph.py RANKS: " + (
        ", ".join(found)
    )
    assert not graph.unresolved, "\n".join(graph.unresolved)


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_checker_finds_a_cycle_a_crossing_and_an_unplaced_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Proof that the three tests above can fail: a fake package with one of each."""
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "base.py": "from .layer import thing\n",  # the foundation imports a layer: a name of its __init__
            "stray.py": "",  # in no rank
            "layer/__init__.py": "thing = 1\n",
            "layer/a.py": "from . import b\n",
            "layer/b.py": "def later():\n    from .a import name\n",  # lazy: counts
        },
    )
    ranks = {"__init__": 0, "base": 0, "layer": 1}
    graph = import_graph.scan(package)

    assert import_graph.cycles(graph) == [["layer.a", "layer.b"]]
    assert import_graph.describe_cycle(graph, ["layer.a", "layer.b"]) == [
        "layer.a, layer.b: e.g. layer.a -> layer.b -> layer.a",
        "  layer.a -> layer.b (line 1)",
        "  layer.b -> layer.a (lazy, line 2)",
    ]
    assert [import_graph.describe_violation(edge, ranks) for edge in import_graph.violations(graph, ranks)] == [
        "base -> layer (line 1): base is rank 0, layer rank 1; only lower ranks may be imported"
    ]
    assert import_graph.unplaced(graph, ranks) == ["stray"]
    lines, ok = import_graph.report(graph, ranks)
    assert not ok
    assert "  layer.b [rank 1]: layer.a (lazy)" in lines
    # scripts/import-graph: exit 0 unless --check (and the real table places none of these modules)
    assert import_graph.main(["--package", str(package)]) == 0
    assert "cycles:\n  layer.a, layer.b: e.g. layer.a -> layer.b -> layer.a\n" in capsys.readouterr().out
    assert import_graph.main(["--check", "--package", str(package)]) == 1
    assert import_graph.main(["--dot", "--package", str(package)]) == 0
    assert '"layer.b" -> "layer.a" [style=dashed, color=orange];' in capsys.readouterr().out


def test_the_checker_resolves_every_form_of_import(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "VERSION = 1\n",
            "top.py": "\n".join(
                [
                    "from typing import TYPE_CHECKING",
                    "import json",  # not the package: no edge
                    "import pkg.sub.deep",
                    "from pkg import util",
                    "from pkg.sub import NAME",  # a name of sub/__init__.py
                    "from . import VERSION",  # a name of the package's __init__.py
                    "from .sub import deep as again",
                    "if TYPE_CHECKING:",
                    "    from .sub.other import Thing",
                    "class Later:",
                    "    def method(self):",
                    "        from .util import helper",
                    "",
                ]
            ),
            "util.py": "from .sub.deep import x\n",
            "sub/__init__.py": "NAME = 1\n",
            "sub/deep.py": "from .. import util\nfrom ..sub import other\n",
            "sub/other.py": "from ... import outside\n",  # above the package's top
        },
    )
    graph = import_graph.scan(package)

    assert sorted((edge.source, edge.target, edge.kind) for edge in graph.imports) == [
        ("sub.deep", "sub.other", "top"),
        ("sub.deep", "util", "top"),
        ("top", "__init__", "top"),
        ("top", "sub", "top"),
        ("top", "sub.deep", "top"),
        ("top", "sub.deep", "top"),  # two statements
        ("top", "sub.other", "typing"),
        ("top", "util", "lazy"),
        ("top", "util", "top"),
        ("util", "sub.deep", "top"),
    ]
    assert graph.unresolved == ("sub/other.py:1: from ... import outside",)
    assert import_graph.cycles(graph) == [["sub.deep", "util"]]


def test_no_absolute_imports_of_the_package_inside_it() -> None:
    # One way for the package to import itself: relative (the import graph reads absolute ones too).
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
