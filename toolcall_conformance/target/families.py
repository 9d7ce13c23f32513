"""Tool-call families the tiny model can be built for: one per --tool-call-parser, as data for tinymodel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TypeVar

# How vLLM 0.32.0 constrains tool_choice="required" for a parser (parser/abstract_parser.py _apply_structural_tag):
# an xgrammar structural tag in the family's own format, read by the family's parser, when the parser names a
# structural_tag_model; else a JSON array of calls. A parser with supports_required_and_named=True leaves that to
# the server: a JSON array of {"name", "parameters"} objects (tool_parsers/utils.py) that the server parses itself,
# never calling the parser. One with supports_required_and_named=False (mistral) constrains the answer with its
# own JSON schema and reads it itself.
STRUCTURAL_TAG = "structural-tag"
JSON_ARRAY = "json-array"

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _frozen(data: Mapping[_Key, _Value] | None = None) -> Mapping[_Key, _Value]:
    """A read-only copy of data (empty without it), safe as a default of a frozen dataclass."""
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True)
class Family:
    """What the tiny model needs to be served with one tool-call parser.

    The tokens are added after the ChatML markers every family shares. The rest tunes the shaped model where a
    family's grammar leaves it a choice: `boosts` give a token a logit in one context class (a family's own
    markers are "never" elsewhere), `preferences` override cells of tinymodel's PREFERENCE table, `contexts`
    move a token to another context class. All stay empty for hermes, whose bytes a baseline depends on.
    """

    parser: str
    path: str
    note: str
    instructions: str  # Jinja: how the system turn says to call, after the tool signatures
    call: str  # Jinja: one earlier call, `call` with .name and .arguments, inside a loop over the turn's calls
    macros: str = ""  # Jinja macros the call uses
    special_tokens: tuple[str, ...] = ()  # added as special tokens (skipped in output unless the parser asks)
    markup_tokens: tuple[str, ...] = ()  # added as plain tokens: decoding keeps them
    pieces: tuple[str, ...] = ()  # more merge pieces, after the shared ones so their ids stay put
    boosts: Mapping[tuple[str, str], float] = field(default_factory=_frozen)  # (context, token text) -> logit
    preferences: Mapping[tuple[str, str], float] = field(default_factory=_frozen)  # (context, kind) -> value
    contexts: Mapping[str, str] = field(default_factory=_frozen)  # token text -> context class (own tokens: "tag")
    # Context classes of the family's own, each a row of NEVER but for its boosts: a fixed path of tokens.
    own_contexts: tuple[str, ...] = ()
    answer_prefix: str = ""  # what the generation prompt opens the answer with (a thinking family: <think>)
    reasoning_parser: str | None = None  # the --reasoning-parser that reads a thinking family's answers

    @property
    def added_tokens(self) -> tuple[str, ...]:
        """The family's own tokens, special then plain, each one id added after the shared vocabulary."""
        return self.special_tokens + self.markup_tokens


# Every tag strips whitespace and newlines are written out (`nl`), so trim_blocks/lstrip_blocks do not matter.
_HERMES_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call a function, write one JSON object per call inside "
    "<tool_call></tool_call> tags:' ~ nl ~ '<tool_call>' ~ nl -}}"
    '{{- \'{"name": <function-name>, "arguments": <arguments-object>}\' ~ nl -}}'
    "{{- '</tool_call><|im_end|>' ~ nl -}}"
)
# An argument object as JSON text: the OpenAI API carries it as a string, a template author may pass a mapping.
_ARGUMENTS_JSON = (
    "{%- if call.arguments is string -%}{{- call.arguments -}}{%- else -%}{{- call.arguments | tojson -}}{%- endif -%}"
)
_HERMES_CALL = (
    "{%- if message.content or not loop.first -%}{{- nl -}}{%- endif -%}"
    "{{- '<tool_call>' ~ nl ~ '{\"name\": \"' ~ call.name ~ '\", \"arguments\": ' -}}"
    "{%- if call.arguments is string -%}{{- call.arguments -}}"
    "{%- else -%}{{- call.arguments | tojson -}}{%- endif -%}"
    "{{- '}' ~ nl ~ '</tool_call>' -}}"
)
# Pythonic: one Python list of calls, [name(key=value, ...), ...], each value a Python literal (True, None,
# {"k": [1, 2]}) as the parser's ast reads it; a JSON string or number is already one.
_PYTHONIC_LITERAL = (
    "{%- macro py(value) -%}"
    "{%- if value is sameas true -%}True{%- elif value is sameas false -%}False"
    "{%- elif value is none -%}None"
    "{%- elif value is mapping -%}{{- '{' -}}"
    "{%- for key, item in value.items() -%}{{- (', ' if not loop.first else '') ~ (key | tojson) ~ ': ' -}}"
    "{{- py(item) -}}{%- endfor -%}{{- '}' -}}"
    "{%- elif value is string or value is number -%}{{- value | tojson -}}"
    "{%- else -%}{{- '[' -}}{%- for item in value -%}{{- (', ' if not loop.first else '') -}}{{- py(item) -}}"
    "{%- endfor -%}{{- ']' -}}"
    "{%- endif -%}"
    "{%- endmacro -%}"
)
_PYTHONIC_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call functions, write one Python list of calls and nothing else:' ~ nl -}}"
    "{{- '[function_name(argument=value, ...), ...]<|im_end|>' ~ nl -}}"
)
_PYTHONIC_CALL = (
    "{{- '[' if loop.first else ', ' -}}"
    "{{- call.name ~ '(' -}}"
    "{%- if call.arguments is mapping -%}"
    "{%- for key, value in call.arguments.items() -%}"
    "{{- (', ' if not loop.first else '') ~ key ~ '=' -}}{{- py(value) -}}"
    "{%- endfor -%}"
    "{%- elif call.arguments -%}{{- '**' ~ call.arguments -}}{%- endif -%}"
    "{{- ')' ~ (']' if loop.last else '') -}}"
)

# Llama 3 JSON: each call a bare {"name", "parameters"} object; the parser decodes every top-level object it finds,
# so calls of one turn are separated by "; " as Llama 3.x writes them.
PYTHON_TAG = "<|python_tag|>"
_LLAMA_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call a function, write one JSON object per call, separated by \"; \":' ~ nl -}}"
    '{{- \'{"name": <function-name>, "parameters": <arguments-object>}<|im_end|>\' ~ nl -}}'
)
_LLAMA_CALL = (
    "{%- if message.content or not loop.first -%}{{- '; ' -}}{%- endif -%}"
    '{{- \'{"name": "\' ~ call.name ~ \'", "parameters": \' -}}' + _ARGUMENTS_JSON + "{{- '}' -}}"
)

# Kimi K2: a section of calls, each headed by Kimi's own id "functions.NAME:INDEX", then the JSON arguments.
KIMI_SECTION_BEGIN = "<|tool_calls_section_begin|>"
KIMI_SECTION_END = "<|tool_calls_section_end|>"
KIMI_CALL_BEGIN = "<|tool_call_begin|>"
KIMI_ARGUMENT_BEGIN = "<|tool_call_argument_begin|>"
KIMI_CALL_END = "<|tool_call_end|>"
_KIMI_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call functions, write one section of calls:' ~ nl -}}"
    "{{- '" + KIMI_SECTION_BEGIN + KIMI_CALL_BEGIN + "functions.<function-name>:<index>"
    "" + KIMI_ARGUMENT_BEGIN + "<arguments-object>" + KIMI_CALL_END + KIMI_SECTION_END + "<|im_end|>' ~ nl -}}"
)
_KIMI_CALL = (
    "{%- if loop.first -%}{{- '" + KIMI_SECTION_BEGIN + "' -}}{%- endif -%}"
    "{{- '"
    + KIMI_CALL_BEGIN
    + "functions.' ~ call.name ~ ':' ~ loop.index0 ~ '"
    + KIMI_ARGUMENT_BEGIN
    + "' -}}"
    + _ARGUMENTS_JSON
    + "{{- '"
    + KIMI_CALL_END
    + "' -}}{%- if loop.last -%}{{- '"
    + KIMI_SECTION_END
    + "' -}}{%- endif -%}"
)

# DeepSeek V3.1: a section of calls, each NAME<sep>JSON-arguments between its own markers.
DEEPSEEK_CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
DEEPSEEK_CALLS_END = "<｜tool▁calls▁end｜>"
DEEPSEEK_CALL_BEGIN = "<｜tool▁call▁begin｜>"
DEEPSEEK_CALL_END = "<｜tool▁call▁end｜>"
DEEPSEEK_SEP = "<｜tool▁sep｜>"
_DEEPSEEK_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call functions, write one section of calls:' ~ nl -}}"
    "{{- '" + DEEPSEEK_CALLS_BEGIN + DEEPSEEK_CALL_BEGIN + "<function-name>" + DEEPSEEK_SEP + "<arguments-object>"
    "" + DEEPSEEK_CALL_END + DEEPSEEK_CALLS_END + "<|im_end|>' ~ nl -}}"
)
_DEEPSEEK_CALL = (
    "{%- if loop.first -%}{{- '" + DEEPSEEK_CALLS_BEGIN + "' -}}{%- endif -%}"
    "{{- '"
    + DEEPSEEK_CALL_BEGIN
    + "' ~ call.name ~ '"
    + DEEPSEEK_SEP
    + "' -}}"
    + _ARGUMENTS_JSON
    + "{{- '"
    + DEEPSEEK_CALL_END
    + "' -}}{%- if loop.last -%}{{- '"
    + DEEPSEEK_CALLS_END
    + "' -}}{%- endif -%}"
)

# Qwen3-Coder: XML-like calls; a string value is written as it is, any other value as JSON.
_XML_VALUE = "{%- if value is string -%}{{- value -}}{%- else -%}{{- value | tojson -}}{%- endif -%}"
_QWEN_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call a function, write:' ~ nl ~ '<tool_call>' ~ nl ~ '<function=<function-name>>' -}}"
    "{{- nl ~ '<parameter=<argument-name>>' ~ nl ~ '<value>' ~ nl ~ '</parameter>' ~ nl ~ '</function>' ~ nl -}}"
    "{{- '</tool_call><|im_end|>' ~ nl -}}"
)
_QWEN_CALL = (
    "{%- if message.content or not loop.first -%}{{- nl -}}{%- endif -%}"
    "{{- '<tool_call>' ~ nl ~ '<function=' ~ call.name ~ '>' ~ nl -}}"
    "{%- if call.arguments is mapping -%}{%- for key, value in call.arguments.items() -%}"
    "{{- '<parameter=' ~ key ~ '>' ~ nl -}}" + _XML_VALUE + "{{- nl ~ '</parameter>' ~ nl -}}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '</function>' ~ nl ~ '</tool_call>' -}}"
)

# GLM-4.5: the name right after <tool_call>, then key/value pairs in tags of their own.
GLM_KEY_BEGIN = "<arg_key>"
GLM_KEY_END = "</arg_key>"
GLM_VALUE_BEGIN = "<arg_value>"
GLM_VALUE_END = "</arg_value>"
_GLM_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call a function, write:' ~ nl ~ '<tool_call><function-name>' ~ nl -}}"
    "{{- '<arg_key><argument-name></arg_key>' ~ nl ~ '<arg_value><value></arg_value>' ~ nl -}}"
    "{{- '</tool_call><|im_end|>' ~ nl -}}"
)
_GLM_CALL = (
    "{%- if message.content or not loop.first -%}{{- nl -}}{%- endif -%}"
    "{{- '<tool_call>' ~ call.name ~ nl -}}"
    "{%- if call.arguments is mapping -%}{%- for key, value in call.arguments.items() -%}"
    "{{- '"
    + GLM_KEY_BEGIN
    + "' ~ key ~ '"
    + GLM_KEY_END
    + "' ~ nl ~ '"
    + GLM_VALUE_BEGIN
    + "' -}}"
    + _XML_VALUE
    + "{{- '"
    + GLM_VALUE_END
    + "' ~ nl -}}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '</tool_call>' -}}"
)

# Mistral before tokenizer v11 (a vocabulary without [ARGS]): [TOOL_CALLS] and a JSON array of calls.
MISTRAL_TOOL_CALLS = "[TOOL_CALLS]"
_MISTRAL_INSTRUCTIONS = (
    "{{- '</tools>' ~ nl ~ nl ~ 'To call functions, write "
    + MISTRAL_TOOL_CALLS
    + " and one JSON array of calls:' ~ nl -}}"
    "{{- '" + MISTRAL_TOOL_CALLS + '[{"name": <function-name>, "arguments": <arguments-object>}]<|im_end|>\' ~ nl -}}'
)
_MISTRAL_CALL = (
    "{{- '" + MISTRAL_TOOL_CALLS + "[' if loop.first else ', ' -}}"
    '{{- \'{"name": "\' ~ call.name ~ \'", "arguments": \' -}}'
    + _ARGUMENTS_JSON
    + "{{- '}' ~ (']' if loop.last else '') -}}"
)

# Where the shaped model stands at each marker the grammar forces, as context classes of tinymodel: the start of
# the answer follows the prompt's last "\n" ("space"), a marker follows a marker ("tag"), the name ("word") or
# the arguments' "}" ("close"). A boost is a plain logit: high enough to beat spelling the marker out of
# single characters ("<" first) where the grammar forces it, low enough that a JSON string value, where the
# grammar allows any text, rarely picks it up (there a closing quote weighs about 12 after a word).
_START, _AFTER_MARKER, _AFTER_CLOSE, _AFTER_WORD = 20.0, 14.0, 6.0, 7.0
_AFTER_NAME = 3.0  # where nothing but "<" competes, with _NO_SPELLING
_STOP_RATHER_THAN_CALL_AGAIN = 2.0  # after one call: stop about 88 times in 100, as the hermes model does
# "<", which starts the spelled-out marker, loses after a word and after "}", so the boosts there can stay low.
_NO_SPELLING = {("word", "punct"): -5.0, ("close", "punct"): -5.0}
# XML-like formats end a string value with a closing tag instead of a quote: after a word it must beat the quote
# and the pieces starting with one ('", "arguments": ' and the like), which weigh about 15.5 together.
_END_OF_VALUE = 20.0
# Pieces that close JSON and end the line count as closing, not as the line break the answer starts after
# (where <tool_call> is boosted): a string value that contains one then goes on as a string.
_CLOSERS = {'"}\n': "close", "}\n": "close"}
# After the last closing tag the grammar allows free text before the end: stop instead.
_STOP_AFTER_TAG = {("tag", "eos"): 16.0}


def _section_boosts(
    section_begin: str, call_begin: str, arguments_begin: str, call_end: str, section_end: str
) -> Mapping[tuple[str, str], float]:
    """Boosts for a section of calls, each call between markers with one more before its JSON arguments."""
    return _frozen(
        {
            ("space", section_begin): _START,
            ("tag", call_begin): _AFTER_MARKER,
            ("tag", section_end): _AFTER_MARKER + _STOP_RATHER_THAN_CALL_AGAIN,
            ("word", arguments_begin): _AFTER_WORD,  # after the name (or Kimi's index)
            ("close", call_end): _AFTER_CLOSE,
        }
    )


FAMILIES: dict[str, Family] = {
    family.parser: family
    for family in (
        Family(
            parser="hermes",
            path=STRUCTURAL_TAG,
            note="<tool_call>{json}</tool_call>; Qwen 2.5 style, the reference family",
            instructions=_HERMES_INSTRUCTIONS,
            call=_HERMES_CALL,
        ),
        Family(
            parser="pythonic",
            path=JSON_ARRAY,
            note="[name(key=value)] in history; required answers are the server's JSON array",
            instructions=_PYTHONIC_INSTRUCTIONS,
            call=_PYTHONIC_CALL,
            macros=_PYTHONIC_LITERAL,
        ),
        Family(
            parser="llama3_json",
            path=STRUCTURAL_TAG,
            note='{"name", "parameters"} objects; the parser needs <|python_tag|> in the vocabulary',
            instructions=_LLAMA_INSTRUCTIONS,
            call=_LLAMA_CALL,
            special_tokens=(PYTHON_TAG,),
            pieces=('", "parameters": ',),
            # The grammar lets free text come before the trigger '{"name": ': open the call at once, and stop
            # after it (more free text could hold a "{" the parser fails on).
            boosts=_frozen({("space", '{"name": "'): 22.0}),
            preferences=_frozen({("close", "eos"): 15.0}),
        ),
        Family(
            parser="qwen3_coder",
            path=STRUCTURAL_TAG,
            note="<tool_call><function=NAME><parameter=KEY>value</parameter>...; qwen3_xml is the same parser class",
            instructions=_QWEN_INSTRUCTIONS,
            call=_QWEN_CALL,
            pieces=("<function=", "<parameter=", "</parameter>", "</function>", ">\n"),
            boosts=_frozen(
                {
                    ("space", "<tool_call>"): _START,
                    ("word", ">\n"): _AFTER_WORD + 2,  # after a name, as the template writes it
                    ("word", "</parameter>"): _END_OF_VALUE,
                }
            ),
            # The answer may end with ">\n" too, as in "</tool_call>\n".
            preferences=_frozen({**_STOP_AFTER_TAG, ("other", "eos"): _STOP_AFTER_TAG["tag", "eos"]}),
            # A value starts after ">\n" like a value anywhere, with a word: neither with <tool_call>, which
            # the answer starts with after the prompt's "\n", nor with the control characters a tag is followed
            # by. The parser strips that "\n".
            contexts=_frozen({">\n": "other", **_CLOSERS}),
        ),
        Family(
            parser="mistral",
            path=JSON_ARRAY,
            note="[TOOL_CALLS][{json}] (pre-v11); required answers follow the parser's own JSON-array schema",
            instructions=_MISTRAL_INSTRUCTIONS,
            call=_MISTRAL_CALL,
            # Without [ARGS] in the vocabulary the parser takes the tokenizer for a pre-v11 one and, as it is not
            # a mistral-common tokenizer, constrains required/named with a JSON schema of [{"name", "arguments"}].
            special_tokens=(MISTRAL_TOOL_CALLS,),
        ),
        Family(
            parser="deepseek_v31",
            path=STRUCTURAL_TAG,
            note="section of <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{json}<｜tool▁call▁end｜> calls",
            instructions=_DEEPSEEK_INSTRUCTIONS,
            call=_DEEPSEEK_CALL,
            # Plain tokens, as in DeepSeek's tokenizer: its parser does not ask for special tokens to be kept.
            markup_tokens=(
                DEEPSEEK_CALLS_BEGIN,
                DEEPSEEK_CALLS_END,
                DEEPSEEK_CALL_BEGIN,
                DEEPSEEK_CALL_END,
                DEEPSEEK_SEP,
            ),
            boosts=_section_boosts(
                DEEPSEEK_CALLS_BEGIN, DEEPSEEK_CALL_BEGIN, DEEPSEEK_SEP, DEEPSEEK_CALL_END, DEEPSEEK_CALLS_END
            ),
            preferences=_frozen(_NO_SPELLING),
        ),
        Family(
            parser="kimi_k2",
            path=STRUCTURAL_TAG,
            note="section of <|tool_call_begin|>functions.NAME:N<|tool_call_argument_begin|>{json} calls",
            instructions=_KIMI_INSTRUCTIONS,
            call=_KIMI_CALL,
            special_tokens=(KIMI_SECTION_BEGIN, KIMI_SECTION_END, KIMI_CALL_BEGIN, KIMI_ARGUMENT_BEGIN, KIMI_CALL_END),
            pieces=("functions.",),
            boosts=_section_boosts(
                KIMI_SECTION_BEGIN, KIMI_CALL_BEGIN, KIMI_ARGUMENT_BEGIN, KIMI_CALL_END, KIMI_SECTION_END
            ),
            preferences=_frozen(_NO_SPELLING),
        ),
        Family(
            parser="glm45",
            path=STRUCTURAL_TAG,
            note="<tool_call>NAME<arg_key>KEY</arg_key><arg_value>value</arg_value>...</tool_call> (GLM-4.5/4.7)",
            instructions=_GLM_INSTRUCTIONS,
            call=_GLM_CALL,
            markup_tokens=(GLM_KEY_BEGIN, GLM_KEY_END, GLM_VALUE_BEGIN, GLM_VALUE_END),
            boosts=_frozen(
                {
                    ("space", "<tool_call>"): _START,
                    # After the name and after the key; the grammar lets a string value hold them too.
                    ("word", GLM_KEY_BEGIN): _AFTER_NAME,
                    ("word", GLM_KEY_END): _AFTER_NAME,
                    ("tag", GLM_VALUE_BEGIN): _AFTER_MARKER,
                    ("word", GLM_VALUE_END): _END_OF_VALUE,
                    ("tag", GLM_KEY_BEGIN): _AFTER_MARKER,  # the next argument
                    ("tag", "</tool_call>"): _AFTER_MARKER,
                }
            ),
            preferences=_frozen({**_NO_SPELLING, **_STOP_AFTER_TAG}),
            # A value starts after <arg_value>: with a word, as after any other character, not with a marker.
            contexts=_frozen({GLM_VALUE_BEGIN: "other", **_CLOSERS}),
        ),
        Family(
            parser="granite4",
            path=JSON_ARRAY,
            note="<tool_call>{json}</tool_call> in history; required answers are the server's JSON array",
            instructions=_HERMES_INSTRUCTIONS,
            call=_HERMES_CALL,
        ),
    )
}

# Parsers the tiny model is not built for, and why (describe() prints them with the families).
UNAVAILABLE: dict[str, str] = {
    "qwen3_xml": "the same parser class as qwen3_coder (Qwen3EngineToolParser, structural tag qwen_3_coder): serve that",
}


# Thinking: a family's model that thinks before it calls, served with a --reasoning-parser beside the tool-call
# parser. The generation prompt opens the thought with <think>, as Qwen3's and DeepSeek-R1's templates do; the
# shaped model writes a fixed thought of its own tokens, closes it with </think> and from there on stands where
# the plain model stands at the start of its answer ("space"), so its calls are the plain family's. vLLM leaves
# the thought unconstrained and starts the tool-call grammar after </think> (the reasoning parser says where).
THINK_START = "<think>"
THINK_END = "</think>"
# Plain added tokens, as <think> is in Qwen3's tokenizer: decoding keeps them. The thought's tokens are "never"
# outside it, so no argument picks them up, and there are several, so a stream carries it over several deltas.
THOUGHT = ("\nThe user asks", " for something", " a function can do,", " so I call it.\n")
_THOUGHT_STEP = 20.0  # each token of the thought follows the one before it, as good as surely


@dataclass(frozen=True)
class Reasoning:
    """A --reasoning-parser the tiny model can think for, and the tool-call families it is served with."""

    parser: str
    families: tuple[str, ...]
    note: str


REASONING: dict[str, Reasoning] = {
    item.parser: item
    for item in (
        Reasoning(
            parser="qwen3",
            families=("hermes",),
            note="<think>...</think> then hermes calls (Qwen3, QwQ); vLLM's Qwen3 engine beside the hermes parser",
        ),
        Reasoning(
            parser="deepseek_r1",
            families=("hermes",),
            note="<think>...</think> read by the token-pair parser (DeepSeek-R1 and its distills) beside hermes",
        ),
        Reasoning(
            parser="glm45",
            families=("glm45",),
            note="<think>...</think> then GLM-4.5 calls; one engine (Glm47MoeParser) reads both",
        ),
    )
}


def thinking(chosen: Family, reasoning_parser: str) -> Family:
    """The family's model that writes THOUGHT between <think> and </think> before it calls, for that parser."""
    path = (THINK_START, *THOUGHT)
    steps = tuple(f"thinking {position}" for position in range(len(path)))
    follows = (*THOUGHT, THINK_END)
    return replace(
        chosen,
        note=f"{chosen.note}; thinks first ({REASONING[reasoning_parser].note})",
        markup_tokens=(*chosen.markup_tokens, THINK_START, THINK_END, *THOUGHT),
        boosts=_frozen(
            {**chosen.boosts, **{(step, after): _THOUGHT_STEP for step, after in zip(steps, follows, strict=True)}}
        ),
        contexts=_frozen({**chosen.contexts, **dict(zip(path, steps, strict=True)), THINK_END: "space"}),
        own_contexts=(*chosen.own_contexts, *steps),
        answer_prefix=THINK_START,
        reasoning_parser=reasoning_parser,
    )


def model_family(parser: str, reasoning_parser: str | None = None) -> Family:
    """The family the tiny model is built as for a tool-call parser and, if one, a reasoning parser it thinks for.

    ValueError naming the reason when there is none."""
    chosen = family(parser)
    if reasoning_parser is None:
        return chosen
    if reasoning_parser not in REASONING:
        raise ValueError(
            f"no thinking model for reasoning parser {reasoning_parser!r}; expected one of {', '.join(REASONING)}"
        )
    served = REASONING[reasoning_parser].families
    if parser not in served:
        raise ValueError(
            f"reasoning parser {reasoning_parser!r} is served with tool-call parser {' or '.join(served)}, not {parser!r}"
        )
    return thinking(chosen, reasoning_parser)


def family(parser: str) -> Family:
    """The family served with --tool-call-parser PARSER; ValueError naming the reason when there is none."""
    if parser in FAMILIES:
        return FAMILIES[parser]
    reason = f": {UNAVAILABLE[parser]}" if parser in UNAVAILABLE else ""
    raise ValueError(f"no chat template for tool-call parser {parser!r}; expected one of {', '.join(FAMILIES)}{reason}")


def describe() -> list[str]:
    """One line per family (parser, path, tokens added, note), then one per unavailable parser with its reason."""
    lines = []
    for item in FAMILIES.values():
        tokens = " ".join(item.added_tokens) or "-"
        lines.append(f"{item.parser}: {item.path}; tokens added: {tokens}; {item.note}")
    lines += [f"{parser}: unavailable: {reason}" for parser, reason in UNAVAILABLE.items()]
    lines += [
        f"--reasoning-parser {item.parser} (with {', '.join(item.families)}): {item.note}"
        for item in REASONING.values()
    ]
    return lines
