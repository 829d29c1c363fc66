"""A vLLM tool-call parser for bijou's call format (``[{"name": ..., "arguments": {...}}]``).

``bijou export vllm`` copies this file into its bundle; vLLM loads it with
``--tool-parser-plugin bijou_tool_parser.py --tool-call-parser bijou``. Answers are read by
:func:`bijou_core.export.deploy.tool_calls_of` (tested as a pure function); this class only adapts
it to vLLM's ``ToolParser`` interface, which is not run by bijou's tests (vLLM needs a GPU). A
streamed answer is held back until it is complete, then sent whole, as ``bijou serve`` does.
"""

from __future__ import annotations

from typing import Any

from bijou_core.calls import parse
from bijou_core.export.deploy import tool_calls_of

try:  # vLLM 0.15 and later
    from vllm.tool_parsers import ToolParser, ToolParserManager
except ImportError:  # earlier vLLM
    from vllm.entrypoints.openai.tool_parsers import ToolParser, ToolParserManager
from vllm.entrypoints.openai.protocol import (
    DeltaFunctionCall,
    DeltaMessage,
    DeltaToolCall,
    ExtractedToolCallInformation,
    FunctionCall,
    ToolCall,
)


@ToolParserManager.register_module("bijou")
class BijouToolParser(ToolParser):
    """bijou's answers: a JSON list of calls, ``[]`` (no call), nothing else."""

    def extract_tool_calls(self, model_output: str, request: Any) -> ExtractedToolCallInformation:
        calls, content = tool_calls_of(model_output)
        return ExtractedToolCallInformation(
            tools_called=bool(calls),
            tool_calls=[ToolCall(type="function", function=FunctionCall(**call)) for call in calls],
            content=content,
        )

    def extract_tool_calls_streaming(
        self,
        previous_text: str,
        current_text: str,
        delta_text: str,
        previous_token_ids: Any,
        current_token_ids: Any,
        delta_token_ids: Any,
        request: Any,
    ) -> DeltaMessage | None:
        if not current_text.lstrip().startswith("["):
            return DeltaMessage(content=delta_text)  # not a call list: plain text as it comes
        if not parse(current_text).ok or parse(previous_text).ok:
            return None  # not complete yet, or already sent
        calls, content = tool_calls_of(current_text)
        if not calls:
            return DeltaMessage(content=content)
        deltas = [
            DeltaToolCall(index=i, type="function", id=f"call_{i}", function=DeltaFunctionCall(**call))
            for i, call in enumerate(calls)
        ]
        return DeltaMessage(tool_calls=deltas)
