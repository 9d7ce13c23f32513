"""The tiny model builder: deterministic bytes, a config vLLM's CPU kernels take, a tokenizer and a template."""

from __future__ import annotations

import ast
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from toolcall_conformance.target import tinymodel
from toolcall_conformance.target.tinymodel import FLAVOURS, PARSERS, build_model, load_format

tokenizers = pytest.importorskip("tokenizers")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location, e.g. 'Zürich'",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    }
]
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Dallas?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "a",
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": {"city": "Dallas"}},
            },
            {
                "id": "b",
                "type": "function",
                "function": {"name": "get_current_weather", "arguments": '{"city": "Austin"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "a", "content": "31 degrees"},
    {"role": "tool", "tool_call_id": "b", "content": "33 degrees"},
    {"role": "user", "content": "Thanks!"},
]


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_building_twice_gives_identical_bytes(tmp_path: Path, flavour: str, parser: str) -> None:
    first = _folder_bytes(build_model(tmp_path / "a", flavour, parser))
    second = _folder_bytes(build_model(tmp_path / "b", flavour, parser))
    assert first == second
    expected = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}
    assert set(first) == expected | ({"model.safetensors"} if flavour == "shaped" else set())


def test_another_process_builds_the_same_bytes_for_every_family(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from toolcall_conformance.target.tinymodel import PARSERS, build_model\n"
    )
    code += "for parser in PARSERS: build_model(Path(sys.argv[1]) / parser, 'shaped', parser)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env)
    for parser in PARSERS:
        here = _folder_bytes(build_model(tmp_path / "here" / parser, "shaped", parser))
        assert _folder_bytes(tmp_path / "there" / parser) == here, parser


def test_rebuilding_as_random_drops_the_weights(tmp_path: Path) -> None:
    build_model(tmp_path, "shaped")
    build_model(tmp_path, "random")
    assert not (tmp_path / "model.safetensors").exists()


def test_unknown_flavour_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flavour"):
        build_model(tmp_path, "huge")
    with pytest.raises(ValueError, match="flavour"):
        load_format("huge")


def test_load_format() -> None:
    assert load_format("random") == "dummy"
    assert load_format("shaped") == "safetensors"


def test_config_is_a_small_llama_with_head_dim_64(tmp_path: Path) -> None:
    folder = build_model(tmp_path, "random")
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] // config["num_attention_heads"] == 64
    assert config["head_dim"] == 64
    assert config["num_attention_heads"] % config["num_key_value_heads"] == 0
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert config["vocab_size"] == tokenizer.get_vocab_size(with_added_tokens=True)
    assert 256 < config["vocab_size"] < 4096
    assert config["eos_token_id"] == tokenizer.token_to_id("<|im_end|>")


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world!",
        '<tool_call>\n{"name": "get_current_weather", "arguments": {"city": "Dallas", "days": 5}}\n</tool_call>',
        '{"a": [1, -2.5e3, true, null], "b": {"c": "\\"q\\" \\\\ \\u00e9"}}',
        "Zürich, 東京, Ελλάδα, emoji 🌦️, tab\there, NUL \x00 and DEL \x7f",
        "<|im_start|>user\nHi<|im_end|>\n",
        "   leading and trailing spaces   ",
    ],
)
def test_tokenizer_round_trips_text(tmp_path: Path, text: str) -> None:
    tokenizer = tokenizers.Tokenizer.from_file(str(build_model(tmp_path, "random") / "tokenizer.json"))
    ids = tokenizer.encode(text).ids
    assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_hermes_markup_and_chat_markers_are_single_tokens(tmp_path: Path) -> None:
    folder = build_model(tmp_path, "random")
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    for marker in ("<tool_call>", "</tool_call>", "<|im_start|>", "<|im_end|>"):
        assert len(tokenizer.encode(marker).ids) == 1, marker
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    assert settings["eos_token"] == "<|im_end|>"
    assert "<tool_call>" in settings["chat_template"]


def _read_safetensors(path: Path) -> dict[str, tuple[list[int], bytes]]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header.pop("__metadata__", None)
    data = raw[8 + length :]
    out = {}
    end = 0
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        start, stop = info["data_offsets"]
        assert info["dtype"] == "BF16" and start == end and stop - start == 2 * math.prod(info["shape"])
        out[name] = (info["shape"], data[start:stop])
        end = stop
    assert end == len(data)
    return out


def _bf16_row(data: bytes, row: int, width: int) -> list[float]:
    halves = struct.unpack(f"<{width}H", data[2 * row * width : 2 * (row + 1) * width])
    return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]


def test_shaped_weights_make_a_bigram_model(tmp_path: Path) -> None:
    tensors = _read_safetensors(build_model(tmp_path, "shaped") / "model.safetensors")
    (vocab, hidden), embed = tensors["model.embed_tokens.weight"]
    lm_head = tensors["lm_head.weight"][1]
    for name, (_shape, data) in tensors.items():
        if name.endswith(("o_proj.weight", "down_proj.weight")):
            assert not any(data), f"{name} must be zero so the residual stream is the embedding"
    logits = tinymodel.token_logits()
    contexts = tinymodel.token_contexts()
    head = [_bf16_row(lm_head, t, hidden) for t in range(vocab)]
    for token in (0, 34, vocab // 2, vocab - 1):
        x = _bf16_row(embed, token, hidden)
        rms = math.sqrt(sum(v * v for v in x) / hidden + 1e-6)
        got = [sum(a * b / rms for a, b in zip(x, row, strict=True)) for row in head]
        want = logits[contexts[token]]
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < 0.1


def test_shaped_preferences_favour_closing_and_stopping() -> None:
    texts = tinymodel._decoded_vocab()
    logits = dict(zip(tinymodel.CONTEXTS, tinymodel.token_logits(), strict=True))
    quote, eos, space = texts.index('"'), texts.index("<|im_end|>"), texts.index(" ")
    letter = texts.index("x")
    assert logits["word"][quote] > logits["word"][letter] + 5  # a string ends after a word or so
    assert logits["tag"][eos] > logits["tag"][texts.index("<")]  # after </tool_call>, mostly stop
    # Whitespace loses everywhere except right after a tag, where hermes writes "<tool_call>\n{".
    assert all(row[space] < 0 for context, row in logits.items() if context != "tag")
    assert all(row[texts.index("<tool_call>")] < -10 for row in logits.values())


def _check_rendering(text: str) -> None:
    assert text.startswith("<|im_start|>system\nYou are terse.\n\n# Tools\n")
    tools_block = text.split("<tools>\n", 1)[1].split("</tools>", 1)[0]
    assert [json.loads(line) for line in tools_block.splitlines()] == TOOLS
    assert "<|im_start|>user\nWeather in Dallas?<|im_end|>\n" in text
    calls = text.split("<|im_start|>assistant\n", 1)[1].split("<|im_end|>", 1)[0]
    bodies = [chunk.split("\n</tool_call>")[0] for chunk in calls.split("<tool_call>\n")[1:]]
    assert [json.loads(body) for body in bodies] == [
        {"name": "get_current_weather", "arguments": {"city": "Dallas"}},
        {"name": "get_current_weather", "arguments": {"city": "Austin"}},
    ]
    responses = "<|im_start|>user\n<tool_response>\n31 degrees\n</tool_response>\n"
    responses += "<tool_response>\n33 degrees\n</tool_response><|im_end|>\n"
    assert responses in text
    assert text.endswith("<|im_start|>user\nThanks!<|im_end|>\n<|im_start|>assistant\n")


def test_chat_template_renders_tools_and_messages_with_jinja2() -> None:
    pytest.importorskip("jinja2", reason="jinja2 is not installed in this environment")
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # The settings transformers renders chat templates with.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    template = env.from_string(tinymodel.CHAT_TEMPLATE)
    _check_rendering(template.render(messages=MESSAGES, tools=TOOLS, add_generation_prompt=True))
    plain = template.render(messages=MESSAGES[1:2], add_generation_prompt=False)
    assert plain == "<|im_start|>user\nWeather in Dallas?<|im_end|>\n"


@pytest.mark.vllm
def test_chat_template_renders_with_the_transformers_vllm_uses(tmp_path: Path, vllm_python: Path) -> None:
    python = vllm_python
    folder = build_model(tmp_path, "random")
    code = (
        "import json, sys\n"
        "from transformers import AutoTokenizer\n"
        "tok = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "data = json.load(sys.stdin)\n"
        "text = tok.apply_chat_template(data['messages'], tools=data['tools'], tokenize=False,"
        " add_generation_prompt=True)\n"
        "sys.stdout.write(json.dumps(text))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(python), "-c", code, str(folder)],
        input=json.dumps({"messages": MESSAGES, "tools": TOOLS}),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _check_rendering(json.loads(result.stdout))


def test_the_pythonic_template_writes_calls_as_the_pythonic_parser_reads_them(tmp_path: Path) -> None:
    pytest.importorskip("jinja2", reason="jinja2 is not installed in this environment")
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    template = env.from_string(tinymodel.chat_template("pythonic"))
    weather = {
        "city": 'Dallas "Big D" \\ Zürich 🌦',
        "days": 2,
        "metric": True,
        "alerts": None,
        "hours": [6, 12.5, -1e-07],
        "near": {"ok": False, "none": {}, "list": []},
    }
    calls = [
        {"type": "function", "function": {"name": "get_weather", "arguments": weather}},
        {"type": "function", "function": {"name": "get_time", "arguments": {}}},
    ]
    messages = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": None, "tool_calls": calls}]
    text = template.render(messages=messages, tools=TOOLS, add_generation_prompt=True)
    assert "write one Python list of calls and nothing else" in text and "<tool_call>" not in text
    written = text.split("<|im_start|>assistant\n")[1].split("<|im_end|>")[0]
    assert written == (
        '[get_weather(city="Dallas \\"Big D\\" \\\\ Zürich 🌦", days=2, metric=True, alerts=None, '
        'hours=[6, 12.5, -1e-07], near={"ok": False, "none": {}, "list": []}), get_time()]'
    )
    # What vLLM's pythonic parser does with it: Python's ast, each keyword a literal.
    parsed = ast.parse(written, mode="eval").body
    assert isinstance(parsed, ast.List)
    read = {call.func.id: {k.arg: ast.literal_eval(k.value) for k in call.keywords} for call in parsed.elts}
    assert read == {"get_weather": weather, "get_time": {}}
    folder = build_model(tmp_path, "random", "pythonic")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    assert config["chat_template"] == tinymodel.chat_template("pythonic") != tinymodel.CHAT_TEMPLATE


def test_an_unknown_parser_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no chat template for tool-call parser 'no_such_parser'"):
        build_model(tmp_path / "m", "shaped", "no_such_parser")
    assert not (tmp_path / "m").exists()
