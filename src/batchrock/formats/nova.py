"""Amazon Nova understanding models (``schemaVersion: messages-v1``)."""

from __future__ import annotations

from typing import Any

from batchrock.backends.base import GenerationRequest, GenerationResult, RequestKind, StopReason
from batchrock.formats.base import STOP_REASONS, FormatError, field, int_in, number_in, require_object, string_list
from batchrock.formats.converse import parse_turns, system_text

_STOP_REASONS = {**STOP_REASONS, StopReason.STOP_SEQUENCE: "end_turn"}  # Nova names no stop sequence


class Nova:
    name = "nova"

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        version = field(body, "schemaVersion", str)
        if version is not None and version != "messages-v1":
            raise FormatError("schemaVersion must be 'messages-v1'")
        config = require_object(body.get("inferenceConfig") or {}, "inferenceConfig")
        where = "inferenceConfig"
        # the documented camelCase names, and the snake_case ones much public code sends
        max_tokens = (int_in(config, "maxTokens", 1, 10_000, where=where)
                      or int_in(config, "max_new_tokens", 1, 10_000, where=where))
        return GenerationRequest(
            kind=RequestKind.CHAT,
            messages=parse_turns(body.get("messages")),
            system=system_text(body.get("system")),
            max_tokens=max_tokens or 512,
            temperature=number_in(config, "temperature", 0.0, 1.0, where=where),
            top_p=number_in(config, "topP", 0.0, 1.0, where=where) or number_in(config, "top_p", 0.0, 1.0, where=where),
            top_k=int_in(config, "topK", 0, 128, where=where) or int_in(config, "top_k", 0, 128, where=where),
            stop_sequences=string_list(config, "stopSequences", 4, where=where),
        )

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": result.text}]}},
            "stopReason": _STOP_REASONS[result.stop_reason],
            "usage": {"inputTokens": result.input_tokens, "outputTokens": result.output_tokens,
                      "totalTokens": result.input_tokens + result.output_tokens},
        }
