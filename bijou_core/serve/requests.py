"""The requests the server reads, validated with pydantic into one clear 4xx each.

A chat request is OpenAI's: ``max_completion_tokens`` (or ``max_tokens``) bounds the answer;
sampling fields (``temperature``, ``top_p``, ``seed``, ...) are accepted and ignored, since decoding
is greedy. The last user message may say the command: an ``input_audio`` content part
(``{"data": BASE64, "format": "wav" | "mp3"}``), recognized and then answered like typed text.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
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


class InputAudio(_Strict):
    data: str = Field(min_length=1)
    format: Literal["wav", "mp3"]


class AudioPart(BaseModel):
    """OpenAI's ``input_audio`` content part: base64 audio in a user message."""

    type: Literal["input_audio"]
    input_audio: InputAudio


@dataclass(frozen=True)
class SpokenAudio:
    """The audio of a request's ``input_audio`` part, decoded, and where it is (for errors)."""

    data: bytes
    format: str
    param: str


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

    def _last_user(self) -> tuple[int, Message]:
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index].role == "user":
                return index, self.messages[index]
        raise ApiError(400, "no user message: the last user message is the command", "messages")

    def audio(self) -> SpokenAudio | None:
        """The last user message's ``input_audio`` part, decoded (one 400 naming the part if it is
        malformed, or if there are several); ``None`` when the command is typed."""
        index, message = self._last_user()
        content = message.content if isinstance(message.content, list) else []
        parts = [(i, part) for i, part in enumerate(content) if part.get("type") == "input_audio"]
        if not parts:
            return None
        where = f"messages.{index}.content"
        if len(parts) > 1:
            raise ApiError(400, "one input_audio part per message: the spoken command", where)
        position, part = parts[0]
        audio = parse(AudioPart, part, f"{where}.{position}").input_audio
        try:
            data = base64.b64decode(audio.data, validate=True)
        except binascii.Error as exc:
            raise ApiError(400, f"not base64: {exc}", f"{where}.{position}.input_audio.data") from None
        return SpokenAudio(data, audio.format, f"{where}.{position}.input_audio")

    def command(self, transcript: str | None = None) -> str:
        """The last user message's text: the command (its ``input_audio`` part read as ``transcript``)."""
        index, message = self._last_user()
        content = message.content
        if isinstance(content, list):
            said = {"text": lambda part: part.get("text", ""), "input_audio": lambda _: transcript or ""}
            content = " ".join(said[part["type"]](part) for part in content if part.get("type") in said)
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


def parse(kind: type[T], data: Any, within: str = "") -> T:
    """``data`` (found at ``within`` in the request) as a ``kind``, or one 400 naming the first
    field that is wrong."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in ([within] if within else []) + list(first["loc"]))
        raise ApiError(400, f"{where or 'body'}: {first['msg']}", where or None) from None
