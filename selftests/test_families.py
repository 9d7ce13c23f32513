"""Tool-call families of the tiny model: tokens, templates read as each parser reads them, and a real call each."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from toolcall_conformance.target import families, tinymodel
from toolcall_conformance.target.families import FAMILIES, JSON_ARRAY, STRUCTURAL_TAG, UNAVAILABLE
from toolcall_conformance.target.launcher import LocalTarget
from toolcall_conformance.target.tinymodel import PARSERS, build_model, load_format

tokenizers = pytest.importorskip("tokenizers")

# The seed's tool (vLLM's example), strict so that the grammar pins its arguments on every path.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city to find the weather for, e.g. 'San Francisco'"},
                "state": {"type": "string", "description": "the two-letter abbreviation for the state, e.g. 'CA'"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "state", "unit"],
            "additionalProperties": False,
        },
    },
}
SEED_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hi! How are you doing today?"},
    {"role": "assistant", "content": "I'm doing well! How can I help you?"},
    {
        "role": "user",
        "content": "Can you tell me what the current weather is in Dallas and the forecast for the next 5 days, "
        "in fahrenheit?",
    },
]
EARLIER_CALLS = [
    ("get_current_weather", {"city": 'Dallas "Big D" \\ Zürich', "state": "TX", "unit": "fahrenheit"}),
    ("get_forecast", {"city": "Austin", "days": 5, "metric": True, "hours": [6, 12.5], "near": None}),
]
# The seed's scenario under tool_choice "required", seeded: what the families' vLLM tests send.
REQUIRED_SEED = {
    "model": "tiny-llama",
    "messages": SEED_MESSAGES,
    "tools": [WEATHER],
    "tool_choice": "required",
    "max_tokens": 256,
    "seed": 1,
}
# The second earlier call's tool: the XML-like parsers type a value by its schema, and GLM's drops a call to a
# function the request does not declare.
FORECAST = {
    "type": "function",
    "function": {
        "name": "get_forecast",
        "description": "Get the forecast for the next days",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "hours": {"type": "array", "items": {"type": "number"}},
                "near": {"type": ["string", "null"]},
            },
            "required": ["city", "days"],
        },
    },
}


def _tokenizer(parser: str, folder: Path):
    return tokenizers.Tokenizer.from_file(str(build_model(folder, "random", parser) / "tokenizer.json"))


@pytest.mark.parametrize("parser", PARSERS)
def test_the_familys_markers_and_the_chat_markers_are_single_tokens(tmp_path: Path, parser: str) -> None:
    tokenizer = _tokenizer(parser, tmp_path)
    for marker in (*tinymodel.SPECIAL_TOKENS, *tinymodel.MARKUP_TOKENS, *FAMILIES[parser].added_tokens):
        assert len(tokenizer.encode(marker).ids) == 1, marker
    # tinymodel's own idea of the vocabulary, which the weights are laid out by, is the tokenizer's.
    texts = tinymodel._decoded_vocab(parser)
    assert len(texts) == tokenizer.get_vocab_size(with_added_tokens=True)
    for marker in FAMILIES[parser].added_tokens:
        assert texts[tokenizer.token_to_id(marker)] == marker


@pytest.mark.parametrize("parser", PARSERS)
def test_boosts_and_preferences_name_real_tokens_contexts_and_kinds(parser: str) -> None:
    chosen = FAMILIES[parser]
    texts = tinymodel._decoded_vocab(parser)
    rows = dict(zip(tinymodel.CONTEXTS, tinymodel.token_logits(parser), strict=True))
    for (context, text), logit in chosen.boosts.items():
        assert context in tinymodel.CONTEXTS and text in texts
        assert rows[context][texts.index(text)] == logit
    for context, kind in chosen.preferences:
        assert context in tinymodel.CONTEXTS and kind in tinymodel.KINDS
    contexts = tinymodel.token_contexts(parser)
    for text, context in chosen.contexts.items():
        assert contexts[texts.index(text)] == tinymodel.CONTEXTS.index(context)
    assert chosen.path in (STRUCTURAL_TAG, JSON_ARRAY) and chosen.note


# The files of the hermes model when this module was written: a committed baseline depends on its answers.
HERMES_SHA256 = {
    "config.json": "2e248491cbc35ebc",
    "generation_config.json": "b31b68675abfa2e2",
    "model.safetensors": "1cf6fb8924c38084",
    "tokenizer.json": "bd7dc68f62e28689",
    "tokenizer_config.json": "7f6a0baf38ff5cf0",
}


def test_the_hermes_model_keeps_its_bytes(tmp_path: Path) -> None:
    folder = build_model(tmp_path, "shaped", "hermes")
    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(folder.iterdir())}
    assert found == HERMES_SHA256
    assert PARSERS[0] == "hermes"
    assert not FAMILIES["hermes"].boosts and not FAMILIES["hermes"].preferences


def test_families_with_no_tokens_of_their_own_share_the_hermes_weights(tmp_path: Path) -> None:
    hermes = build_model(tmp_path / "hermes", "shaped", "hermes")
    compared = []
    for parser in PARSERS:
        chosen = FAMILIES[parser]
        own = (chosen.added_tokens, chosen.pieces, chosen.boosts, chosen.preferences, chosen.contexts)
        if parser == "hermes" or any(own):
            continue
        folder = build_model(tmp_path / parser, "shaped", parser)
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            assert (folder / name).read_bytes() == (hermes / name).read_bytes(), (parser, name)
        compared.append(parser)
    assert compared, "no family but hermes has no tokens of its own: nothing was compared"


def test_unavailable_parsers_are_refused_with_their_reason(tmp_path: Path) -> None:
    assert not set(UNAVAILABLE) & set(PARSERS)
    for parser, reason in UNAVAILABLE.items():
        with pytest.raises(ValueError, match=re.escape(reason)):
            build_model(tmp_path / parser, "shaped", parser)
    lines = families.describe()
    assert len(lines) == len(FAMILIES) + len(UNAVAILABLE) + len(families.REASONING)
    said = [*FAMILIES, *UNAVAILABLE, *(f"--reasoning-parser {name}" for name in families.REASONING)]
    assert all(
        line.startswith(f"{parser}: ") or line.startswith(f"{parser} (")
        for parser, line in zip(said, lines, strict=True)
    )


# How each parser finds the calls of an assistant turn, written here from vLLM 0.32.0's parsers: the template
# must write what they read. Each reader returns [(name, arguments)].
Reader = Callable[[str], list[tuple[str, object]]]


def _read_hermes(text: str) -> list[tuple[str, object]]:
    bodies = re.findall(r"<tool_call>(.*?)</tool_call>", text, flags=re.DOTALL)
    return [(call["name"], call["arguments"]) for call in map(json.loads, bodies)]


def _read_pythonic(text: str) -> list[tuple[str, object]]:
    parsed = ast.parse(text, mode="eval").body
    assert isinstance(parsed, ast.List)
    return [(c.func.id, {k.arg: ast.literal_eval(k.value) for k in c.keywords}) for c in parsed.elts]


def _read_llama3_json(text: str) -> list[tuple[str, object]]:
    # Llama3JsonToolParser: every "{" outside an object already decoded starts one, read with raw_decode.
    decoder, found, end = json.JSONDecoder(), [], -1
    for match in re.finditer(r"\{", text):
        if match.start() <= end:
            continue
        call, length = decoder.raw_decode(text[match.start() :])
        end = match.start() + length
        found.append((call["name"], call["parameters"]))
    return found


def _marked_calls(begin: str, head: str, separator: str, end: str) -> re.Pattern[str]:
    """Calls written BEGIN head SEPARATOR arguments END: the markers literal, head a regex with a named group."""
    return re.compile(
        re.escape(begin) + head + re.escape(separator) + r"(?P<arguments>.*?)" + re.escape(end), re.DOTALL
    )


def _read_kimi_k2(text: str) -> list[tuple[str, object]]:
    section = text.split(families.KIMI_SECTION_BEGIN, 1)[1].split(families.KIMI_SECTION_END, 1)[0]
    pattern = _marked_calls(
        families.KIMI_CALL_BEGIN, r"(?P<id>[^<]+:\d+)", families.KIMI_ARGUMENT_BEGIN, families.KIMI_CALL_END
    )
    found = []
    for match in pattern.finditer(section):
        # The name is the id's last dotted component before ":N"; the parser takes any index N.
        assert match["id"].startswith("functions.")
        found.append((match["id"].rsplit(":", 1)[0].split(".")[-1], json.loads(match["arguments"])))
    return found


def _read_deepseek_v31(text: str) -> list[tuple[str, object]]:
    assert text.startswith(families.DEEPSEEK_CALLS_BEGIN) and text.endswith(families.DEEPSEEK_CALLS_END)
    pattern = _marked_calls(
        families.DEEPSEEK_CALL_BEGIN, r"(?P<name>.*?)", families.DEEPSEEK_SEP, families.DEEPSEEK_CALL_END
    )
    return [(m["name"], json.loads(m["arguments"])) for m in pattern.finditer(text)]


def _read_mistral(text: str) -> list[tuple[str, object]]:
    # MistralToolParser before tokenizer v11: the JSON after [TOOL_CALLS], decoded with raw_decode.
    calls, _ = json.JSONDecoder().raw_decode(text.split(families.MISTRAL_TOOL_CALLS, 1)[1])
    return [(call["name"], call["arguments"]) for call in calls]


def _xml_value(value: str) -> object:
    """What a value written verbatim stands for: JSON when it reads as JSON (the parsers use the schema)."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _read_qwen3_coder(text: str) -> list[tuple[str, object]]:
    found = []
    for name, body in re.findall(r"<tool_call>\n<function=(.*?)>\n(.*?)</function>\n</tool_call>", text, re.DOTALL):
        # Qwen3's parser strips one newline on each side of a value.
        values = re.findall(r"<parameter=(.*?)>\n?(.*?)\n?</parameter>", body, re.DOTALL)
        found.append((name, {key: _xml_value(value) for key, value in values}))
    return found


def _read_glm45(text: str) -> list[tuple[str, object]]:
    found = []
    for name, body in re.findall(r"<tool_call>([^\n<]*)(.*?)</tool_call>", text, re.DOTALL):
        values = re.findall(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", body, re.DOTALL)
        found.append((name.strip(), {key: _xml_value(value) for key, value in values}))
    return found


READERS: dict[str, Reader] = {
    "mistral": _read_mistral,
    "qwen3_coder": _read_qwen3_coder,
    "glm45": _read_glm45,
    "hermes": _read_hermes,
    "granite4": _read_hermes,  # Granite4ToolParser: json.loads of each <tool_call>...</tool_call> segment
    "pythonic": _read_pythonic,
    "llama3_json": _read_llama3_json,
    "kimi_k2": _read_kimi_k2,
    "deepseek_v31": _read_deepseek_v31,
}


def test_every_family_has_a_reader() -> None:
    assert set(READERS) == set(PARSERS)


def _render(parser: str | families.Family, messages: list[dict], tools: list[dict]) -> str:
    pytest.importorskip("jinja2", reason="jinja2 is not installed in this environment")
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # The settings transformers renders chat templates with.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env.from_string(tinymodel.chat_template(parser)).render(
        messages=messages, tools=tools, add_generation_prompt=True
    )


def _conversation(arguments_as: str = "mapping") -> list[dict]:
    """The seed conversation, then an assistant turn with EARLIER_CALLS, their results and one more user turn."""
    calls = [
        {
            "id": f"call{n}",
            "type": "function",
            "function": {"name": name, "arguments": args if arguments_as == "mapping" else json.dumps(args)},
        }
        for n, (name, args) in enumerate(EARLIER_CALLS)
    ]
    return [
        *SEED_MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call0", "content": "31 degrees"},
        {"role": "tool", "tool_call_id": "call1", "content": "sunny"},
        {"role": "user", "content": "Thanks!"},
    ]


# The earlier assistant turn: the second one of the rendered conversation, up to its end.
_TURN_START, _TURN_INDEX = tinymodel.IM_START + "assistant\n", 2


@pytest.mark.parametrize("arguments_as", ["mapping", "string"])
@pytest.mark.parametrize("parser", PARSERS)
def test_the_template_writes_earlier_calls_as_the_parser_reads_them(parser: str, arguments_as: str) -> None:
    if parser in ("pythonic", "qwen3_coder", "glm45") and arguments_as == "string":
        pytest.skip("this template spells arguments out one by one, from a mapping only")
    text = _render(parser, _conversation(arguments_as), [WEATHER])
    assert text.endswith("<|im_start|>user\nThanks!<|im_end|>\n<|im_start|>assistant\n")
    turn = text.split(_TURN_START)[_TURN_INDEX].split(tinymodel.IM_END)[0]
    assert READERS[parser](turn) == EARLIER_CALLS
    if parser == "kimi_k2":  # the template numbers the calls of a turn from 0
        assert re.findall(r":(\d+)" + re.escape(families.KIMI_ARGUMENT_BEGIN), turn) == ["0", "1"]
    tools_block = text.split("<tools>\n", 1)[1].split("</tools>", 1)[0]
    assert [json.loads(line) for line in tools_block.splitlines()] == [WEATHER]


# vLLM's own parser of each family reads the earlier turn: transformers renders the conversation from the built
# tokenizer_config.json, the assistant turn is cut out and given to the parser's non-streaming extraction with the
# tokenizer and a request declaring the tools, as the server builds them. One interpreter for all families: vLLM
# takes 10-20 s to import. Each family's answer (or its error) is written to the file the spec names.
_READ_WITH_VLLM = """
import json, sys
from transformers import AutoTokenizer
from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
from vllm.tool_parsers import ToolParserManager

spec = json.load(sys.stdin)
found = {}
for parser, folder in spec["folders"].items():
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        text = tokenizer.apply_chat_template(
            spec["messages"], tools=spec["tools"], tokenize=False, add_generation_prompt=True
        )
        turn = text.split(spec["turn_start"])[spec["turn_index"]].split(spec["turn_end"])[0]
        request = ChatCompletionRequest(model="tiny-llama", messages=spec["messages"][-1:], tools=spec["tools"])
        cls = ToolParserManager.get_tool_parser(parser)
        read = cls(tokenizer, request.tools).extract_tool_calls(turn, request)
        found[parser] = {
            "class": cls.__name__,
            "supports_required_and_named": cls.supports_required_and_named,
            "structural_tag_model": cls.structural_tag_model,
            "rendered": text,
            "turn": turn,
            "tools_called": read.tools_called,
            "calls": [[call.function.name, call.function.arguments] for call in read.tool_calls],
            "content": read.content,
        }
    except Exception as error:
        found[parser] = {"error": f"{type(error).__name__}: {error}"}
with open(spec["out"], "w", encoding="utf-8") as out:
    json.dump(found, out)
"""
_READ_BY_VLLM: dict[Path, dict[str, dict]] = {}


@pytest.fixture
def read_by_vllm(vllm_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """What vLLM's parser of every family read in the earlier turn, by parser (one run for the session)."""
    if vllm_python not in _READ_BY_VLLM:
        folder = tmp_path_factory.mktemp("read-by-vllm")
        spec = {
            "folders": {parser: str(build_model(folder / parser, "random", parser)) for parser in PARSERS},
            "messages": _conversation(),
            "tools": [WEATHER, FORECAST],
            "turn_start": _TURN_START,
            "turn_index": _TURN_INDEX,
            "turn_end": tinymodel.IM_END,
            "out": str(folder / "read.json"),
        }
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.pop("PYTHONPATH", None)
        finished = subprocess.run(
            [str(vllm_python), "-c", _READ_WITH_VLLM],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        _READ_BY_VLLM[vllm_python] = json.loads((folder / "read.json").read_text(encoding="utf-8"))
    return _READ_BY_VLLM[vllm_python]


@pytest.mark.vllm
@pytest.mark.parametrize("parser", PARSERS)
def test_vllms_parser_reads_the_earlier_calls_the_template_wrote(parser: str, read_by_vllm: dict[str, dict]) -> None:
    read = read_by_vllm[parser]
    assert "error" not in read, read.get("error")
    # transformers renders what the template tests above render with jinja2.
    assert read["rendered"] == _render(parser, _conversation(), [WEATHER, FORECAST])
    assert read["tools_called"], read
    assert [(name, json.loads(arguments)) for name, arguments in read["calls"]] == EARLIER_CALLS, read["turn"]
    # Nothing of the turn is left as text: granite4's parser hands back the "\n" between two calls, which the
    # server drops as blank.
    assert not (read["content"] or "").strip(), read["content"]


# What a json-array family's note says of its required answers, and the key its array holds the arguments under:
# the server's own array of {"name", "parameters"} (the family's parser never sees it), or the parser's own
# schema of {"name", "arguments"}, which that parser reads.
_BY_THE_SERVER = ("required answers are the server's JSON array", "parameters")
_BY_THE_PARSER = ("required answers follow the parser's own JSON-array schema", "arguments")


def _json_array_path(chosen: families.Family) -> tuple[str, str]:
    """(claim, arguments key) of a json-array family, as its note says."""
    (path,) = [path for path in (_BY_THE_SERVER, _BY_THE_PARSER) if path[0] in chosen.note]
    return path


@pytest.mark.vllm
@pytest.mark.parametrize("parser", PARSERS)
def test_each_familys_required_path_is_the_one_vllm_takes(parser: str, read_by_vllm: dict[str, dict]) -> None:
    # parser/abstract_parser.py: a structural tag when the parser names a model (which also turns
    # supports_required_and_named off); else the server's JSON array when supports_required_and_named is on,
    # the parser's own extraction when it is off.
    read, chosen = read_by_vllm[parser], FAMILIES[parser]
    assert "error" not in read, read.get("error")
    if chosen.path == STRUCTURAL_TAG:
        assert read["structural_tag_model"] and not read["supports_required_and_named"], read["class"]
    else:
        assert read["structural_tag_model"] is None, read["class"]
        assert read["supports_required_and_named"] == (_json_array_path(chosen) == _BY_THE_SERVER), read["class"]


# A real vLLM per family: one server, one blocking and one streaming required request. The blocking one asks for
# logprobs, whose tokens spell the answer as the model wrote it, before any parser read it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(base_url: str, body: dict) -> bytes:
    request = urllib.request.Request(
        base_url + "/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with _OPENER.open(request, timeout=120) as response:
        return response.read()


def _check_call(name: str, arguments: str) -> None:
    assert name == "get_current_weather"
    parsed = json.loads(arguments)
    assert isinstance(parsed, dict)
    assert isinstance(parsed["city"], str) and isinstance(parsed["state"], str)
    assert parsed["unit"] in ("celsius", "fahrenheit")


def _check_path(chosen: families.Family, choice: dict) -> None:
    """The model wrote the calls in the form the family's required path constrains to, and they were read from it."""
    written = "".join(token["token"] for token in choice["logprobs"]["content"]).removesuffix(tinymodel.IM_END)
    calls = [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in choice["message"]["tool_calls"]
    ]
    if chosen.path == STRUCTURAL_TAG:
        # The family's own format, as its parser reads it (the XML-like readers may type a value differently).
        assert [name for name, _ in READERS[chosen.parser](written)] == [name for name, _ in calls], written
    else:
        _, key = _json_array_path(chosen)
        assert [(call["name"], call[key]) for call in json.loads(written)] == calls, written


def _streamed_calls(raw: bytes) -> tuple[dict[int, dict[str, str]], list[str]]:
    """The calls a stream's deltas add up to, by index, and the finish reasons it gave."""
    calls: dict[int, dict[str, str]] = {}
    reasons = []
    for line in raw.decode().splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[len("data: ") :])["choices"]:
            for delta in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"name": "", "arguments": ""})
                function = delta.get("function") or {}
                call["name"] += function.get("name") or ""
                call["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                reasons.append(choice["finish_reason"])
    return calls, reasons


@pytest.mark.vllm
@pytest.mark.parametrize("parser", PARSERS)
def test_vllm_parses_the_required_call_of_each_family(tmp_path: Path, vllm_python: Path, parser: str) -> None:
    model = build_model(tmp_path / "model", "shaped", parser)
    log = tmp_path / "vllm.log"
    body = REQUIRED_SEED
    target = LocalTarget(
        python=vllm_python, model_dir=model, log_path=log, load_format=load_format("shaped"), tool_call_parser=parser
    )
    with target:
        choice = json.loads(_post(target.base_url, {**body, "logprobs": True}))["choices"][0]
        assert choice["finish_reason"] == "tool_calls", choice
        calls = choice["message"]["tool_calls"]
        assert calls, choice
        for call in calls:
            _check_call(call["function"]["name"], call["function"]["arguments"])
        _check_path(FAMILIES[parser], choice)
        streamed, reasons = _streamed_calls(_post(target.base_url, {**body, "stream": True}))
        assert streamed and reasons == ["tool_calls"], (streamed, reasons)
        for call in streamed.values():
            _check_call(call["name"], call["arguments"])


# ---------------------------------------------------------------- thinking models


THINKING = [(parser, reasoning) for reasoning, item in families.REASONING.items() for parser in item.families]


@pytest.mark.parametrize(("parser", "reasoning"), THINKING)
def test_a_thinking_model_has_the_think_markers_and_opens_its_thought_in_the_prompt(
    tmp_path: Path, parser: str, reasoning: str
) -> None:
    folder = build_model(tmp_path, "shaped", parser, reasoning)
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    # vLLM's reasoning parsers look the markers up as single ids; the thought comes in several tokens, so a
    # stream carries it over several deltas.
    thought = families.THINK_START + "".join(families.THOUGHT) + families.THINK_END
    assert tokenizer.encode(thought).tokens == [families.THINK_START, *families.THOUGHT, families.THINK_END]
    template = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))["chat_template"]
    chosen = families.model_family(parser, reasoning)
    assert template == tinymodel.chat_template(chosen)
    prompt = _render(chosen, [{"role": "user", "content": "Hi"}], [WEATHER])
    assert prompt.endswith("<|im_start|>assistant\n" + families.THINK_START)
    # The plain family's model does not think: its answer starts right after the prompt's "\n".
    assert _render(parser, [{"role": "user", "content": "Hi"}], [WEATHER]).endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize(("parser", "reasoning"), THINKING)
def test_the_thought_follows_one_path_and_ends_where_the_plain_model_starts(parser: str, reasoning: str) -> None:
    chosen = families.model_family(parser, reasoning)
    texts = tinymodel._decoded_vocab(chosen)
    rows = tinymodel.token_logits(chosen)
    contexts = tinymodel.token_contexts(chosen)
    path = [families.THINK_START, *families.THOUGHT, families.THINK_END]
    for before, after in itertools.pairwise(path):
        row = rows[contexts[texts.index(before)]]
        assert max(range(len(row)), key=row.__getitem__) == texts.index(after), (before, after)
        assert row[texts.index(after)] - sorted(row)[-2] > 15  # as good as sure: the thought never wanders
    # After </think> the model stands where the plain model stands after the prompt's "\n".
    assert tinymodel.CONTEXTS[contexts[texts.index(families.THINK_END)]] == "space"
    # Outside the thought, its tokens are never written: no argument picks them up.
    space = rows[tinymodel.CONTEXTS.index("space")]
    assert all(space[texts.index(token)] == tinymodel.NEVER for token in path)


def test_a_reasoning_parser_is_refused_with_a_family_it_does_not_think_for(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="served with tool-call parser glm45, not 'hermes'"):
        build_model(tmp_path / "a", "shaped", "hermes", "glm45")
    with pytest.raises(ValueError, match="no thinking model for reasoning parser 'gptoss'"):
        build_model(tmp_path / "b", "shaped", "hermes", "gptoss")


def _stream_parts(raw: bytes) -> list[tuple[str, str]]:
    """What a stream's deltas carry in order, as (field, text): reasoning, content and tool-call arguments."""
    parts = []
    for line in raw.decode().splitlines():
        if not line.startswith("data: {"):
            continue
        for choice in json.loads(line[len("data: ") :])["choices"]:
            delta = choice["delta"]
            for name in ("reasoning", "reasoning_content", "content"):
                if delta.get(name):
                    parts.append((name, delta[name]))
            for call in delta.get("tool_calls") or []:
                parts.append(("tool_calls", (call.get("function") or {}).get("arguments") or ""))
    return parts


@pytest.mark.vllm
@pytest.mark.parametrize(("parser", "reasoning"), THINKING)
def test_vllm_serves_the_call_after_the_thought(tmp_path: Path, vllm_python: Path, parser: str, reasoning: str) -> None:
    """The model reaches the grammar after its thought: vLLM puts the thought in `reasoning` and parses the call."""
    model = build_model(tmp_path / "model", "shaped", parser, reasoning)
    body = REQUIRED_SEED
    target = LocalTarget(
        python=vllm_python,
        model_dir=model,
        log_path=tmp_path / "vllm.log",
        load_format=load_format("shaped"),
        tool_call_parser=parser,
        reasoning_parser=reasoning,
    )
    thought = "".join(families.THOUGHT).strip()
    with target:
        choice = json.loads(_post(target.base_url, body))["choices"][0]
        message = choice["message"]
        assert choice["finish_reason"] == "tool_calls", choice
        # Either name: vLLM's since its PR #27752, or the one before it.
        assert (message.get("reasoning") or message.get("reasoning_content") or "").strip() == thought, message
        assert message["tool_calls"], message
        for call in message["tool_calls"]:
            _check_call(call["function"]["name"], call["function"]["arguments"])
        raw = _post(target.base_url, {**body, "stream": True})
        parts = _stream_parts(raw)
        fields = [name.replace("reasoning_content", "reasoning") for name, _ in parts]
        first_call = fields.index("tool_calls")
        assert fields[:first_call] == ["reasoning"] * first_call and first_call >= 2, parts
        assert "".join(text for name, text in parts if name.startswith("reasoning")).strip() == thought
        streamed, reasons = _streamed_calls(raw)
        assert reasons == ["tool_calls"] and streamed, (streamed, reasons)
        for call in streamed.values():
            _check_call(call["name"], call["arguments"])
