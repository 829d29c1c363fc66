"""The requests the server reads, validated with pydantic into one clear 4xx each.

A chat request is OpenAI's: ``max_completion_tokens`` (or ``max_tokens``) bounds the answer;
sampling fields (``temperature``, ``top_p``, ``seed``, ...) are accepted and ignored, since decoding
is greedy.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..devices import Device
from ..runtime.decoding import MAX_NEW_TOKENS
from ..runtime.grammar import MAX_CALLS, Choice
from .errors import ApiError

MAX_COMMAND_CHARS = 500  # a spoken command is a sentence or two
T = TypeVar("T", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionSpec(BaseModel):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSpec(BaseModel):
    type: Literal["function"]
    function: FunctionSpec


class FunctionName(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: FunctionName


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``; ``confirm`` is bijou's: with ``--execute``, run the calls that
    need the user's confirmation."""

    model: str
    messages: list[Message] = Field(min_length=1)
    tools: list[ToolSpec] | None = Field(default=None, min_length=1)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice = "auto"
    parallel_tool_calls: bool = True
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    confirm: bool = False

    @property
    def token_budget(self) -> int:
        """The most tokens the answer may have."""
        given = [n for n in (self.max_completion_tokens, self.max_tokens) if n is not None]
        return min([MAX_NEW_TOKENS, *given])

    def command(self) -> str:
        """The last user message's text: the spoken command."""
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if message.role != "user":
                continue
            content = message.content
            if isinstance(content, list):
                content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
            text = (content or "").strip()
            if not text:
                raise ApiError(400, "the last user message has no text", f"messages.{index}.content")
            if len(text) > MAX_COMMAND_CHARS:
                raise ApiError(
                    400,
                    f"the command is {len(text)} characters long; at most {MAX_COMMAND_CHARS} are accepted",
                    f"messages.{index}.content",
                    "context_length_exceeded",
                )
            return text
        raise ApiError(400, "no user message: the last user message is the command", "messages")

    def choice(self, device: Device) -> Choice:
        """The calls the answer may hold: ``tools`` (the device's, or a subset) and ``tool_choice``."""
        allowed = [tool["name"] for tool in device.tools]
        for index, spec in enumerate(self.tools or []):
            name, param = spec.function.name, f"tools.{index}.function"
            tool = device.tools_by_name.get(name)
            if tool is None:
                raise ApiError(
                    400, f"{name!r} is not a tool of {device.name} (its tools: {', '.join(allowed)})", param
                )
            if spec.function.parameters is not None and spec.function.parameters != tool["parameters"]:
                raise ApiError(
                    400,
                    f"the parameters of {name!r} differ from {device.name}'s (GET /v1/models lists them)",
                    f"{param}.parameters",
                )
        given = [spec.function.name for spec in self.tools] if self.tools else allowed
        tools = None if set(given) == set(allowed) else tuple(n for n in allowed if n in given)
        most = MAX_CALLS if self.parallel_tool_calls else 1
        if self.tool_choice == "none":
            return Choice(max_calls=0)
        if self.tool_choice == "auto":
            return Choice(tools, 0, most)
        if self.tool_choice == "required":
            return Choice(tools, 1, most)
        name = self.tool_choice.function.name
        if name not in given:
            raise ApiError(400, f"tool_choice names {name!r}, which is not among the tools", "tool_choice")
        return Choice((name,), 1, most)


class LoadAdapter(_Strict):
    """``POST /v1/load_lora_adapter``, as vLLM names it."""

    lora_name: str = Field(min_length=1)
    lora_path: str = Field(min_length=1)


class UnloadAdapter(_Strict):
    """``POST /v1/unload_lora_adapter``."""

    lora_name: str = Field(min_length=1)


def parse(kind: type[T], data: Any) -> T:
    """``data`` as a ``kind``, or one 400 naming the first field that is wrong."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, f"{where or 'body'}: {first['msg']}", where or None) from None
