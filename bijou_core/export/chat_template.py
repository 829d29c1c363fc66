"""bijou's prompt as a Jinja chat template, for serving engines that render prompts themselves
(vLLM, llama.cpp's server, ``tokenizer.apply_chat_template``).

The template is cut from what :mod:`bijou_core.prompt` renders, so it is byte for byte the prompt
the adapters were trained on, in whatever style: the prompt of a placeholder command, with the
command's place left for the last user message. The system turn depends only on the device (its
name, or its tools' signatures), so it is fixed text in the template: the ``tools`` a request
passes do not change the prompt (the grammar, or the engine's structured outputs, restrict them).
"""

from __future__ import annotations

from typing import Any

from ..errors import BijouError
from ..prompt import PromptFormat

PLACEHOLDER = "\x00bijou-command\x00"
LAST_USER_MESSAGE = (
    "{%- set ns = namespace(command='') -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{%- set ns.command = message['content'] -%}{%- endif -%}"
    "{%- endfor -%}"
)


def _literal(text: str) -> str:
    if "{% endraw %}" in text:
        raise BijouError("the prompt holds '{% endraw %}', which a Jinja template cannot quote")
    return "{% raw %}" + text + "{% endraw %}" if text else ""


def prompt_body(fmt: PromptFormat, tools: list[dict[str, Any]]) -> str:
    """The Jinja that renders ``fmt``'s prompt for ``ns.command`` (set by :data:`LAST_USER_MESSAGE`)."""
    if fmt.chat_template:
        raise BijouError("only ChatML prompts (bijou's own template) can be exported as a chat template")
    head, found, tail = fmt.prompt(None, tools, PLACEHOLDER).partition(PLACEHOLDER)
    if not found or PLACEHOLDER in tail:
        raise BijouError(f"the {fmt.style} prompt does not hold the command once, as it is")
    return _literal(head) + "{{ ns.command }}" + _literal(tail)


def chat_template(fmt: PromptFormat, tools: list[dict[str, Any]]) -> str:
    """The chat template of one device: the prompt of the last user message, ready for the answer."""
    return LAST_USER_MESSAGE + prompt_body(fmt, tools)


def multi_device_template(devices: dict[str, tuple[PromptFormat, list[dict[str, Any]]]]) -> str:
    """One template for several devices: the request names its device in the template variable
    ``device`` (``chat_template_kwargs: {"device": "omi"}`` in vLLM and llama.cpp's server)."""
    branches = []
    for index, (name, (fmt, tools)) in enumerate(sorted(devices.items())):
        keyword = "if" if index == 0 else "elif"
        branches.append(f"{{%- {keyword} device == {name!r} -%}}" + prompt_body(fmt, tools))
    known = ", ".join(sorted(devices))
    missing = f"{{{{ raise_exception('pass chat_template_kwargs device: one of {known}') }}}}"
    return LAST_USER_MESSAGE + "".join(branches) + "{%- else -%}" + missing + "{%- endif -%}"
