"""An emulated fast server for the benchmark: real vLLM answers replayed with the latency of a GPU server.

    python -m benchmark.emulated [--recording FILE] [--ttfb S] [--chunk-delay S] [--capacity N] [--port P]

The answers were recorded from the embedded vLLM (`record()`), keyed by request body without its seed, so the
suite's --repeat (seed, seed + 1, ...) gets the same answers. Each answer is encoded to bytes once, at start;
serving it costs a dictionary lookup and a few socket writes. The latency model: `--ttfb` before the first byte,
`--chunk-delay` per event of a stream (a blocking answer waits as long as its stream would, by its
completion_tokens), and at most `--capacity` answers generated at once, the rest waiting in line. It prints
its URL as its first line, then serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolcall_conformance.wire.dispatch import request_key

FORMAT = "toolcall-conformance/recording/1"
DEFAULT_RECORDING = Path(__file__).resolve().parent / "vllm-0.32.0-shaped.recording.json"  # committed beside this
TTFB, CHUNK_DELAY, CAPACITY = 0.25, 0.005, 64  # a small model on one GPU


def replay_key(body: dict[str, Any]) -> str:
    """The key of a request's recorded answer: a digest of its body without the seed."""
    unseeded = request_key({name: value for name, value in body.items() if name != "seed"})
    return hashlib.sha256(unseeded.encode()).hexdigest()


# ---------------------------------------------------------------- recording


async def _record_all(endpoint: str, api_key: str, bodies: list[dict[str, Any]], concurrency: int) -> list[dict]:
    import httpx

    from toolcall_conformance.wire.client import send

    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120) as http:

        async def one(body: dict[str, Any]) -> dict[str, Any]:
            async with slots:
                exchange = await send(http, endpoint, api_key, body, 120)
            if exchange.transport_error is not None:
                raise RuntimeError(f"recording failed: {exchange.transport_error.message}")
            usage = exchange.json_body.get("usage") if isinstance(exchange.json_body, dict) else None
            events = [event for event in exchange.events if event.data is not None]
            tokens = usage.get("completion_tokens", 0) if isinstance(usage, dict) else len(events)
            return {
                "key": replay_key(body),
                "stream": exchange.stream,
                "status": exchange.status,
                "content_type": exchange.content_type,
                "body": exchange.raw.decode("utf-8"),
                "completion_tokens": tokens,
            }

        return list(await asyncio.gather(*(one(body) for body in bodies)))


def record(
    endpoint: str, api_key: str, bodies: list[dict[str, Any]], model: str, version: str | None, path: Path
) -> int:
    """Send each body to a real server once and keep its answers in a recording file; returns their number."""
    answers = asyncio.run(_record_all(endpoint, api_key, bodies, 16))
    document = {
        "format": FORMAT,
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "server_version": version,
        "model": model,
        "answers": answers,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    return len(answers)


# ---------------------------------------------------------------- serving


@dataclass(frozen=True)
class Encoded:
    """One answer as bytes: the status line and headers, then the pieces written one delay apart."""

    head: bytes
    pieces: tuple[bytes, ...]
    waits: tuple[float, ...]  # before each piece, after the time to first byte


def _head(status: int, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Status")
    return f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n".encode()


def encode(answer: dict[str, Any], chunk_delay: float) -> Encoded:
    """Pre-encode a recorded answer: a stream as one chunked-transfer piece per event, a body whole."""
    data = answer["body"].encode("utf-8")
    if not answer["stream"] or answer["status"] != 200:
        head = _head(answer["status"], answer["content_type"] or "application/json", len(data))
        return Encoded(head, (data,), (answer.get("completion_tokens", 0) * chunk_delay,))
    events = [event + b"\n\n" for event in data.split(b"\n\n") if event.strip()]
    pieces = (*(b"%x\r\n%s\r\n" % (len(event), event) for event in events), b"0\r\n\r\n")
    waits = (0.0, *(chunk_delay for _ in events[1:]), 0.0)
    return Encoded(_head(200, answer["content_type"] or "text/event-stream", None), pieces, waits)


def _json_answer(status: int, payload: Any) -> Encoded:
    data = json.dumps(payload).encode()
    return Encoded(_head(status, "application/json", len(data)), (data,), (0.0,))


class EmulatedServer:
    """Serves a recording on loopback with the latency model; run() until cancelled."""

    def __init__(self, recording: dict[str, Any], ttfb: float, chunk_delay: float, capacity: int) -> None:
        self.answers = {answer["key"]: encode(answer, chunk_delay) for answer in recording["answers"]}
        self.models = _json_answer(200, {"object": "list", "data": [{"id": recording["model"], "object": "model"}]})
        self.version = _json_answer(200, {"version": f"emulated {recording.get('server_version')}"})
        self.ttfb = ttfb
        self.capacity = asyncio.Semaphore(capacity)
        self.unknown = 0

    async def _write(self, writer: asyncio.StreamWriter, answer: Encoded, generated: bool) -> None:
        if not generated:
            writer.write(answer.head + b"".join(answer.pieces))
            await writer.drain()
            return
        async with self.capacity:
            await asyncio.sleep(self.ttfb)
            writer.write(answer.head)
            for wait, piece in zip(answer.waits, answer.pieces, strict=True):
                if wait:
                    await asyncio.sleep(wait)
                writer.write(piece)
                await writer.drain()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *header_lines = head.split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = dict(line.split(":", 1) for line in header_lines if ":" in line)
                length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
                body = await reader.readexactly(length) if length else b""
                await self._write(writer, *self._route(method, path.split("?")[0], body))
        writer.close()

    def _route(self, method: str, path: str, body: bytes) -> tuple[Encoded, bool]:
        if method == "GET" and path.endswith("/models"):
            return self.models, False
        if method == "GET" and path.endswith("/version"):
            return self.version, False
        if method == "POST" and path.endswith("/chat/completions"):
            answer = self.answers.get(replay_key(json.loads(body)))
            if answer is not None:
                return answer, True
            self.unknown += 1
            error = {"message": "no recorded answer for this request", "type": "BadRequestError", "code": 400}
            return _json_answer(400, {"error": {**error, "param": None}}), False
        return _json_answer(404, {"detail": "Not Found"}), False


async def serve(recording: dict[str, Any], ttfb: float, chunk_delay: float, capacity: int, port: int) -> None:
    """Serve on 127.0.0.1 until cancelled; the URL goes to stdout first, which is how the benchmark learns it."""
    emulated = EmulatedServer(recording, ttfb, chunk_delay, capacity)
    server = await asyncio.start_server(emulated.handle, "127.0.0.1", port, backlog=512)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    async with server:
        await server.serve_forever()


def load(path: Path) -> dict[str, Any]:
    """A recording file; one of another format is refused here, at start, rather than answered with 400s."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != FORMAT:
        raise ValueError(f"{path}: not a recording (format {document.get('format')!r}, wanted {FORMAT!r})")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.emulated", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--recording", type=Path, default=DEFAULT_RECORDING, help="recorded answers to replay")
    parser.add_argument("--ttfb", type=float, default=TTFB, help=f"seconds to the first byte (default {TTFB})")
    parser.add_argument(
        "--chunk-delay", type=float, default=CHUNK_DELAY, help=f"seconds per event (default {CHUNK_DELAY})"
    )
    parser.add_argument(
        "--capacity", type=int, default=CAPACITY, help=f"answers generated at once (default {CAPACITY})"
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    options = parser.parse_args(argv)
    try:
        recording = load(options.recording)
    except (OSError, ValueError) as error:
        print(f"python -m benchmark.emulated: {error}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(recording, options.ttfb, options.chunk_delay, options.capacity, options.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
