"""Text the backends share: prompts built from requests, and stop sequences found in output.

A chat request becomes the OpenAI-style message list (system prompt first) that chat templates
and OpenAI-compatible servers take. A prompt-style request (Titan, Llama, Mistral) carries both
its prompt as given and the turns read from it: in ``PromptMode.CHAT`` (the default) the turns
go through the serving model's chat template, in ``PromptMode.RAW`` the prompt goes as plain
text. A model without a chat template gets plain text either way. A conversation that ends
with an assistant turn is a prefill: the template renders the turns before it, and the answer
goes on from the prefill's text. Stop sequences are matched in the order the request lists
them, so the result names the same one whichever backend ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from batchrock.backends.base import GenerationRequest, PromptMode, RequestKind

ChatTemplate = Callable[[list[dict[str, str]]], str]


def chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    return messages + [{"role": message.role, "content": message.text} for message in request.messages]


def plain_prompt(request: GenerationRequest) -> str:
    return request.prompt or "\n".join(message.text for message in request.messages)


def as_chat(request: GenerationRequest, mode: PromptMode) -> bool:
    """Whether ``request`` goes through the model's chat template (or a server's chat endpoint)."""
    if request.kind is RequestKind.COMPLETION:
        return mode is PromptMode.CHAT and bool(request.messages)
    return request.kind is RequestKind.CHAT


def render_prompt(request: GenerationRequest, template: ChatTemplate | None, mode: PromptMode = PromptMode.CHAT) -> str:
    """Turns through the model's template; a raw completion, or any request for a model without one, as plain text."""
    if template is None or not as_chat(request, mode):
        return plain_prompt(request)
    messages = chat_messages(request)
    if messages[-1]["role"] == "assistant":
        return template(messages[:-1]) + messages[-1]["content"]
    return template(messages)


def find_stop(text: str, stop_sequences: Sequence[str]) -> str | None:
    """The first of ``stop_sequences`` (in their order) that ``text`` holds."""
    return next((stop for stop in stop_sequences if stop and stop in text), None)


def before_stop(text: str, stop: str) -> str:
    return text[: text.index(stop)]
