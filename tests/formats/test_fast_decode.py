"""The typed fast path (msgspec) and the checking path agree on every body: the same request for
a valid one, the same FormatError message for any other. Bodies are drawn near the schema:
valid ones, and ones with a field of the wrong type, out of range, null, or missing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchrock.formats.anthropic import AnthropicMessages
from batchrock.formats.base import FormatError, request_from_json
from batchrock.formats.titan_embed import TitanEmbedG1, TitanEmbedV2

ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 300_000), st.floats(-2, 2, allow_nan=False),
                       st.text(max_size=12), st.lists(st.text(max_size=4), max_size=3), st.just({}))
TEXT_BLOCK = st.fixed_dictionaries({"type": st.sampled_from(["text", "image", "tool_use"]), "text": st.text(max_size=20)})
CONTENT = st.one_of(st.text(max_size=30), st.lists(TEXT_BLOCK, max_size=3))
TURN = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": CONTENT})


def maybe_spoil(draw: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Leave the body as it is, or replace or remove one of its fields."""
    action = draw(st.sampled_from(["keep", "keep", "replace", "remove"]))
    if action != "keep" and body:
        name = draw(st.sampled_from(sorted(body)))
        if action == "remove":
            del body[name]
        else:
            body[name] = draw(ODD_VALUES)
    return body


@st.composite
def anthropic_bodies(draw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "anthropic_version": draw(st.sampled_from(["bedrock-2023-05-31", "2023-06-01"])),
        "max_tokens": draw(st.integers(0, 200_001)),
        "messages": draw(st.lists(TURN, min_size=0, max_size=3)),
    }
    for name, values in (("system", CONTENT), ("temperature", st.floats(-0.5, 1.5, allow_nan=False)),
                         ("top_p", st.floats(0, 1)), ("top_k", st.integers(-1, 501)),
                         ("stop_sequences", st.lists(st.text(max_size=5), max_size=3))):
        if draw(st.booleans()):
            body[name] = draw(values)
    return maybe_spoil(draw, body)


@st.composite
def titan_v2_bodies(draw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"inputText": draw(st.text(max_size=20))}
    if draw(st.booleans()):
        body["dimensions"] = draw(st.sampled_from([256, 512, 1024, 384]))
    if draw(st.booleans()):
        body["embeddingTypes"] = draw(st.lists(st.sampled_from(["float", "binary", "int8"]), max_size=2))
    if draw(st.booleans()):
        body["normalize"] = draw(st.booleans())
    return maybe_spoil(draw, body)


def outcome(call: Any) -> Any:
    try:
        return call()
    except FormatError as error:
        return f"FormatError: {error}"


def assert_paths_agree(fmt: Any, body: dict[str, Any]) -> None:
    assert outcome(lambda: request_from_json(fmt, orjson.dumps(body))) == outcome(lambda: fmt.parse(body))


@settings(max_examples=400, deadline=None)
@given(anthropic_bodies())
def test_anthropic_fast_path_agrees_with_the_checks(body: dict[str, Any]) -> None:
    assert_paths_agree(AnthropicMessages(), body)


@settings(max_examples=200, deadline=None)
@given(titan_v2_bodies())
def test_titan_v2_fast_path_agrees_with_the_checks(body: dict[str, Any]) -> None:
    assert_paths_agree(TitanEmbedV2(), body)


@pytest.mark.parametrize("body", [{"inputText": "hello"}, {"inputText": 3}, {}, {"inputText": None}])
def test_titan_g1_fast_path_agrees_with_the_checks(body: dict[str, Any]) -> None:
    assert_paths_agree(TitanEmbedG1(), body)


def test_a_valid_body_takes_the_fast_path() -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "text", "text": "Yes?"}]},
                         {"role": "user", "content": "Go on"}], "temperature": 1, "stop_sequences": ["\n\n"]}
    fast = AnthropicMessages().decode(orjson.dumps(body))
    assert fast is not None and fast == AnthropicMessages().parse(body)
    assert (TitanEmbedV2().decode(b'{"inputText": "x", "dimensions": 256}')
            == TitanEmbedV2().parse({"inputText": "x", "dimensions": 256}))
