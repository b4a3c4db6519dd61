"""``openai``: any OpenAI-compatible server (vLLM, SGLang, llama.cpp's server, Ollama, TGI).

Requests run concurrently up to ``max_in_flight``; 429 and 5xx answers and connection errors
are marked retryable so the engine retries them with backoff.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import httpx

from batchrock.backends import registry
from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind, StopReason

_FINISH = {"stop": StopReason.END, "length": StopReason.LENGTH}


class OpenAICompatBackend:
    name = "openai"

    def __init__(self, options: dict[str, Any]) -> None:
        self.base_url = str(options["base_url"]).rstrip("/")
        self.model = str(options.get("model", "default"))
        self.api_key = options.get("api_key")
        self.timeout = float(options.get("timeout_seconds", 120))
        self.max_in_flight = int(options.get("max_in_flight", 8))

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limit = asyncio.Semaphore(self.max_in_flight)  # per call: jobs run on different event loops
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, headers=headers) as client:
            return list(await asyncio.gather(*(self._one(client, limit, request) for request in requests)))

    async def _one(self, client: httpx.AsyncClient, limit: asyncio.Semaphore,
                   request: GenerationRequest) -> GenerationResult | BackendError:
        path, body = self._body(request)
        async with limit:
            try:
                response = await client.post(path, json=body)
            except httpx.HTTPError as error:
                return BackendError(f"backend unreachable: {error}", status=503, retryable=True)
        if response.status_code == 429 or response.status_code >= 500:
            return BackendError(f"backend answered {response.status_code}", status=response.status_code, retryable=True)
        if response.status_code >= 400:
            return BackendError(f"backend rejected the request: {response.text[:500]}", status=response.status_code)
        try:
            return self._result(request, response.json())
        except (ValueError, KeyError, IndexError, TypeError) as error:
            return BackendError(f"backend returned a malformed answer: {error}", status=502, retryable=True)

    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        if request.kind is RequestKind.EMBEDDING:
            return "/v1/embeddings", {"model": self.model, "input": request.prompt or ""}
        sampling = {key: value for key, value in {
            "max_tokens": request.max_tokens, "temperature": request.temperature, "top_p": request.top_p,
            "stop": list(request.stop_sequences) or None, "seed": 1234}.items() if value is not None}
        if request.kind is RequestKind.COMPLETION:
            return "/v1/completions", {"model": self.model, "prompt": request.prompt or "", **sampling}
        messages = ([{"role": "system", "content": request.system}] if request.system else [])
        messages += [{"role": m.role, "content": m.text} for m in request.messages]
        return "/v1/chat/completions", {"model": self.model, "messages": messages, **sampling}

    def _result(self, request: GenerationRequest, answer: dict[str, Any]) -> GenerationResult:
        usage = answer.get("usage") or {}
        if request.kind is RequestKind.EMBEDDING:
            vector = tuple(float(v) for v in answer["data"][0]["embedding"])
            return GenerationResult(input_tokens=int(usage.get("prompt_tokens", 0)), embedding=vector)
        choice = answer["choices"][0]
        text = choice["message"]["content"] if "message" in choice else choice["text"]
        reason = _FINISH.get(choice.get("finish_reason") or "stop", StopReason.END)
        stop = choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None
        if stop is not None and stop in request.stop_sequences:
            reason = StopReason.STOP_SEQUENCE
        return GenerationResult(text or "", reason, stop, int(usage.get("prompt_tokens", 0)),
                                int(usage.get("completion_tokens", 0)))

    async def healthy(self) -> bool:
        """Up when it lists its models (every OpenAI-compatible server answers GET /v1/models)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=5, headers=headers) as client:
                return (await client.get("/v1/models")).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        pass


def register_plugin() -> None:
    registry.register("openai", OpenAICompatBackend)
