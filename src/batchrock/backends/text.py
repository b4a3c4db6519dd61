"""Text the backends share: prompts built from requests, and stop sequences found in output.

A chat request becomes the OpenAI-style message list (system prompt first) that chat templates
and OpenAI-compatible servers take. A model without a chat template, and every completion
request, gets the prompt as plain text. Stop sequences are matched in the order the request
lists them, so the result names the same one whichever backend ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from batchrock.backends.base import GenerationRequest, RequestKind

ChatTemplate = Callable[[list[dict[str, str]]], str]


def chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": request.system}] if request.system else []
    return messages + [{"role": message.role, "content": message.text} for message in request.messages]


def plain_prompt(request: GenerationRequest) -> str:
    return request.prompt or "\n".join(message.text for message in request.messages)


def render_prompt(request: GenerationRequest, template: ChatTemplate | None) -> str:
    """A chat through the model's template; a completion, or any request for a model without one, as plain text."""
    if request.kind is RequestKind.COMPLETION or template is None:
        return plain_prompt(request)
    return template(chat_messages(request))


def find_stop(text: str, stop_sequences: Sequence[str]) -> str | None:
    """The first of ``stop_sequences`` (in their order) that ``text`` holds."""
    return next((stop for stop in stop_sequences if stop and stop in text), None)


def before_stop(text: str, stop: str) -> str:
    return text[: text.index(stop)]
