"""Talking to the server: one request and its raw answer, the sending process, SSE reassembly, the preflight."""
