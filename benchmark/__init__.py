"""The project's developer tools: the speed benchmark and the emulated fast server it measures against.

They run from a checkout only (the suite's tests/ and the committed recording beside this file), from the
repository root: `python -m benchmark ...` (or scripts/benchmark), `python -m benchmark.emulated ...`. They are
not part of the wheel (pyproject.toml lists its packages, and this is none of them) and the package
toolcall_conformance never imports them; they import it, absolutely, as any user of it would.

Modules, each importing only those listed before it:
  measure.py           what both benchmarks share: the suite's request bodies, the plain client, the pytest run
  emulated.py          the emulated server: recorded vLLM answers replayed with a GPU server's latency
  against_server.py    the benchmark against a real server (the embedded target or --endpoint)
  against_emulated.py  the benchmark against the emulated server (--emulated)
  __main__.py          python -m benchmark: the options, and which of the two runs
"""
