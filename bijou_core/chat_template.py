"""bijou's prompt as a Jinja chat template, for serving engines that render prompts themselves
(vLLM, llama.cpp's server, ``tokenizer.apply_chat_template``).

The template is cut from what :mod:`bijou_core.prompt` renders, so it is byte for byte the prompt
the adapters were trained on, in whatever style: the prompt of a placeholder command, with the
command's place left for the last user message. The system turn depends only on the device (its
name, or its tools' signatures), so it is fixed text in the template: the ``tools`` a request
passes do not change a device's prompt (the grammar, or the engine's structured outputs, restrict
them). A model without an adapter lists the request's tools (:func:`tools_template`).

Only what both Jinja engines read is used: Jinja2 (transformers, vLLM) and llama.cpp's own engine,
which has no ``raw`` blocks (fixed text is a string literal) and renders the template once at start
with no request variables (so a template that needs ``device`` must not fail without it).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import BijouError
from .prompt import PromptFormat, system_text

PLACEHOLDER = "\x00bijou-command\x00"
LAST_USER_MESSAGE = (
    "{%- set ns = namespace(command='') -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{%- set ns.command = message['content'] -%}{%- endif -%}"
    "{%- endfor -%}"
)


def _literal(text: str) -> str:
    """Fixed text as a Jinja expression (a string literal: template whitespace rules leave it alone)."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def prompt_body(fmt: PromptFormat, tools: list[dict[str, Any]]) -> str:
    """The Jinja that renders ``fmt``'s prompt for ``ns.command`` (set by :data:`LAST_USER_MESSAGE`)."""
    if fmt.chat_template:
        raise BijouError("only ChatML prompts (bijou's own template) can be exported as a chat template")
    head, found, tail = fmt.prompt(None, tools, PLACEHOLDER).partition(PLACEHOLDER)
    if not found or PLACEHOLDER in tail:
        raise BijouError(f"the {fmt.style} prompt does not hold the command once, as it is")
    return _literal(head) + "{{ ns.command }}" + _literal(tail)


# prompt.signature() in Jinja: a tool as ``name(param: type, opt?: type = default) - description``.
# (Jinja's ``tojson`` keeps non-ASCII characters that json.dumps escapes: enum values and defaults
# that are not plain strings stay ASCII in every bijou tool.)
SIGNATURE_MACROS = (
    "{%- macro bijou_type(schema) -%}"
    "{%- if 'enum' in schema -%}"
    "{%- for v in schema['enum'] -%}{{ v if v is string else v | tojson }}"
    "{%- if not loop.last %}|{% endif -%}{%- endfor -%}"
    "{%- elif schema.get('type', 'any') == 'array' -%}list[{{ bijou_type(schema.get('items', {})) }}]"
    "{%- elif 'minimum' in schema or 'maximum' in schema -%}"
    "{{ schema.get('type', 'any') }} {{ schema.get('minimum', '') }}..{{ schema.get('maximum', '') }}"
    "{%- else -%}{{ schema.get('type', 'any') }}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- macro bijou_signature(tool) -%}"
    "{%- set params = tool['parameters'] -%}{%- set required = params.get('required', []) -%}"
    "{{ tool['name'] }}("
    "{%- for name, schema in params.get('properties', {}).items() -%}"
    "{{ name }}{{ '' if name in required else '?' }}: {{ bijou_type(schema) }}"
    "{%- if 'default' in schema %} = {{ schema['default'] | tojson }}{% endif -%}"
    "{%- if not loop.last %}, {% endif -%}"
    "{%- endfor -%}"
    ") - {{ tool['description'] }}"
    "{%- endmacro -%}"
)
TOOL_LINES = (
    "{%- for tool in tools or [] -%}"
    "{%- if not loop.first %}{{ '\n' }}{% endif -%}"
    "{{ bijou_signature(tool['function'] if 'function' in tool else tool) }}"
    "{%- endfor -%}"
)


def _tools_body(fmt: PromptFormat) -> str:
    """The Jinja that renders ``fmt``'s full prompt of the request's ``tools`` for ``ns.command``."""
    if fmt.chat_template or fmt.style != "full":
        raise BijouError("only bijou's full prompt in its own turns lists the request's tools")
    system = system_text(None, "full")
    prompt = fmt.prompt(None, None, PLACEHOLDER)
    head, found, rest = prompt.partition(system)
    if not found:
        raise BijouError("the full prompt does not hold its system text")
    before, found, tail = rest.partition(PLACEHOLDER)
    if not found or PLACEHOLDER in tail:
        raise BijouError("the full prompt does not hold the command once, as it is")
    return _literal(head + system) + TOOL_LINES + _literal(before) + "{{ ns.command }}" + _literal(tail)


def tools_template(fmt: PromptFormat) -> str:
    """The chat template of a model without a device adapter: bijou's ``full`` prompt of the tools
    a request passes (``tools``, OpenAI's ``{"type": "function", "function": ...}`` or bare)."""
    return SIGNATURE_MACROS + LAST_USER_MESSAGE + _tools_body(fmt)


def chat_template(fmt: PromptFormat, tools: list[dict[str, Any]]) -> str:
    """The chat template of one device: the prompt of the last user message, ready for the answer."""
    return LAST_USER_MESSAGE + prompt_body(fmt, tools)


def multi_device_template(devices: dict[str, tuple[PromptFormat, list[dict[str, Any]]]]) -> str:
    """One template for several devices on one base: the request names its device in the template
    variable ``device`` (``chat_template_kwargs: {"device": "omi"}`` in vLLM and llama.cpp's
    server); a request that names none gets the base's full prompt of the tools it passes."""
    first = next(fmt for fmt, _ in devices.values())
    base = PromptFormat("full", turns=first.turns, digits=first.digits)
    branches = ["{%- if device is not defined -%}" + _tools_body(base)]
    for name, (fmt, tools) in sorted(devices.items()):
        branches.append(f"{{%- elif device == {json.dumps(name)} -%}}" + prompt_body(fmt, tools))
    known = ", ".join(sorted(devices))
    unknown = f"{{{{ raise_exception({json.dumps('chat_template_kwargs device: one of ' + known)}) }}}}"
    return (
        SIGNATURE_MACROS + LAST_USER_MESSAGE + "".join(branches) + "{%- else -%}" + unknown + "{%- endif -%}"
    )


def carried_template(fmt: PromptFormat, tools: list[dict[str, Any]] | None = None) -> str | None:
    """The chat template a trained model carries (tokenizer files, GGUF metadata): a device
    adapter's prompt (``tools``: its device's), or a base's prompt of the request's tools; None when
    the prompt is the tokenizer's own chat template, which the model then keeps."""
    if fmt.chat_template:
        return None
    return tools_template(fmt) if tools is None else chat_template(fmt, tools)
