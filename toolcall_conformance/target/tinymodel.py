"""Builds the tiny local model folder that the embedded vLLM target serves."""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .families import FAMILIES, Family, family, model_family

if TYPE_CHECKING:
    from tokenizers import Tokenizer

FLAVOURS = ("shaped", "random")

HIDDEN = 128
HEADS = 2
KV_HEADS = 1
LAYERS = 2
INTERMEDIATE = 256
MAX_POSITIONS = 16384

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END)
# Added (not special) so that decoding always keeps them, as in Qwen-style hermes models.
MARKUP_TOKENS = ("<tool_call>", "</tool_call>", "<tools>", "</tools>", "<tool_response>", "</tool_response>")

# Every prefix of each piece becomes a token (one merge per character), so the model can spell the
# hermes envelope, JSON punctuation and common words in few tokens. The markup pieces stop before
# the closing ">" because "<tool_call>" itself is an added token and a string has only one id.
MARKUP_PIECES = (
    "<tool_call",
    "</tool_call",
    "<tool_response",
    "</tool_response",
    '{"name": "',
    '", "arguments": ',
    '": "',
    '", "',
    '": ',
    ', "',
    '"}',
    '"}}',
    "}}",
    '"]',
    '["',
    "}\n",
    '"}\n',
    "\n{",
    "\n\n",
    "# Tools",
)
# Words of JSON Schema, of the seed conversation and of everyday API parameters: forced property
# names take few steps, and free string values come out as words.
_WORD_TEXT = """
    additionalProperties function object string integer number boolean array items true false null
    minimum maximum default format strict enum const anyOf oneOf allOf ref defs pattern properties
    get_current_weather get_forecast weather forecast current city state unit units days celsius
    fahrenheit location temperature Dallas Texas San Francisco California New York London Paris id name
    type value status code date time start end user email phone address street country region zip postal
    amount price currency total count limit offset page size order sort filter query search text title
    description message content body subject tags items lines url path file version mode level severity
    priority enabled active config settings options channel channels notification notifications event
    events calendar schedule interval duration minutes hours seconds timestamp timezone latitude
    longitude coordinates origin destination route distance metric percent rate ratio score weight
    height width length color language locale account customer invoice payment product sku quantity
    stock warehouse shipment tracking carrier host hostname port api key token secret policy rule role
    permission group team project task issue comment note label category kind source target input output
    result data record entry list index min max step flag feature rollout environment staging production
    development alert escalate escalation pager critical warning info error debug sample schema sms push
    digest daily weekly monthly immediate interview interviews interviewer candidate position slots slot
    supplier purchase register allowlist create update delete send plan book reserve cancel first last
    full middle age birth year month day hour minute second week today tomorrow yes no ok none all any
    other new old small large high low top bottom left right up down red green blue black white image
    video audio document report summary details reason search_query max_results include exclude
    recursive dry_run force verbose user assistant system tool call Hello Hi You Can What The This
    Please Thanks
"""
WORDS = tuple(_WORD_TEXT.split())
PROSE = (" the", " and", " to", " of", " in", " for", " you", " is", " what", " can", " with", " a", " be")
PROSE += (" it", " tell", " me", " next", " call", " one", " or", " more", " functions", " inside", " tags")
PROSE += (" JSON", " weather", " forecast", " current", " days", " is")
PIECES = MARKUP_PIECES + WORDS + tuple(dict.fromkeys(PROSE))


def _byte_alphabet() -> list[str]:
    """Byte-level alphabet: printable bytes stand for themselves, the rest map above U+0100."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(0x100 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def _encode_piece(piece: str, alphabet: list[str]) -> list[str]:
    return [alphabet[b] for b in piece.encode("utf-8")]


def _vocab_and_merges(chosen: Family) -> tuple[dict[str, int], list[tuple[str, str]]]:
    alphabet = _byte_alphabet()
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    merges: list[tuple[str, str]] = []
    for piece in PIECES + chosen.pieces:
        symbols = _encode_piece(piece, alphabet)
        current = symbols[0]
        for symbol in symbols[1:]:
            merged = current + symbol
            if merged not in vocab:
                vocab[merged] = len(vocab)
                merges.append((current, symbol))
            current = merged
    return vocab, merges


def _chosen(parser: str | Family) -> Family:
    return parser if isinstance(parser, Family) else family(parser)


def _special_tokens(chosen: Family) -> tuple[str, ...]:
    return SPECIAL_TOKENS + chosen.special_tokens


def _markup_tokens(chosen: Family) -> tuple[str, ...]:
    return MARKUP_TOKENS + chosen.markup_tokens


def build_tokenizer(parser: str | Family = "hermes") -> Tokenizer:
    """Byte-level BPE tokenizer: every text encodes; the family's markup and the chat markers are single tokens."""
    # Imported here: tokenizers is an optional dependency (the "local" extra).
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    chosen = _chosen(parser)
    vocab, merges = _vocab_and_merges(chosen)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    # No regex split: merges may span punctuation and spaces, e.g. '", "arguments": '.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    # The family's tokens come after the shared ones, so a family without any has the hermes tokenizer's bytes.
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in _special_tokens(chosen)])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in _markup_tokens(chosen)])
    return tokenizer


# The chat template: tool signatures in the system turn, results as <tool_response>, and the calls
# written the way the server's --tool-call-parser reads them (families.FAMILIES). Every tag strips
# whitespace and newlines are written out, so trim_blocks/lstrip_blocks do not matter.
PARSERS = tuple(FAMILIES)


def chat_template(parser: str | Family = "hermes") -> str:
    """The Jinja chat template whose tool calls read as --tool-call-parser PARSER expects them."""
    chosen = _chosen(parser)
    if set(chosen.answer_prefix) & {"'", "\\"}:
        raise ValueError(f"an answer prefix goes into a quoted Jinja string as it is: {chosen.answer_prefix!r}")
    return (
        chosen.macros + '{%- set nl = "\\n" -%}'
        '{%- set has_system = messages and messages[0].role == "system" -%}'
        "{%- if tools -%}"
        "{{- '<|im_start|>system' ~ nl -}}"
        "{%- if has_system -%}{{- messages[0].content ~ nl ~ nl -}}{%- endif -%}"
        "{{- '# Tools' ~ nl ~ nl ~ 'You can call one or more functions. Their signatures are listed inside "
        "<tools></tools>, one JSON object per line:' ~ nl ~ '<tools>' ~ nl -}}"
        "{%- for tool in tools -%}{{- tool | tojson -}}{{- nl -}}{%- endfor -%}"
        + chosen.instructions
        + "{%- elif has_system -%}"
        "{{- '<|im_start|>system' ~ nl ~ messages[0].content ~ '<|im_end|>' ~ nl -}}"
        "{%- endif -%}"
        "{%- for message in messages -%}"
        '{%- if message.role == "user" or (message.role == "system" and not loop.first) -%}'
        "{{- '<|im_start|>' ~ message.role ~ nl ~ message.content ~ '<|im_end|>' ~ nl -}}"
        '{%- elif message.role == "assistant" -%}'
        "{{- '<|im_start|>assistant' ~ nl -}}"
        "{%- if message.content -%}{{- message.content -}}{%- endif -%}"
        "{%- for item in message.tool_calls or [] -%}"
        "{%- set call = item.function if item.function is defined else item -%}" + chosen.call + "{%- endfor -%}"
        "{{- '<|im_end|>' ~ nl -}}"
        '{%- elif message.role == "tool" -%}'
        "{%- if loop.first or loop.previtem.role != \"tool\" -%}{{- '<|im_start|>user' -}}{%- endif -%}"
        "{{- nl ~ '<tool_response>' ~ nl ~ message.content ~ nl ~ '</tool_response>' -}}"
        "{%- if loop.last or loop.nextitem.role != \"tool\" -%}{{- '<|im_end|>' ~ nl -}}{%- endif -%}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant' ~ nl"
        + (f" ~ '{chosen.answer_prefix}'" if chosen.answer_prefix else "")
        + " -}}{%- endif -%}"
    )


CHAT_TEMPLATE = chat_template("hermes")


def _decoded_vocab(parser: str | Family = "hermes") -> list[str]:
    """Text of every token id, in id order (a lone byte of a multi-byte character decodes to U+FFFD)."""
    chosen = _chosen(parser)
    alphabet = _byte_alphabet()
    to_byte = {ch: b for b, ch in enumerate(alphabet)}
    vocab, _ = _vocab_and_merges(chosen)
    texts = [""] * len(vocab)
    for token, idx in vocab.items():
        texts[idx] = bytes(to_byte[c] for c in token).decode("utf-8", errors="replace")
    return texts + list(_special_tokens(chosen)) + list(_markup_tokens(chosen))


# The shaped model is a bigram model. Its preference for the next token depends only on the context
# class of the last token (the character it ends with) and the kind of the candidate (the character
# it starts with): PREFERENCE[context][kind]. Under guided decoding the grammar picks the allowed
# tokens and this table picks among them: after a word, close the string; after an opening quote,
# write a word; after a value, close the object; after </tool_call>, mostly stop, sometimes call again.
# In the word row, the quote, quoted and at cells are replaced as WORD_MASS_FACTOR says.
KINDS = ("eos", "space", "quote", "quoted", "close", "comma", "open", "word", "at", "punct")
# fmt: off
PREFERENCE = {
    #              eos  space  quote quoted  close  comma   open   word     at  punct
    "word":  (    9,    -6,     0,     0,     6,   4.5,     0,     0,     0,     3),
    "quote": (    0,    -6,     0,     0,   4.5,     2,     0,     5,     1,     1),
    "colon": (    0,    -6,     6,     1,     0,     0,     2,     3,     0,     0),
    "open":  (    0,    -6,     5,     1,     6,     0,     0,     2,     0,     0),
    "close": (    5,    -3,     4,     4,     6,     4,     0,     0,     0,     5),
    "tag":   ( 10.5,     6,     0,     0,     0,     0,     5,     0,     0,   5.5),
    "space": (    0,    -6,     3,     3,     3,     0,     5,     4,     0,     4),
    "other": (    3,    -6,     3,     3,     3,     2,     2,     4,     1,     1),
}
# fmt: on
CONTEXTS = tuple(PREFERENCE)
# After a word, a closing quote must beat the whole vocabulary of words, however large: its logit is
# set to make it that many times likelier than all word tokens together. "@" gets a share too, so
# a string with format "email" ends soon.
WORD_MASS_FACTOR = {("word", "quote"): 4.0, ("word", "quoted"): 4.0, ("word", "at"): 0.25}
NEVER = -30.0
PER_CHAR = 0.15  # prefer long tokens, so forced text such as '", "arguments": ' takes few steps
WHOLE_PIECE = 3.0  # prefer whole words over the prefixes that the merges leave in the vocabulary


def _context(text: str, chosen: Family) -> str:
    """Class of the last token, by the character it ends with; a family's own tokens are tags unless it says."""
    if text in chosen.contexts:
        return chosen.contexts[text]
    if text in chosen.added_tokens:
        return "tag"
    if text in SPECIAL_TOKENS or text in MARKUP_TOKENS:
        return "tag"
    stripped = text.rstrip(" ")
    last = stripped[-1:] if stripped else " "
    if last.isalnum() or last == "_" or not last.isascii():
        return "word"
    table = {'"': "quote", ":": "colon", "{": "open", "[": "open", ",": "open", "}": "close", "]": "close"}
    if last in table:
        return table[last]
    if last == ">":
        return "tag"
    return "space" if last.isspace() else "other"


def _kind(text: str, added: frozenset[str] = frozenset()) -> str:
    """Class of a candidate token, by the character it starts with (added: the family's own tokens)."""
    if text == IM_END:
        return "eos"
    if text in SPECIAL_TOKENS or text in MARKUP_TOKENS or text in added or not text.isascii():
        return "never"
    first = text[0]
    if first == '"' and len(text) > 1:
        return "quoted"  # a quote and more: fine to close a string, wrong to open a value with
    if first.isspace() and not (first == " " and text[1:2].isalnum()):
        return "space"
    table = {'"': "quote", "}": "close", "]": "close", ",": "comma", "{": "open", "[": "open", "@": "at"}
    if first in table:
        return table[first]
    if first.isalnum() or first == " ":
        return "word"
    return "punct"


def token_logits(parser: str | Family = "hermes") -> list[list[float]]:
    """The shaped model's logits: one row per context class, one column per token id."""
    chosen = _chosen(parser)
    texts = _decoded_vocab(chosen)
    added = frozenset(chosen.added_tokens)
    kinds = [_kind(text, added) for text in texts]
    whole = set(PIECES)
    bonus = []
    for text, kind in zip(texts, kinds, strict=True):
        extra = 0.0 if kind in ("eos", "space", "never") else PER_CHAR * min(len(text), 12)
        bonus.append(extra + (WHOLE_PIECE if text in whole and kind == "word" else 0.0))
    ids = {text: token for token, text in enumerate(texts)}
    rows = []
    for context in contexts_of(chosen):
        base = dict(zip(KINDS, PREFERENCE.get(context, (NEVER,) * len(KINDS)), strict=True))
        base.update({kind: value for (where, kind), value in chosen.preferences.items() if where == context})
        words = sum(math.exp(base["word"] + b) for b, k in zip(bonus, kinds, strict=True) if k == "word")
        for (where, kind), factor in WORD_MASS_FACTOR.items():
            if where == context:
                base[kind] = math.log(factor * words)
        row = [NEVER if k == "never" else base[k] + b for b, k in zip(bonus, kinds, strict=True)]
        for (where, text), logit in chosen.boosts.items():
            if where == context:
                row[ids[text]] = logit
        rows.append(row)
    return rows


def contexts_of(parser: str | Family = "hermes") -> tuple[str, ...]:
    """The context classes of a family's model: the shared ones, then the family's own (rows of NEVER but for
    their boosts)."""
    return CONTEXTS + _chosen(parser).own_contexts


def token_contexts(parser: str | Family = "hermes") -> list[int]:
    """Context class (index into contexts_of) of every token id."""
    chosen = _chosen(parser)
    classes = contexts_of(chosen)
    return [classes.index(_context(text, chosen)) for text in _decoded_vocab(chosen)]


def _config(vocab: int, eos: int, pad: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HIDDEN // HEADS,
        "hidden_act": "silu",
        "max_position_embeddings": MAX_POSITIONS,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "vocab_size": vocab,
        "bos_token_id": pad,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "torch_dtype": "bfloat16",
    }


def _bf16(values: Iterable[float]) -> bytes:
    """bfloat16 little-endian bytes: the upper half of each float32, rounded to nearest even."""
    bits = array("I", array("f", values).tobytes())
    if sys.byteorder != "little":
        bits.byteswap()
    halves = array("H", ((b + 0x7FFF + ((b >> 16) & 1)) >> 16 for b in bits))
    if sys.byteorder != "little":
        halves.byteswap()
    return halves.tobytes()


def bf16_rounded(values: Iterable[float]) -> list[float]:
    """The values as _bf16 stores them, read back as floats: what vLLM computes with."""
    halves = array("H", _bf16(values))
    if sys.byteorder != "little":
        halves.byteswap()
    return list(array("f", array("I", (half << 16 for half in halves)).tobytes()))


def _zeros(*shape: int) -> tuple[list[int], bytes]:
    return list(shape), bytes(2 * math.prod(shape))


def bigram_weights(parser: str | Family = "hermes") -> tuple[int, list[float], list[float]]:
    """The vocabulary's size, and the embedding and output matrices ([vocab][HIDDEN], row-major) of the bigram model.

    Token t embeds as the unit vector of its context class c; the final RMSNorm scales it to sqrt(HIDDEN), so
    output column c, divided by that, holds the logits for that context."""
    logits = token_logits(parser)
    contexts = token_contexts(parser)
    vocab = len(contexts)
    if max(contexts) >= HIDDEN:
        raise ValueError(f"{max(contexts) + 1} context classes do not fit in {HIDDEN} hidden dimensions")
    embed = [0.0] * (vocab * HIDDEN)
    for token, context in enumerate(contexts):
        embed[token * HIDDEN + context] = 1.0
    norm = math.sqrt(HIDDEN)
    output = [0.0] * (vocab * HIDDEN)
    for context, row in enumerate(logits):
        for token, logit in enumerate(row):
            output[token * HIDDEN + context] = logit / norm
    return vocab, embed, output


def _shaped_tensors(parser: str | Family) -> dict[str, tuple[list[int], bytes]]:
    """Weights of a bigram model: attention and MLP write nothing, so the residual is the embedding."""
    vocab, embed, lm_head = bigram_weights(parser)
    tensors = {
        "model.embed_tokens.weight": ([vocab, HIDDEN], _bf16(embed)),
        "model.norm.weight": ([HIDDEN], _bf16([1.0] * HIDDEN)),
        "lm_head.weight": ([vocab, HIDDEN], _bf16(lm_head)),
    }
    head_dim = HIDDEN // HEADS
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}."
        tensors[prefix + "input_layernorm.weight"] = ([HIDDEN], _bf16([1.0] * HIDDEN))
        tensors[prefix + "post_attention_layernorm.weight"] = ([HIDDEN], _bf16([1.0] * HIDDEN))
        tensors[prefix + "self_attn.q_proj.weight"] = _zeros(HEADS * head_dim, HIDDEN)
        tensors[prefix + "self_attn.k_proj.weight"] = _zeros(KV_HEADS * head_dim, HIDDEN)
        tensors[prefix + "self_attn.v_proj.weight"] = _zeros(KV_HEADS * head_dim, HIDDEN)
        tensors[prefix + "self_attn.o_proj.weight"] = _zeros(HIDDEN, HEADS * head_dim)
        tensors[prefix + "mlp.gate_proj.weight"] = _zeros(INTERMEDIATE, HIDDEN)
        tensors[prefix + "mlp.up_proj.weight"] = _zeros(INTERMEDIATE, HIDDEN)
        tensors[prefix + "mlp.down_proj.weight"] = _zeros(HIDDEN, INTERMEDIATE)
    return tensors


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], bytes]]) -> None:
    """Write bfloat16 tensors in the safetensors layout: u64 header length, JSON header, raw data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(tensors):
        shape, data = tensors[name]
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(raw)))
        out.write(raw)
        for name in sorted(tensors):
            out.write(tensors[name][1])


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def build_model(
    dest: Path, flavour: str = "shaped", parser: str = "hermes", reasoning_parser: str | None = None
) -> Path:
    """Write the model folder for a flavour, a tool-call parser and, if one, the reasoning parser it thinks for
    into dest (same bytes every time); return dest."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; expected one of {', '.join(FLAVOURS)}")
    chosen = model_family(parser, reasoning_parser)
    template = chat_template(chosen)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(chosen)
    eos = tokenizer.token_to_id(IM_END)
    pad = tokenizer.token_to_id(PAD)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    (dest / "tokenizer.json").write_text(tokenizer.to_str(pretty=True) + "\n", encoding="utf-8")
    _write_json(dest / "config.json", _config(vocab, eos, pad))
    _write_json(dest / "generation_config.json", {"bos_token_id": pad, "eos_token_id": eos, "pad_token_id": pad})
    _write_json(
        dest / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": None,
            "eos_token": IM_END,
            "pad_token": PAD,
            "unk_token": None,
            "add_bos_token": False,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,
            "model_max_length": MAX_POSITIONS,
            "chat_template": template,
        },
    )
    weights = dest / "model.safetensors"
    if flavour == "shaped":
        write_safetensors(weights, _shaped_tensors(chosen))
    elif weights.exists():
        weights.unlink()
    return dest


def load_format(flavour: str) -> str:
    """vLLM's --load-format for a flavour: random weights for "random", the shipped ones otherwise."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; expected one of {', '.join(FLAVOURS)}")
    return "dummy" if flavour == "random" else "safetensors"
