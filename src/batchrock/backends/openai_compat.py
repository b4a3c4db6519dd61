"""``openai``: any OpenAI-compatible server (vLLM, SGLang, llama.cpp's server, Ollama, TGI), or a
fleet of them (``base_urls``).

One backend instance serves every job that names its catalog entry, and each job runs on an
event loop of its own. So the instance keeps its own event loop in a thread of its own, with
one aiohttp connection pool on it (``backends.fleet``): ``generate()``, called from any job's
loop, hands its requests to that loop and awaits the answer. ``max_in_flight`` is per server,
first come first served: two jobs on one server share its slots and both progress, and no server
sees more than ``max_in_flight`` requests from this process. The engine's window is the fleet's
total, ``max_in_flight`` times the number of servers.

The fleet routes each request to the least-loaded server that is up, takes out servers that stop
answering and re-sends their requests elsewhere, and brings them back when they answer their
probe; ``healthy()`` is True while any server is up. 429 and 5xx answers, connection errors
and malformed answers are marked retryable so the engine retries them with backoff; other 4xx
answers carry the server's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from batchrock.backends.base import BackendError, BackendOptions, GenerationRequest, GenerationResult, RequestKind, StopReason
from batchrock.backends.fleet import Fleet
from batchrock.backends.text import as_chat, chat_messages, plain_prompt

_FINISH = {"stop": StopReason.END, "length": StopReason.LENGTH}
_DEFAULT_SEED = 1234  # for a request that carries none

T = TypeVar("T")
Outcome = GenerationResult | BackendError


@dataclass(eq=False)
class _Call:
    """One coroutine handed from a caller's loop to the backend's loop, and its way back."""

    work: Coroutine[Any, Any, Any]
    reply: asyncio.Future[Any]  # on the caller's loop
    caller: asyncio.AbstractEventLoop
    task: asyncio.Task[Any] | None = None
    dropped: bool = False


class _LoopThread:
    """An event loop in a daemon thread; coroutines from other threads' loops run on it.

    Calls cross in bursts: a wake-up carries everything posted since the last one, each way.
    ``run_coroutine_threadsafe`` wakes the other loop once per call and per answer: at 128 in
    flight that made a request cost 1.6-2.2x the CPU of aiohttp alone; bursts keep it to ~1.25x.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._inbox: list[_Call] = []
        self._outboxes: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """``work`` on this loop, awaitable from the caller's loop; cancelling it cancels ``work``."""
        caller = asyncio.get_running_loop()
        call = _Call(work, caller.create_future(), caller)
        call.reply.add_done_callback(functools.partial(self._given_up, call))
        with self._lock:
            self._inbox.append(call)
            first = len(self._inbox) == 1
        if first:
            self.loop.call_soon_threadsafe(self._start_calls)
        return call.reply

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """``work`` on this loop, waited for by a thread that is not running an event loop."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def _start_calls(self) -> None:
        with self._lock:
            calls, self._inbox = self._inbox, []
        for call in calls:
            if call.dropped:
                call.work.close()
                continue
            call.task = self.loop.create_task(call.work)
            call.task.add_done_callback(functools.partial(self._answered, call))

    def _given_up(self, call: _Call, reply: asyncio.Future[Any]) -> None:
        """On the caller's loop: a cancelled call (a stopped job) stops its request too."""
        if reply.cancelled():
            with contextlib.suppress(RuntimeError):  # the backend has closed: nothing runs
                self.loop.call_soon_threadsafe(self._cancel, call)

    def _cancel(self, call: _Call) -> None:
        call.dropped = True
        if call.task is not None:
            call.task.cancel()

    def _answered(self, call: _Call, task: asyncio.Task[Any]) -> None:
        with self._lock:
            box = self._outboxes.setdefault(call.caller, [])
            box.append(call)
            first = len(box) == 1
        if first:
            try:
                call.caller.call_soon_threadsafe(self._deliver, call.caller)
            except RuntimeError:  # the caller's loop has closed: nobody waits for these answers
                with self._lock:
                    self._outboxes.pop(call.caller, None)

    def _deliver(self, caller: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            calls = self._outboxes.pop(caller, [])
        for call in calls:
            if call.task is None or call.reply.done():
                continue
            if call.task.cancelled():  # by close(), not by its caller: the records run again later
                call.reply.set_exception(BackendError("the backend was closed", status=503, retryable=True))
            elif (error := call.task.exception()) is not None:
                call.reply.set_exception(error)
            else:
                call.reply.set_result(call.task.result())


@dataclass(frozen=True)
class _Pool:
    """What lives on the backend's loop: the fleet, with its connections and limits."""

    thread: _LoopThread
    fleet: Fleet


class OpenAIOptions(BackendOptions, frozen=True):
    base_url: str | None = None      # one server ...
    base_urls: tuple[str, ...] = ()  # ... or a fleet: exactly one of the two
    model: str = "default"
    api_key: str | None = None
    timeout_seconds: float = 120
    frequency_penalty: float | None = None  # sent with every request when set (-2..2; vLLM, SGLang, llama.cpp take it)
    presence_penalty: float | None = None

    def __post_init__(self) -> None:
        if (self.base_url is None) == (not self.base_urls):
            raise ValueError("set exactly one of base_url (one server) and base_urls (a fleet of servers)")
        urls = [url.rstrip("/") for url in self.urls]
        if len(set(urls)) < len(urls):
            raise ValueError(f"base_urls names a server twice: {', '.join(self.urls)}")

    @property
    def urls(self) -> tuple[str, ...]:
        return self.base_urls if self.base_url is None else (self.base_url,)


class OpenAICompatBackend:
    name = "openai"
    options_type = OpenAIOptions
    hosted = False

    def __init__(self, options: OpenAIOptions) -> None:
        self.urls = options.urls
        self.model = options.model
        self.api_key = options.api_key
        self.timeout = options.timeout_seconds
        self.prompt_mode = options.prompt_mode
        self.penalties = {key: value for key, value in {"frequency_penalty": options.frequency_penalty,
                                                         "presence_penalty": options.presence_penalty}.items()
                          if value is not None}
        self.per_server = max(1, 8 if options.max_in_flight is None else options.max_in_flight)
        self.max_in_flight = self.per_server * len(self.urls)  # the engine's window: the whole fleet's
        self._lock = threading.Lock()
        self._current: _Pool | None = None

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        pool = self._pool()
        return await pool.thread.call(self._run_all(pool, requests))

    async def healthy(self) -> bool:
        """Up while any server lists its models (every OpenAI-compatible server answers GET /v1/models)."""
        pool = self._pool()
        return await pool.thread.call(pool.fleet.healthy())

    def sent(self) -> dict[str, int]:
        """Requests sent to each server so far (re-sends and retries included)."""
        with self._lock:
            return {} if self._current is None else self._current.fleet.sent()

    def close(self) -> None:
        with self._lock:
            pool, self._current = self._current, None
        if pool is not None:
            try:
                pool.thread.run(_shut(pool.fleet))
            finally:
                pool.thread.stop()

    def _pool(self) -> _Pool:
        with self._lock:
            if self._current is None:
                thread = _LoopThread(f"openai {' '.join(self.urls)}")
                self._current = thread.run(self._open(thread))
            return self._current

    async def _open(self, thread: _LoopThread) -> _Pool:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return _Pool(thread, Fleet.open(self.urls, self.per_server, headers, self.timeout))

    async def _run_all(self, pool: _Pool, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        if len(requests) == 1:
            return [await self._one(pool, requests[0])]
        return list(await asyncio.gather(*(self._one(pool, request) for request in requests)))

    async def _one(self, pool: _Pool, request: GenerationRequest) -> Outcome:
        path, body = self._body(request)
        reply = await pool.fleet.send(path, orjson.dumps(body))
        return reply if isinstance(reply, BackendError) else self._answer(request, *reply)

    def _answer(self, request: GenerationRequest, status: int, raw: bytes) -> Outcome:
        if status == 429 or status >= 500:
            return BackendError(f"backend answered {status}", status=status, retryable=True)
        if status >= 400:
            return BackendError(f"backend rejected the request: {raw[:500].decode(errors='replace')}", status=status)
        try:
            return self._result(request, orjson.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            return BackendError(f"backend returned a malformed answer: {error}", status=502, retryable=True)

    def _body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        if request.kind is RequestKind.EMBEDDING:
            return "/v1/embeddings", {"model": self.model, "input": request.prompt or ""}
        sampling = {key: value for key, value in {
            "max_tokens": request.max_tokens, "temperature": request.temperature, "top_p": request.top_p,
            "stop": list(request.stop_sequences) or None,
            "seed": _DEFAULT_SEED if request.seed is None else request.seed}.items() if value is not None}
        sampling.update(self.penalties)
        if as_chat(request, self.prompt_mode):  # the server renders the turns with its model's chat template
            return "/v1/chat/completions", {"model": self.model, "messages": chat_messages(request), **sampling}
        return "/v1/completions", {"model": self.model, "prompt": plain_prompt(request), **sampling}

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


async def _shut(fleet: Fleet) -> None:
    """Cancel what is still in flight on the backend's loop, then close its connections."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await fleet.close()
