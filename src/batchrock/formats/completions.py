"""Prompt-completion formats: Amazon Titan Text, Meta Llama and Mistral text completion.

Each request keeps its prompt as given (``prompt_mode = "raw"`` sends exactly that) and the
turns read from it (``formats.prompts``), which the serving model's chat template renders in
the default ``prompt_mode = "chat"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from batchrock.backends.base import GenerationRequest, GenerationResult, RequestKind, StopReason
from batchrock.formats.base import FormatError, field, int_in, number_in, require_object, string_list
from batchrock.formats.prompts import turns_from_prompt


def _prompt(body: dict[str, Any], name: str) -> str:
    text: str = field(body, name, str, required=True)
    if not text.strip():
        raise FormatError(f"{name} must not be empty")
    return text


def completion(prompt: str, **sampling: Any) -> GenerationRequest:
    turns = turns_from_prompt(prompt)
    return GenerationRequest(kind=RequestKind.COMPLETION, prompt=prompt, system=turns.system, messages=turns.messages,
                             **sampling)


class TitanText:
    name = "titan-text"
    _REASONS: ClassVar[dict[StopReason, str]] = {StopReason.END: "FINISH", StopReason.LENGTH: "LENGTH",
                                                 StopReason.STOP_SEQUENCE: "STOP_CRITERIA_MET"}

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        config = require_object(body.get("textGenerationConfig") or {}, "textGenerationConfig")
        where = "textGenerationConfig"
        return completion(
            _prompt(body, "inputText"),
            max_tokens=int_in(config, "maxTokenCount", 1, 8192, default=512, where=where) or 512,
            temperature=number_in(config, "temperature", 0.0, 1.0, where=where),
            top_p=number_in(config, "topP", 0.0, 1.0, where=where),
            stop_sequences=string_list(config, "stopSequences", 4, where=where),
        )

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        return {
            "inputTextTokenCount": result.input_tokens,
            "results": [{"tokenCount": result.output_tokens, "outputText": result.text,
                         "completionReason": self._REASONS[result.stop_reason]}],
        }


class MetaLlama:
    name = "meta-llama"

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        if body.get("images"):
            raise FormatError("images are not supported by this text-only model")
        return completion(
            _prompt(body, "prompt"),
            max_tokens=int_in(body, "max_gen_len", 1, 8192, default=512) or 512,
            temperature=number_in(body, "temperature", 0.0, 1.0),
            top_p=number_in(body, "top_p", 0.0, 1.0),
        )

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        return {
            "generation": result.text,
            "prompt_token_count": result.input_tokens,
            "generation_token_count": result.output_tokens,
            "stop_reason": "length" if result.stop_reason is StopReason.LENGTH else "stop",
        }


class MistralText:
    name = "mistral-text"

    def parse(self, body: Any) -> GenerationRequest:
        body = require_object(body)
        return completion(
            _prompt(body, "prompt"),
            max_tokens=int_in(body, "max_tokens", 1, 8192, default=512) or 512,
            temperature=number_in(body, "temperature", 0.0, 1.0),
            top_p=number_in(body, "top_p", 0.0, 1.0),
            top_k=int_in(body, "top_k", 1, 200),
            stop_sequences=string_list(body, "stop", 10),
        )

    def render(self, request: GenerationRequest, result: GenerationResult, model_id: str) -> dict[str, Any]:
        reason = "length" if result.stop_reason is StopReason.LENGTH else "stop"
        return {"outputs": [{"text": result.text, "stop_reason": reason}]}
