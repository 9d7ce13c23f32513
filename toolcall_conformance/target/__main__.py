"""Command line: build the tiny model folder, or serve it with vLLM until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from .families import REASONING
from .launcher import (
    AUTO_BACKEND,
    BACKENDS,
    INSTALL_HINT,
    STRICT_LEVELS,
    LocalTarget,
    TargetError,
    find_vllm_python,
    log_tail,
)
from .tinymodel import FLAVOURS, PARSERS, build_model, load_format


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toolcall_conformance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-model", help="write the tiny model folder")
    build.add_argument("dest", type=Path)
    build.add_argument("--flavour", choices=FLAVOURS, default="shaped")
    build.add_argument("--parser", choices=PARSERS, default="hermes", help="the tool-call parser it is served with")
    build.add_argument("--reasoning-parser", choices=REASONING, default=None, help="the reasoning parser it thinks for")
    serve = commands.add_parser("serve", help="serve the tiny model with vLLM on loopback until Ctrl-C")
    serve.add_argument("--flavour", choices=FLAVOURS, default="shaped")
    serve.add_argument("--parser", choices=PARSERS, default="hermes", help="vLLM's --tool-call-parser")
    serve.add_argument("--reasoning-parser", choices=REASONING, default=None, help="vLLM's --reasoning-parser")
    serve.add_argument("--strict-level", choices=STRICT_LEVELS, default=None)
    serve.add_argument(
        "--backend", choices=BACKENDS, default=AUTO_BACKEND, help="structured-output backend (auto: no flag)"
    )
    serve.add_argument("--log", type=Path, default=None, help="server log (default: reports/vllm-FLAVOUR.log)")
    serve.add_argument("--timeout", type=float, default=240.0, help="start-up timeout in seconds")
    serve.add_argument("extra", nargs="*", help="more vLLM arguments, after --")
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace) -> int:
    python = find_vllm_python()
    if python is None:
        _say(f"vLLM not found: {INSTALL_HINT}")
        return 2
    log = args.log or Path("reports") / f"vllm-{args.flavour}.log"
    # SIGTERM takes the same way out as Ctrl-C, so the server is stopped either way; SIGINT is set
    # too because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="tcc-model-") as folder:
        model_dir = build_model(Path(folder), args.flavour, args.parser, args.reasoning_parser)
        target = LocalTarget(
            python=python,
            model_dir=model_dir,
            log_path=log,
            load_format=load_format(args.flavour),
            tool_call_parser=args.parser,
            reasoning_parser=args.reasoning_parser,
            strict_level=args.strict_level,
            backend=args.backend,
            extra_args=args.extra,
            startup_timeout=args.timeout,
            progress=_say,
        )
        try:
            base_url = target.start()
            _say(f"vLLM ready after {target.startup_seconds:.0f} s (log: {log}); Ctrl-C stops it")
            print(base_url, flush=True)
            while target.running:
                time.sleep(1.0)
            _say("vLLM exited on its own; last lines of its log:")
            _say("\n".join(log_tail(log)))
            return 1
        except TargetError as error:
            _say(str(error))
            return 1
        except KeyboardInterrupt:
            _say("stopping vLLM")
            return 0
        finally:
            target.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "build-model":
            print(build_model(args.dest, args.flavour, args.parser, args.reasoning_parser))
            return 0
        return _serve(args)
    except ValueError as exc:  # a reasoning parser that does not think for the parser: said, not a traceback
        _say(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
