"""The tiny model as one GGUF file for llama.cpp: the same vocabulary, merges, template and weights as tinymodel.

Both engines then serve one model, so a difference between their answers is the engines' own. GGUF (version 3,
ggml's docs/gguf.md) is a header, key/value metadata, tensor descriptions and the aligned tensor data; it is
written here with struct, so the file has the same bytes every time and needs no package of llama.cpp's.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .families import Family, family
from .tinymodel import (
    CONTEXTS,
    HEADS,
    HIDDEN,
    IM_END,
    INTERMEDIATE,
    KV_HEADS,
    LAYERS,
    MAX_POSITIONS,
    PAD,
    _markup_tokens,
    _special_tokens,
    _vocab_and_merges,
    bf16_rounded,
    bigram_weights,
    chat_template,
)

ALIGNMENT = 32
MAGIC = b"GGUF"
VERSION = 3
# Metadata value types (gguf_type) and tensor types (ggml_type) of the format.
_UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0
# llama_token_type: text that a merge builds, a control token the output leaves out, text added whole.
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 3, 4

Metadata = dict[str, object]


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _typed(value: object) -> tuple[int, bytes]:
    """A metadata value as its gguf_type and bytes; bool before int, because a bool is an int in Python."""
    if isinstance(value, bool):
        return _BOOL, struct.pack("<?", value)
    if isinstance(value, int):
        return (_INT32, struct.pack("<i", value)) if value < 0 else (_UINT32, struct.pack("<I", value))
    if isinstance(value, float):
        return _FLOAT32, struct.pack("<f", value)
    if isinstance(value, str):
        return _STRING, _string(value)
    if isinstance(value, array) and value.typecode == "i":  # llama.cpp reads token types as int32 only
        return _ARRAY, struct.pack(f"<IQ{len(value)}i", _INT32, len(value), *value)
    if isinstance(value, list | tuple):
        kinds = {_typed(item)[0] for item in value}
        if len(kinds) != 1:
            raise ValueError(f"a GGUF array holds one type; got {sorted(kinds)}")
        (kind,) = kinds
        return _ARRAY, struct.pack("<IQ", kind, len(value)) + b"".join(_typed(item)[1] for item in value)
    raise TypeError(f"no GGUF type for {type(value).__name__}")


def _f32(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def write_gguf(path: Path, metadata: Metadata, tensors: dict[str, tuple[list[int], bytes]]) -> None:
    """Write a GGUF file; each tensor is (shape in ggml's order, fastest dimension first; float32 bytes)."""
    header = bytearray(MAGIC + struct.pack("<IQQ", VERSION, len(tensors), len(metadata)))
    for key, value in metadata.items():
        kind, data = _typed(value)
        header += _string(key) + struct.pack("<I", kind) + data
    offset = 0
    for name, (shape, data) in tensors.items():
        header += _string(name) + struct.pack(f"<I{len(shape)}QIQ", len(shape), *shape, GGML_F32, offset)
        offset += len(data) + (-len(data) % ALIGNMENT)
    header += bytes(-len(header) % ALIGNMENT)
    with path.open("wb") as out:
        out.write(header)
        for _, data in tensors.values():
            out.write(data + bytes(-len(data) % ALIGNMENT))


def _tokens(parser: str) -> tuple[list[str], array, list[str]]:
    """Token texts as llama.cpp's byte-level BPE ("gpt2") reads them, their types, and the merges."""
    chosen = family(parser)
    vocab, merges = _vocab_and_merges(chosen)
    texts = [""] * len(vocab)
    for text, token in vocab.items():
        texts[token] = text
    special = list(_special_tokens(chosen))
    markup = list(_markup_tokens(chosen))
    types = array(
        "i", [TOKEN_NORMAL] * len(texts) + [TOKEN_CONTROL] * len(special) + [TOKEN_USER_DEFINED] * len(markup)
    )
    return texts + special + markup, types, [f"{left} {right}" for left, right in merges]


# Under "required", vLLM's grammar forces the call from the answer's first token, and what follows a call; llama.cpp's
# lets text come first and starts the call's grammar at its trigger, <tool_call> and a line break (common/chat.cpp).
# So the GGUF model makes those choices itself: it opens the call after the prompt's last "\n", as a qwen3_coder
# model does under vLLM, goes on with "\n{", and after "</tool_call>" starts another call about 12 times in 100
# (a line break, then <tool_call>) where it would otherwise stop, as the hermes model does under vLLM (families.py,
# _STOP_RATHER_THAN_CALL_AGAIN): so parallel_tool_calls=false is put to the test. The pieces that close JSON and
# end a line count as closing, so that a value ending with one is not taken for the answer's start. These are the
# differences from the model vLLM serves, and they lie where vLLM's grammar leaves the model no choice.
OPENS_THE_CALL = {("space", "<tool_call>"): 20.0, ("tag", "\n{"): 12.0, ("tag", "\n"): 8.5}
CLOSERS = {'"}\n': "close", "}\n": "close"}


def llamacpp_family(parser: str = "hermes") -> Family:
    """The family as the GGUF model is shaped: tinymodel's, opening the call without a grammar forcing it."""
    chosen = family(parser)
    return replace(chosen, boosts={**chosen.boosts, **OPENS_THE_CALL}, contexts={**chosen.contexts, **CLOSERS})


def _shaped_tensors(parser: str) -> dict[str, tuple[list[int], bytes]]:
    """tinymodel's bigram weights in llama.cpp's names: attention and feed-forward write nothing."""
    # Rounded as vLLM's bfloat16 safetensors are, so that both engines compute with the same numbers.
    vocab, embed, output = bigram_weights(llamacpp_family(parser))
    embed, output = bf16_rounded(embed), bf16_rounded(output)
    head_dim = HIDDEN // HEADS
    ones = _f32([1.0] * HIDDEN)

    def zeros(columns: int, rows: int) -> tuple[list[int], bytes]:
        return [columns, rows], bytes(4 * columns * rows)

    tensors = {"token_embd.weight": ([HIDDEN, vocab], _f32(embed))}
    for layer in range(LAYERS):
        block = f"blk.{layer}."
        tensors[block + "attn_norm.weight"] = ([HIDDEN], ones)
        tensors[block + "attn_q.weight"] = zeros(HIDDEN, HEADS * head_dim)
        tensors[block + "attn_k.weight"] = zeros(HIDDEN, KV_HEADS * head_dim)
        tensors[block + "attn_v.weight"] = zeros(HIDDEN, KV_HEADS * head_dim)
        tensors[block + "attn_output.weight"] = zeros(HEADS * head_dim, HIDDEN)
        tensors[block + "ffn_norm.weight"] = ([HIDDEN], ones)
        tensors[block + "ffn_gate.weight"] = zeros(HIDDEN, INTERMEDIATE)
        tensors[block + "ffn_up.weight"] = zeros(HIDDEN, INTERMEDIATE)
        tensors[block + "ffn_down.weight"] = zeros(INTERMEDIATE, HIDDEN)
    tensors["output_norm.weight"] = ([HIDDEN], ones)
    tensors["output.weight"] = ([HIDDEN, vocab], _f32(output))
    return tensors


GGUF_NAME = "tiny-llama.gguf"


def model_metadata(parser: str = "hermes") -> Metadata:
    """The GGUF metadata of the tiny model: llama architecture, byte-level BPE, the family's chat template."""
    tokens, types, merges = _tokens(parser)
    return {
        "general.architecture": "llama",
        "general.name": f"tiny-llama-{parser}",
        "general.alignment": ALIGNMENT,
        "llama.context_length": MAX_POSITIONS,
        "llama.embedding_length": HIDDEN,
        "llama.block_count": LAYERS,
        "llama.feed_forward_length": INTERMEDIATE,
        "llama.attention.head_count": HEADS,
        "llama.attention.head_count_kv": KV_HEADS,
        "llama.attention.layer_norm_rms_epsilon": 1e-6,
        "llama.rope.dimension_count": HIDDEN // HEADS,
        "llama.rope.freq_base": 10000.0,
        "llama.vocab_size": len(tokens),
        "tokenizer.ggml.model": "gpt2",
        # llama.cpp's "default" pre-tokenizer splits text as GPT-2 does before the merges; the HF tokenizer
        # merges across those splits. Prompts may tokenize differently; the tokens the model writes are the same.
        "tokenizer.ggml.pre": "default",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.eos_token_id": tokens.index(IM_END),
        "tokenizer.ggml.bos_token_id": tokens.index(PAD),
        "tokenizer.ggml.padding_token_id": tokens.index(PAD),
        "tokenizer.ggml.add_bos_token": False,
        "tokenizer.ggml.add_eos_token": False,
        "tokenizer.chat_template": chat_template(parser),
    }


def build_gguf(dest: Path, parser: str = "hermes") -> Path:
    """Write the shaped tiny model for a family as dest/tiny-llama.gguf (same bytes every time); return its path."""
    if len(CONTEXTS) > HIDDEN:
        raise AssertionError("every context class needs a dimension of its own")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / GGUF_NAME
    write_gguf(path, model_metadata(parser), _shaped_tensors(parser))
    return path
