"""The conformance suite's tests. A wheel carries them as the package toolcall_conformance.suite."""
