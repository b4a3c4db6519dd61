"""The Converse request and response (``modelInvocationType: Converse``), as in botocore's
``bedrock-runtime`` ConverseRequest / ConverseResponse shapes."""

from __future__ import annotations

from typing import Any

from batchrock.backends.base import GenerationRequest, GenerationResult, Message, RequestKind
from batchrock.formats.base import (
    STOP_REASONS,
    FormatError,
    conversation,
    field,
    int_in,
    number_in,
    require_object,
    string_list,
)


def content_text(blocks: Any, where: str) -> str:
    """Text of Converse/Nova content blocks ``[{"text": ...}, ...]``; other block kinds are refused."""
    if not isinstance(blocks, list) or not blocks:
        raise FormatError(f"{where} must be a non-empty list of content blocks")
    texts = []
    for index, block in enumerate(blocks):
        block = require_object(block, f"{where}[{index}]")
        if "text" not in block:
            kinds = ", ".join(sorted(block)) or "nothing"
            raise FormatError(f"{where}[{index}] holds {kinds}; this text-only model accepts text blocks")
        texts.append(field(block, "text", str, required=True, where=f"{where}[{index}]"))
    return "\n".join(texts)


def parse_turns(raw: Any, where: str = "messages") -> tuple[Message, ...]:
    return conversation(raw, content_text, where)


def system_text(raw: Any) -> str | None:
    if raw is None:
        return None
    return content_text(raw, "system")


class Converse:
    name = "converse"

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        if "toolConfig" in body:
            raise FormatError("toolConfig is not supported with the Converse invocation type in batch jobs")
        config = require_object(body.get("inferenceConfig") or {}, "inferenceConfig")
        return GenerationRequest(
            kind=RequestKind.CHAT,
            messages=parse_turns(body.get("messages")),
            system=system_text(body.get("system")),
            max_tokens=int_in(config, "maxTokens", 1, 200_000, default=512, where="inferenceConfig") or 512,
            temperature=number_in(config, "temperature", 0.0, 1.0, where="inferenceConfig"),
            top_p=number_in(config, "topP", 0.0, 1.0, where="inferenceConfig"),
            stop_sequences=string_list(config, "stopSequences", 2500, where="inferenceConfig"),
        )

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": result.text}]}},
            "stopReason": STOP_REASONS[result.stop_reason],
            "usage": {
                "inputTokens": result.input_tokens,
                "outputTokens": result.output_tokens,
                "totalTokens": result.input_tokens + result.output_tokens,
            },
            "metrics": {"latencyMs": 0},
        }


CONVERSE = Converse()
