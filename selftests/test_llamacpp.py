"""The second engine: the tiny model as GGUF, llama.cpp's server started and stopped, the settings it refuses.

The GGUF file is read back here with a reader of the format's own (header, metadata, tensor descriptions), so
what llama.cpp loads is checked against tinymodel's model: the same tokens, merges, template and logits, but for
the one cell that lets the model open a call where vLLM's grammar would force it.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from toolcall_conformance.target import gguf, tinymodel
from toolcall_conformance.target.gguf import OPENS_THE_CALL, build_gguf, llamacpp_family
from toolcall_conformance.target.llamacpp import LlamaCppTarget
from toolcall_conformance.target.process import TargetError, _group_alive

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        size = self.take("<Q")
        self.at += size
        return self.data[self.at - size : self.at].decode("utf-8")

    def value(self, kind: int) -> Any:
        if kind == 8:
            return self.string()
        if kind == 9:
            inner, count = self.take("<I"), self.take("<Q")
            return [self.value(inner) for _ in range(count)]
        return self.take(_SCALARS[kind])


def read_gguf(path: Path) -> tuple[dict[str, Any], dict[str, tuple[list[int], int, bytes]]]:
    """Metadata and tensors (shape, ggml type, bytes) of a GGUF v3 file, as llama.cpp's loader reads them."""
    data = path.read_bytes()
    reader = _Reader(data)
    assert data[:4] == b"GGUF"
    reader.at = 4
    assert reader.take("<I") == 3
    tensor_count, metadata_count = reader.take("<Q"), reader.take("<Q")
    metadata = {}
    for _ in range(metadata_count):
        key = reader.string()
        metadata[key] = reader.value(reader.take("<I"))
    infos = []
    for _ in range(tensor_count):
        name = reader.string()
        shape = [reader.take("<Q") for _ in range(reader.take("<I"))]
        infos.append((name, shape, reader.take("<I"), reader.take("<Q")))
    alignment = metadata.get("general.alignment", 32)
    start = reader.at + (-reader.at % alignment)
    tensors = {}
    for name, shape, kind, offset in infos:
        assert offset % alignment == 0
        size = 4 * math.prod(shape)
        tensors[name] = (shape, kind, data[start + offset : start + offset + size])
    return metadata, tensors


def test_the_gguf_file_has_the_same_bytes_every_time(tmp_path: Path) -> None:
    first = build_gguf(tmp_path / "a").read_bytes()
    assert build_gguf(tmp_path / "b").read_bytes() == first


def test_the_gguf_model_is_tinymodels_model(tmp_path: Path) -> None:
    metadata, tensors = read_gguf(build_gguf(tmp_path))
    assert metadata["general.architecture"] == "llama"
    assert metadata["tokenizer.chat_template"] == tinymodel.chat_template("hermes")
    # The token list is the HF tokenizer's, id for id: the vocabulary in its byte-level spelling, then the
    # special and the added tokens.
    tokenizer = tinymodel.build_tokenizer("hermes")
    vocabulary = tokenizer.get_vocab(with_added_tokens=True)
    assert [vocabulary[token] for token in metadata["tokenizer.ggml.tokens"]] == list(range(len(vocabulary)))
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    assert metadata["tokenizer.ggml.merges"] == [" ".join(pair) if isinstance(pair, list) else pair for pair in merges]
    assert metadata["tokenizer.ggml.eos_token_id"] == tokenizer.token_to_id(tinymodel.IM_END)
    shape, kind, _ = tensors["output.weight"]
    assert shape == [tinymodel.HIDDEN, len(vocabulary)] and kind == gguf.GGML_F32
    assert metadata["llama.vocab_size"] == len(vocabulary)


def test_its_weights_are_vllms_but_where_the_call_opens(tmp_path: Path) -> None:
    """The output matrix is the bfloat16 one vLLM loads, value for value, but for the cells of OPENS_THE_CALL."""
    _, tensors = read_gguf(build_gguf(tmp_path))
    shape, _, data = tensors["output.weight"]
    hidden, vocab = shape
    served = struct.unpack(f"<{hidden * vocab}f", data)
    _, embed, output = tinymodel.bigram_weights("hermes")
    vllms = tinymodel.bf16_rounded(output)
    texts = tinymodel._decoded_vocab("hermes")
    different = {
        (tinymodel.CONTEXTS[row], texts[token])
        for row in range(len(tinymodel.CONTEXTS))
        for token in range(vocab)
        if served[token * hidden + row] != vllms[token * hidden + row]
    }
    assert different == set(OPENS_THE_CALL)
    assert tinymodel.bf16_rounded(embed) == embed  # unit vectors: exact in bfloat16
    # The pieces that close JSON and end a line moved to the closing context; nothing else did.
    moved = {
        text
        for text, here, there in zip(
            texts, tinymodel.token_contexts("hermes"), tinymodel.token_contexts(llamacpp_family()), strict=True
        )
        if here != there
    }
    assert moved == set(gguf.CLOSERS)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}


def _post(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with _OPENER.open(request, timeout=60) as response:
        return response.read()


@pytest.mark.llamacpp
def test_llamacpp_serves_a_required_call_blocking_and_streamed_and_stops_with_its_group(
    tmp_path: Path, llamacpp_python: Path
) -> None:
    said: list[str] = []
    target = LlamaCppTarget(
        python=llamacpp_python,
        model_path=build_gguf(tmp_path),
        log_path=tmp_path / "llamacpp.log",
        progress=said.append,
    )
    with target:
        body = {
            "model": "tiny-llama",
            "messages": [{"role": "user", "content": "What is the weather in Dallas?"}],
            "tools": [WEATHER],
            "tool_choice": "required",
            "seed": 1,
        }
        answer = json.loads(_post(target.base_url, body))
        calls = answer["choices"][0]["message"]["tool_calls"]  # one, or another after it (parallel calls allowed)
        assert calls and all(call["function"]["name"] == "get_current_weather" for call in calls)
        assert all(set(json.loads(call["function"]["arguments"])) == {"city", "unit"} for call in calls)
        streamed = _post(target.base_url, {**body, "stream": True}).decode()
        assert '"tool_calls"' in streamed and streamed.rstrip().endswith("data: [DONE]")
        pid = target.pid
        assert pid is not None and _group_alive(pid)
    assert not _group_alive(pid)
    assert "listening on http://127.0.0.1" in (tmp_path / "llamacpp.log").read_text()


@pytest.mark.llamacpp
def test_a_model_llamacpp_cannot_load_gives_the_cause_and_the_log_tail(tmp_path: Path, llamacpp_python: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))
    target = LlamaCppTarget(python=llamacpp_python, model_path=broken, log_path=tmp_path / "llamacpp.log")
    with pytest.raises(TargetError) as caught:
        target.start()
    message = str(caught.value)
    assert message.startswith("llama.cpp exited with code")
    assert "llamacpp.log" in message and "--- last" in message
    assert not target.running


PARENT = r"""
import sys
from pathlib import Path
from toolcall_conformance.target.llamacpp import LlamaCppTarget

target = LlamaCppTarget(python=Path(sys.argv[1]), model_path=Path(sys.argv[2]), log_path=Path(sys.argv[3]))
target.start()
print(target.pid, flush=True)
sys.stdin.read()
"""


@pytest.mark.llamacpp
def test_the_server_goes_when_the_suite_is_killed(tmp_path: Path, llamacpp_python: Path) -> None:
    """No orphan: SIGKILL of the process that started the server, which runs no atexit handler, ends it too."""
    model = build_gguf(tmp_path)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(llamacpp_python), str(model), str(tmp_path / "llamacpp.log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _group_alive(pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(pid)
    finally:
        parent.kill()


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("--target-parser=pythonic", "--target-engine=llamacpp serves --target-parser=hermes only; got pythonic"),
        ("--target-flavour=random", "--target-engine=llamacpp serves --target-flavour=shaped only; got random"),
        ("--target-backend=guidance", "--target-engine=llamacpp takes no --target-backend (llama.cpp has one"),
        ("--target-strict-level=function", "--target-engine=llamacpp takes no --target-strict-level"),
        ("--target-args=--enforce-eager", "--target-engine=llamacpp takes no --target-args"),
    ],
)
def test_settings_that_mean_nothing_to_llamacpp_are_refused_with_the_reason(setting: str, said: str) -> None:
    from toolcall_conformance.settings import OPTIONS, Settings
    from toolcall_conformance.target.embedded import EmbeddedTarget, EmbeddedTargetError

    values = {option.name: option.default for option in OPTIONS}
    values["target_engine"] = "llamacpp"
    name, _, raw = setting.removeprefix("--").partition("=")
    values[name.replace("-", "_")] = raw
    with pytest.raises(EmbeddedTargetError, match="^" + re.escape(said)):
        EmbeddedTarget(Settings(**values), Path(os.devnull), print)


def test_an_unknown_engine_is_refused_with_the_known_ones() -> None:
    from toolcall_conformance.settings import OPTIONS, Settings
    from toolcall_conformance.target.embedded import EmbeddedTarget, EmbeddedTargetError

    values = {option.name: option.default for option in OPTIONS}
    values["target_engine"] = "sglang"
    with pytest.raises(EmbeddedTargetError, match="--target-engine must be one of vllm, llamacpp"):
        EmbeddedTarget(Settings(**values), Path(os.devnull), print)
