"""``shouting``: a third-party backend that answers each chat with its last message in capitals."""

from __future__ import annotations

from collections.abc import Sequence

from batchrock.backends.base import BackendError, BackendOptions, GenerationRequest, GenerationResult


class ShoutingOptions(BackendOptions, frozen=True):
    suffix: str = "!"


class ShoutingBackend:
    name = "shouting"
    options_type = ShoutingOptions
    hosted = False

    def __init__(self, options: ShoutingOptions) -> None:
        self.suffix = options.suffix
        self.closed = False

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        return [GenerationResult(request.messages[-1].text.upper() + self.suffix, input_tokens=1, output_tokens=1)
                for request in requests]

    def close(self) -> None:
        self.closed = True


NOT_A_FACTORY = "a string is no backend factory"
