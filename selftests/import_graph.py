"""The package's own import graph, read with ast (nothing is imported): who imports whom, cycles, layers.

    scripts/import-graph            every module and what it imports, then the cycles and the layer violations
    scripts/import-graph --check    the same; exit 1 when there is a cycle, a violation or an unplaced module
    scripts/import-graph --dot      the graph for Graphviz: scripts/import-graph --dot | dot -Tsvg > graph.svg

Every import counts, wherever it stands: at the top of a module, inside a function ("lazy", run when the
function first runs) or under `if TYPE_CHECKING:` ("typing", never run). The lazy and typing ones are marked,
but they count for cycles and layers like the others: a lazy import hides a cycle from Python, not from the design.
A module is named by its path in the package: `judging.checks`, `plugin`, `target.__main__`; a subpackage's
__init__.py by the subpackage's name (`target`); the package's own __init__.py is `__init__`.
Imports the file cannot show are not seen: importlib.import_module (the commands of __main__.py) and the
pytest_plugins string of __init__.py.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toolcall_conformance"

# The layers, bottom up: the ONE table of what may import what. A module may import a module of a lower rank,
# or one of its own subpackage; nothing else (equal ranks are neighbours that know nothing of each other).
# A subpackage is one entry; a module at the package's top level is one entry of its own. A module whose
# entry is missing fails the check, so that a new top-level module (or subpackage) is placed on purpose.
RANKS: dict[str, int] = {
    # The foundation: helpers every layer may use; they import nothing of the package.
    "data": 0,  # where the suite's files lie
    "jsontext": 0,  # JSON text helpers
    "redact": 0,  # secrets out of text
    "settings": 0,  # options, environment and ini keys into one Settings
    "deferred_imports": 0,  # start-up: rfc3987_syntax loaded when first used
    "invocation": 1,  # pytest's command line for the installed suite (the command and the matrix run it)
    "__init__": 1,  # the package: __version__ (reporting.report reads it); may use the foundation
    # The layers.
    "inputs": 2,  # what is sent
    "target": 2,  # the embedded target (tiny model, vLLM launcher): foundation only, as inputs
    "wire": 3,  # talking to the server
    "judging": 4,  # from exchanges to verdicts: knows inputs and wire
    "reporting": 5,  # what a run leaves: knows judging
    "matrix": 6,  # the suite across releases: reporting's results, target's parsers and strict levels
    # Above the layers: the pieces of a run, then the pytest face and the tools, then the commands.
    "generated_run": 6,  # one generated test under Hypothesis: inputs, judging, reporting
    "ending": 6,  # how a test ends in pytest's terms (judging, reporting), which the session carries out
    "session": 7,  # one run of the suite: its state, pytest's hooks and fixtures as methods
    "fixtures": 8,  # the suite's fixtures: thin functions asking the session
    "plugin": 9,  # the plugin's face: options, and the session registered when the suite runs
    "probe": 9,  # the keyword probe (a command)
    "contract": 9,  # the contract's coverage map against judging's checks (a command)
    "__main__": 10,  # python -m toolcall_conformance COMMAND: imports the commands' modules by name
    "cli": 11,  # the toolcall-conformance command: __main__'s commands, or pytest with the plugin
    "reference": 11,  # the documentation's generated parts: every layer's definitions and the commands' help
}

TOP, LAZY, TYPING = "top", "lazy", "typing"


@dataclass(frozen=True)
class Import:
    """One import statement's edge: source imports target (both module names), at a line, of a kind."""

    source: str
    target: str
    line: int
    kind: str  # TOP, LAZY (inside a function) or TYPING (under `if TYPE_CHECKING:`)

    def where(self) -> str:
        return f"line {self.line}" if self.kind == TOP else f"{self.kind}, line {self.line}"


@dataclass(frozen=True, repr=False)
class Graph:
    """The package's modules and the imports between them; what could not be read or resolved."""

    modules: tuple[str, ...]
    imports: tuple[Import, ...]
    unresolved: tuple[str, ...]

    def __repr__(self) -> str:  # short, for pytest's report of a failing test
        return f"<Graph of {len(self.modules)} modules, {len(self.imports)} imports>"

    def targets(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {module: set() for module in self.modules}
        for edge in self.imports:
            found[edge.source].add(edge.target)
        return found


def module_name(parts: Sequence[str]) -> str:
    """`judging.checks` for judging/checks.py; a subpackage's __init__ is the subpackage; the package's is __init__."""
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def unit_of(module: str) -> str:
    """The entry of RANKS a module belongs to: its subpackage, or the top-level module itself."""
    return module.split(".", 1)[0]


def scan(package: Path | None = None) -> Graph:
    """Every .py of the package (default: PACKAGE), parsed; its imports of the package resolved to modules."""
    package = PACKAGE if package is None else package
    files = {
        module_name(path.relative_to(package).with_suffix("").parts): path
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.parts
    }
    imports: list[Import] = []
    unresolved: list[str] = []
    for module, path in sorted(files.items()):
        relative = path.relative_to(package)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError) as error:
            unresolved.append(f"{relative}: not readable ({error})")
            continue
        here = list(relative.parent.parts)  # the package a relative import starts from
        for node, kind in _import_nodes(tree):
            for target in dict.fromkeys(_targets(node, here, package.name, files)):  # once a statement
                if target is None:
                    unresolved.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
                elif target != module:
                    imports.append(Import(module, target, node.lineno, kind))
    return Graph(tuple(sorted(files)), tuple(imports), tuple(unresolved))


def _import_nodes(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with its kind: inside a function is lazy, under `if TYPE_CHECKING:` is typing."""

    def visit(node: ast.AST, lazy: bool, typing: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, TYPING if typing else LAZY if lazy else TOP
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                yield from visit(statement, lazy, True)
            for statement in node.orelse:
                yield from visit(statement, lazy, typing)
            return
        inside_function = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inside_function, typing)

    return visit(tree, False, False)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(
    node: ast.Import | ast.ImportFrom, here: list[str], name: str, files: Mapping[str, Path]
) -> Iterator[str | None]:
    """The package's modules one import statement imports (None: of the package, but no module of it)."""

    def known(parts: Sequence[str]) -> str | None:
        module = module_name(parts)
        return module if module in files else None

    if isinstance(node, ast.Import):
        for alias in node.names:
            head, *rest = alias.name.split(".")
            if head == name:  # `import toolcall_conformance.wire.client`: the module named last
                yield known(rest)
        return
    module = node.module.split(".") if node.module else []
    if node.level:  # `from ..wire import client`: from the package `level - 1` above this file's
        if node.level - 1 > len(here):
            yield None  # above the package's top
            return
        base = here[: len(here) - node.level + 1] + module
    elif module[:1] == [name]:  # `from toolcall_conformance.wire import client`
        base = module[1:]
    else:
        return  # another package
    for alias in node.names:
        # `from . import x` imports x's module when x is one; any other name is base's (a module, or a package's
        # __init__)
        submodule = known([*base, alias.name]) if alias.name != "*" else None
        yield submodule or known(base)


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted, in order."""
    targets = {module: sorted(found) for module, found in graph.targets().items()}
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(targets):
        if root in index:
            continue
        # Depth first without recursion: each frame is a module and the iterator over what it imports.
        index[root] = lowest[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        frames = [(root, iter(targets[root]))]
        while frames:
            module, pending = frames[-1]
            target = next(pending, None)
            if target is not None:
                if target not in index:
                    index[target] = lowest[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    frames.append((target, iter(targets[target])))
                elif target in on_stack:
                    lowest[module] = min(lowest[module], index[target])
                continue
            frames.pop()
            if frames:
                parent = frames[-1][0]
                lowest[parent] = min(lowest[parent], lowest[module])
            if lowest[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def shortest_cycle(graph: Graph, component: Sequence[str]) -> list[str]:
    """One cycle through the component's first module, as short as any: [a, b, ..., a]."""
    start, members = component[0], set(component)
    targets = graph.targets()
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(targets[module] & members):
            if target == start:
                path = [module]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = module
                queue.append(target)
    return [start]  # not reached for a strongly connected component


def describe_cycle(graph: Graph, component: Sequence[str]) -> list[str]:
    """A cycle as lines: its modules and one way around, then every import among them (the ones to cut from)."""
    lines = [f"{', '.join(component)}: e.g. {' -> '.join(shortest_cycle(graph, component))}"]
    members = set(component)
    lines += [
        f"  {edge.source} -> {edge.target} ({edge.where()})"
        for edge in sorted(graph.imports, key=lambda edge: (edge.source, edge.target, edge.line))
        if edge.source in members and edge.target in members
    ]
    return lines


def violations(graph: Graph, ranks: Mapping[str, int] = RANKS) -> list[Import]:
    """The imports that neither point down the table nor stay inside their subpackage."""
    found = []
    for edge in sorted(graph.imports, key=lambda edge: (edge.source, edge.line, edge.target)):
        source, target = unit_of(edge.source), unit_of(edge.target)
        if source == target or source not in ranks or target not in ranks:
            continue  # inside one subpackage; or an unplaced module, which unplaced() names
        if ranks[target] >= ranks[source]:
            found.append(edge)
    return found


def describe_violation(edge: Import, ranks: Mapping[str, int] = RANKS) -> str:
    source, target = unit_of(edge.source), unit_of(edge.target)
    return (
        f"{edge.source} -> {edge.target} ({edge.where()}): {source} is rank {ranks[source]},"
        f" {target} rank {ranks[target]}; only lower ranks may be imported"
    )


def unplaced(graph: Graph, ranks: Mapping[str, int] = RANKS) -> list[str]:
    """The modules whose subpackage or top-level module has no rank in the table."""
    return [module for module in graph.modules if unit_of(module) not in ranks]


def report(graph: Graph, ranks: Mapping[str, int] = RANKS) -> tuple[list[str], bool]:
    """The text scripts/import-graph prints, and whether everything is in order."""
    lines = ["modules, each with what it imports of the package (lazy: inside a function; typing: TYPE_CHECKING):"]
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for edge in graph.imports:
        kinds[edge.source, edge.target].add(edge.kind)
    for module, targets in sorted(graph.targets().items()):
        rank = ranks.get(unit_of(module))
        shown = [target + _mark(kinds[module, target]) for target in sorted(targets)]
        placed = "unplaced" if rank is None else f"rank {rank}"
        lines.append(f"  {module} [{placed}]: {', '.join(shown) or '-'}")
    found_cycles = cycles(graph)
    found_violations = violations(graph, ranks)
    found_unplaced = unplaced(graph, ranks)
    lines.append("cycles:")
    lines += [f"  {line}" for component in found_cycles for line in describe_cycle(graph, component)] or ["  none"]
    lines.append("layer violations:")
    lines += [f"  {describe_violation(edge, ranks)}" for edge in found_violations] or ["  none"]
    lines.append("unplaced modules (no rank in selftests/import_graph.py RANKS):")
    lines += [f"  {module}" for module in found_unplaced] or ["  none"]
    if graph.unresolved:
        lines.append("imports of the package that name no module of it:")
        lines += [f"  {line}" for line in graph.unresolved]
    ok = not (found_cycles or found_violations or found_unplaced or graph.unresolved)
    return lines, ok


def _mark(kinds: set[str]) -> str:
    """Marked by the earliest it runs: an import at the top is plain, even when the module also imports lazily."""
    return "" if TOP in kinds else f" ({LAZY})" if LAZY in kinds else f" ({TYPING})"


def dot(graph: Graph, ranks: Mapping[str, int] = RANKS) -> list[str]:
    """The graph in Graphviz's language: a box per subpackage; lazy imports dashed, typing ones dotted; the imports
    of a cycle orange, layer violations red."""
    component_of = {module: number for number, component in enumerate(cycles(graph)) for module in component}
    wrong = {(edge.source, edge.target) for edge in violations(graph, ranks)}
    kinds: dict[tuple[str, str], set[str]] = defaultdict(set)
    for edge in graph.imports:
        kinds[edge.source, edge.target].add(edge.kind)
    lines = ["digraph imports {", '  node [shape=box, fontname="monospace", fontsize=10];']
    by_unit: dict[str, list[str]] = defaultdict(list)
    for module in graph.modules:
        by_unit[unit_of(module)].append(module)
    for unit, members in sorted(by_unit.items()):
        placed = f"rank {ranks[unit]}" if unit in ranks else "unplaced"
        if members == [unit]:  # a top-level module
            lines.append(f'  "{unit}" [label="{unit}\\n{placed}"];')
            continue
        lines.append(f'  subgraph "cluster_{unit}" {{')
        lines.append(f'    label="{unit}/ ({placed})";')
        lines += [f'    "{module}";' for module in members]
        lines.append("  }")
    styles = {TOP: "solid", LAZY: "dashed", TYPING: "dotted"}
    for (source, target), found in sorted(kinds.items()):
        style = styles[TOP if TOP in found else LAZY if LAZY in found else TYPING]
        if (source, target) in wrong:
            color = "red"
        elif source in component_of and component_of[source] == component_of.get(target):
            color = "orange"
        else:
            color = "black"
        lines.append(f'  "{source}" -> "{target}" [style={style}, color={color}];')
    lines.append("}")
    return lines


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/import-graph", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 on a cycle, a layer violation, an unplaced module")
    parser.add_argument("--dot", action="store_true", help="print the graph in Graphviz's dot language instead")
    parser.add_argument("--package", type=Path, help=f"the package to read (default: {PACKAGE})")
    args = parser.parse_args(None if argv is None else list(argv))
    graph = scan(args.package)
    lines, ok = report(graph)
    print("\n".join(dot(graph) if args.dot else lines))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
