"""The HTTP API (FastAPI): OpenAI's chat completions and models, vLLM's adapter loading, a playground.

=============================  ===========================================================
``GET /``                      the playground page (choose a device, type a command)
``GET /health``                ``{"status": "ok", ...}`` once the model is loaded
``GET /v1/models``             one model per device (``x_bijou``: adapter, base, tools)
``POST /v1/chat/completions``  a command, typed or spoken (``input_audio``) -> the device's
                               ``tool_calls`` (see :mod:`.responses`)
``POST /v1/audio/transcriptions``  a multipart ``file`` of speech -> ``{"text"}`` (OpenAI's API;
                               a device as ``model`` lends its words, or give a ``prompt``)
``POST /v1/load_lora_adapter``  ``{"lora_name", "lora_path"}``: one more adapter, no restart
``POST /v1/unload_lora_adapter``  ``{"lora_name"}``: its device falls back to the bare base
=============================  ===========================================================

Every refused request gets a 4xx with OpenAI's error body; an unexpected failure a 500 with one,
and the server goes on.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from .. import __version__
from .errors import ApiError, error_body
from .requests import ChatRequest, LoadAdapter, UnloadAdapter, parse
from .responses import completion, stream
from .service import Service

MAX_BODY_BYTES = 1 << 20  # a request with every tool of a device is a few kB
MAX_AUDIO_BYTES = 25 << 20  # OpenAI's limit for an audio file


async def _json_body(request: Request, limit: int) -> Any:
    """The request's JSON body; 413 past ``limit`` bytes, 400 when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {declared} bytes; at most {limit} are accepted")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"the request body is over {limit} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None


def create_app(service: Service, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over ``service``'s engine."""
    app = FastAPI(title="bijou", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    playground = resources.files(__package__).joinpath("playground.html").read_text(encoding="utf-8")

    @app.exception_handler(ApiError)
    async def refused(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def failed(_: Request, exc: Exception) -> JSONResponse:
        message = f"internal error: {type(exc).__name__}: {exc}"
        return JSONResponse(error_body(message, "server_error"), status_code=500)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return playground

    @app.get("/health")
    async def health() -> dict[str, Any]:
        catalog = service.catalog
        return {
            "status": "ok",
            "backend": service.engine.backend.name,
            "base": service.engine.base,
            "devices": list(catalog),
            "adapters": sorted(adapter for _, adapter in catalog.values() if adapter),
            "execute": service.execute,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": service.models()}

    @app.get("/v1/models/{model}")
    async def model(model: str) -> dict[str, Any]:
        name = service.device(model).name
        return next(entry for entry in service.models() if entry["id"] == name)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        chat_request = parse(ChatRequest, await _json_body(request, max_body_bytes))
        turn = await run_in_threadpool(service.complete, chat_request)
        created = int(time.time())
        if chat_request.stream:
            include_usage = bool(chat_request.stream_options and chat_request.stream_options.include_usage)
            return StreamingResponse(stream(turn, created, include_usage), media_type="text/event-stream")
        return completion(turn, created)

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Any:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_AUDIO_BYTES:
            raise ApiError(413, f"the audio is {declared} bytes; at most {MAX_AUDIO_BYTES} are accepted")
        try:
            form = await request.form()
        except Exception as exc:  # not multipart, or a malformed form
            raise ApiError(400, f"expected a multipart form with the audio as 'file': {exc}") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "expected a multipart form with the audio as 'file'", param="file")
        response_format = form.get("response_format", "json")
        if response_format not in ("json", "text"):
            raise ApiError(400, "response_format: expected 'json' or 'text'", param="response_format")
        model, prompt = form.get("model", ""), form.get("prompt")
        for name, value in (("model", model), ("prompt", prompt or "")):
            if not isinstance(value, str):
                raise ApiError(400, f"{name}: expected a text field, not a file", param=name)
        audio = await upload.read()
        text = await run_in_threadpool(
            service.transcribe, upload.filename or "audio.wav", audio, model, prompt
        )
        return PlainTextResponse(text) if response_format == "text" else {"text": text}

    @app.post("/v1/load_lora_adapter")
    async def load_adapter(request: Request) -> dict[str, Any]:
        spec = parse(LoadAdapter, await _json_body(request, max_body_bytes))
        return await run_in_threadpool(service.load_adapter, spec.lora_name, spec.lora_path)

    @app.post("/v1/unload_lora_adapter")
    async def unload_adapter(request: Request) -> dict[str, Any]:
        spec = parse(UnloadAdapter, await _json_body(request, max_body_bytes))
        return await run_in_threadpool(service.unload_adapter, spec.lora_name)

    return app
