"""python -m benchmark: the speed benchmark, from the repository root (scripts/benchmark runs it).

    python -m benchmark [--endpoint URL] [--concurrency N] [--rounds R]      against a real server
    python -m benchmark --emulated [--rounds R] [--record] [--recording FILE]  against the emulated server
    python -m benchmark.emulated --help                                       the emulated server alone

The options are read here; against_server.py and against_emulated.py measure, and their docstrings are --help.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toolcall_conformance.settings import OPTIONS_BY_NAME

from . import against_emulated, against_server, emulated


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark they choose."""
    parser = _parser()
    args = parser.parse_args(argv)
    # Options of the other benchmark would be ignored without a word: a mistyped command would measure the wrong thing.
    if args.emulated and args.endpoint:
        parser.error("--endpoint and --emulated exclude each other: the emulated server is the endpoint")
    if not args.emulated and (args.record or args.recording):
        parser.error("--record and --recording go with --emulated")
    if args.emulated:
        return against_emulated.run(args.rounds, args.recording or emulated.DEFAULT_RECORDING, args.record)
    return against_server.run(args.endpoint, args.concurrency, args.rounds)


def _parser() -> argparse.ArgumentParser:
    """The options of both benchmarks; --help tells what each measures (their modules' docstrings)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark", description=against_server.__doc__,
        epilog=f"{against_emulated.__doc__}\nThe emulated server alone: python -m benchmark.emulated --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--endpoint", help="server to measure (default: start the embedded target)")
    parser.add_argument(
        "--concurrency", type=int, default=OPTIONS_BY_NAME["concurrency"].default,
        help="requests in flight (--emulated measures at 16 and at 64 whatever this says)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="suite/plain pairs to time (medians are compared)")
    parser.add_argument("--emulated", action="store_true", help="against the emulated fast server (emulated.py)")
    parser.add_argument("--record", action="store_true", help="with --emulated: record its answers anew first")
    parser.add_argument("--recording", type=Path, help="with --emulated: the recording to replay")
    return parser


if __name__ == "__main__":
    sys.exit(main())
