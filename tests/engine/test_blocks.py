"""The block path gives what the record-by-record rules give: ``examine_block`` the outcome of
``examine_record`` for each line, ``decode_many`` what ``decode`` gives each body, a Messages
answer the bytes its dict would serialize to, a block's requests completed with the job's sampling
what ``apply`` gives each request, and a block's output lines the lines each record would have had
on its own."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from batchrock.backends.base import BackendError, GenerationRequest, GenerationResult, RequestKind, StopReason
from batchrock.engine.blocks import RecordBlock, record_key
from batchrock.engine.lines import LineBlock, line_blocks
from batchrock.engine.validate import examine_block, examine_record
from batchrock.formats.anthropic import AnthropicMessages
from batchrock.formats.base import STOP_REASONS, FormatError, requests_from_json
from batchrock.formats.sampling import Sampling, record_seed
from batchrock.formats.titan_embed import TitanEmbedG1, TitanEmbedV2
from batchrock.storage.base import read_line_blocks, read_line_chunks, read_lines
from tests.formats.test_fast_decode import anthropic_bodies, titan_v2_bodies

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
GOOD_BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
NEW_IDS = st.text("abcdefghijkl", min_size=2, max_size=6)
IDS = st.one_of(NEW_IDS, NEW_IDS, NEW_IDS, NEW_IDS, st.sampled_from(["", None, None, 7, "dup"]))
ODD_LINES = st.sampled_from([b"", b"   ", b"not json", b"[1]", b"{}", b'{"recordId": "x"}',
                             b'{"modelInput": {}} {"modelInput": {}}',
                             b'{"modelInput": {"max_tokens": 123456789012345678901234567890}}', b"\xff"])


def fast_decodes(fmt: Any) -> Any:
    def decodes(body: dict[str, Any]) -> bool:
        try:
            return fmt.decode(orjson.dumps(body)) is not None
        except msgspec.MsgspecError:
            return False
    return decodes


VALID_ANTHROPIC = anthropic_bodies().filter(fast_decodes(AnthropicMessages()))
VALID_TITAN_V2 = titan_v2_bodies().filter(fast_decodes(TitanEmbedV2()))
G1_BODIES = st.sampled_from([{"inputText": "x"}, {"inputText": "y", "z": 1}, {}])
BODY_BLOCKS = st.one_of(
    st.tuples(st.just(AnthropicMessages()), st.lists(st.one_of(VALID_ANTHROPIC, VALID_ANTHROPIC, anthropic_bodies()),
                                                     max_size=6)),
    st.tuples(st.just(TitanEmbedV2()), st.lists(st.one_of(VALID_TITAN_V2, titan_v2_bodies()), max_size=4)),
    st.tuples(st.just(TitanEmbedG1()), st.lists(G1_BODIES, max_size=3)))


@st.composite
def lines(draw: Any) -> bytes:
    """A line of a block: mostly a record with a new recordId (so whole blocks go the fast way), at times anything else."""
    if draw(st.integers(0, 19)) == 0:
        return draw(ODD_LINES)
    envelope: dict[str, Any] = {"modelInput": draw(st.one_of(st.just(GOOD_BODY), st.just(GOOD_BODY), VALID_ANTHROPIC,
                                                             anthropic_bodies()))}
    record_id = draw(IDS)
    if record_id is not None or draw(st.booleans()):
        envelope["recordId"] = record_id
    return orjson.dumps(envelope)


def block_of(lines: list[bytes]) -> LineBlock:
    """The block of these lines (none holding a newline), as line_blocks would cut it."""
    return LineBlock(b"".join(line + b"\n" for line in lines), sum(1 for line in lines if line.strip()),
                     max(map(len, lines), default=0))


def outcomes_one_by_one(block: list[bytes], number: int, seen: set[str], limit: int,
                        sampling: Sampling | None) -> list[tuple[Any, ...]]:
    found = []
    for line in block:
        if not line.strip():
            continue
        number += 1
        record, request, problem = examine_record("job", 0, line, number, AnthropicMessages(), seen, limit)
        if request is not None and sampling is not None:
            request = sampling.apply(request, record.record_id)
        found.append((record.record_id, bytes(record.input_json), request, problem))
    return found


def outcomes_of(block: RecordBlock) -> list[tuple[Any, ...]]:
    problems = block.problems or [None] * len(block.ids)
    requests = iter(block.requests)
    return [(record_id, bytes(model_input), next(requests) if problem is None else None, problem)
            for record_id, model_input, problem in zip(block.ids, block.inputs, problems, strict=True)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(lines(), max_size=8), max_size=4), st.sampled_from([150, 1 << 20, 1 << 20]), st.booleans())
def test_a_block_is_examined_as_its_lines_are_one_by_one(blocks: list[list[bytes]], limit: int, sampled: bool) -> None:
    seen_by_block: set[str] = {"dup"}
    seen_by_line: set[str] = {"dup"}
    sampling = Sampling(MODEL, "job é") if sampled else None
    number = 0
    for block in blocks:
        examined = examine_block("job", 0, block_of(block), number, AnthropicMessages(), seen_by_block, limit,
                                 sampling)
        expected = outcomes_one_by_one(block, number, seen_by_line, limit, sampling)
        assert outcomes_of(examined) == expected
        number += len(expected)
    assert seen_by_block == seen_by_line


@settings(max_examples=300, deadline=None)
@given(BODY_BLOCKS)
def test_decode_many_gives_what_decode_gives_each_body(drawn: tuple[Any, list[dict[str, Any]]]) -> None:
    fmt, bodies = drawn
    raws = [orjson.dumps(body) for body in bodies]
    try:
        decoded = fmt.decode_many(raws)
    except msgspec.MsgspecError:
        return  # the whole block is refused: each body is then decoded alone
    if decoded is not None:
        assert decoded == [decode_or_none(fmt, raw) for raw in raws]


def decode_or_none(fmt: Any, raw: bytes) -> GenerationRequest | None:
    try:
        request: GenerationRequest | None = fmt.decode(raw)
        return request
    except msgspec.MsgspecError:
        raise AssertionError("decode_many took a body decode refuses") from None


RESULTS = st.builds(GenerationResult, text=st.text(max_size=30), stop_reason=st.sampled_from(list(StopReason)),
                    stop_sequence=st.one_of(st.none(), st.text(max_size=5)), input_tokens=st.integers(0, 10**6),
                    output_tokens=st.integers(0, 10**6))


def messages_dict(answer_id: str, result: GenerationResult, model_name: str) -> dict[str, Any]:
    """The answer as Anthropic's Messages API gives it, built by hand."""
    return {"id": answer_id, "type": "message", "role": "assistant", "model": model_name,
            "content": [{"type": "text", "text": result.text}],
            "stop_reason": STOP_REASONS[result.stop_reason],
            "stop_sequence": result.stop_sequence,
            "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens}}


@settings(max_examples=300, deadline=None)
@given(RESULTS, st.sampled_from([(MODEL, "claude-3-haiku-20240307"),
                                  ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet-20240620"),
                                  ("arn:aws:bedrock:us-east-1::foundation-model/x", "x")]))
def test_a_messages_answer_encodes_as_its_dict_would(result: GenerationResult, model: tuple[str, str]) -> None:
    model_id, model_name = model
    key = record_key("job", 3, 7)
    answer = AnthropicMessages().render(GenerationRequest(RequestKind.CHAT), result, model_id, key)
    assert answer.id.startswith("msg_bdrk_") and len(answer.id) == len("msg_bdrk_") + 24
    assert msgspec.json.encode(answer) == orjson.dumps(messages_dict(answer.id, result, model_name))
    again = AnthropicMessages().render(GenerationRequest(RequestKind.CHAT), result, model_id, key)
    assert again.id == answer.id  # a re-run writes the same line
    others = [record_key("job", 3, 8), record_key("job", 4, 7), record_key("another job", 3, 7)]
    ids = [answer.id for answer in AnthropicMessages().render_many([GenerationRequest(RequestKind.CHAT)] * 3,
                                                                    [result] * 3, model_id, others)]
    assert len({answer.id, *ids}) == 4  # every record of a job, and every job, has ids of its own


@given(st.sampled_from(["job", "another job"]), st.integers(0, 2**24 - 1), st.integers(1, 2**40 - 1),
       st.integers(1, 300))
def test_a_run_of_keys_has_the_ids_each_key_has_alone(job_id: str, file_index: int, first: int, count: int) -> None:
    """A block whose records all run hands its keys over as a range (their ids are spelt a run at
    a time): the same ids as each key gives alone, across any boundary of their hex digits."""
    keys = range(record_key(job_id, file_index, first), record_key(job_id, file_index, first) + count)
    fmt, result = AnthropicMessages(), GenerationResult("hi")
    ids = [answer.id for answer in fmt.render_many([GenerationRequest(RequestKind.CHAT)] * count, [result] * count,
                                                     MODEL, keys)]
    assert ids == [fmt.render(GenerationRequest(RequestKind.CHAT), result, MODEL, key).id for key in keys]


def test_an_answer_whose_token_counts_are_not_ints_still_renders() -> None:
    fmt, request = AnthropicMessages(), GenerationRequest(RequestKind.CHAT)
    result = GenerationResult("hi", input_tokens=7.0, output_tokens=True)  # type: ignore[arg-type]  # a server's JSON
    answer = orjson.loads(msgspec.json.encode(fmt.render(request, result, MODEL)))
    assert answer["usage"] == {"input_tokens": 7.0, "output_tokens": True} and answer["id"].startswith("msg_bdrk_")


@settings(max_examples=300, deadline=None)
@given(BODY_BLOCKS)
def test_a_blocks_requests_are_completed_as_apply_completes_each(drawn: tuple[Any, list[dict[str, Any]]]) -> None:
    fmt, bodies = drawn
    raws = [orjson.dumps(body) for body in bodies]
    sampling, ids = Sampling(MODEL, "job é"), [f"r{place}☃" for place in range(len(raws))]
    expected = [str(outcome) if isinstance(outcome, FormatError) else sampling.apply(outcome, record_id)
                for outcome, record_id in zip(requests_from_json(fmt, raws), ids, strict=True)]
    completed = requests_from_json(fmt, raws, sampling, ids)
    assert [str(outcome) if isinstance(outcome, FormatError) else outcome for outcome in completed] == expected


def test_apply_completes_a_request_with_the_models_defaults_and_a_seed_per_record() -> None:
    sampling = Sampling("anthropic.claude-3-haiku-20240307-v1:0", "job é")
    chat, explicit = GenerationRequest(RequestKind.CHAT), GenerationRequest(RequestKind.CHAT, temperature=0.0, top_p=0.5)
    embedding = GenerationRequest(RequestKind.EMBEDDING, prompt="x")
    completed = sampling.apply(chat, "a")
    assert (completed.temperature, completed.top_p) == (1.0, 0.999) and completed.seed == record_seed("job é", "a")
    assert sampling.apply(chat, "☃").seed == record_seed("job é", "☃") != completed.seed
    assert (sampling.apply(explicit, "b").temperature, sampling.apply(explicit, "b").top_p) == (0.0, 0.5)
    assert sampling.apply(embedding, "c") is embedding


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bb", b"", b"\n", b"\r\n", b"xyz\n"]), max_size=40), st.integers(1, 7))
def test_read_line_blocks_gives_the_lines_whatever_the_chunks_cut(pieces: list[bytes], chunk: int) -> None:
    data = b"".join(pieces)
    blocks = list(read_line_blocks(io.BytesIO(data), chunk))
    lines = [line for block, _terminated in blocks for line in block]
    expected = data.split(b"\n")
    if expected[-1] == b"":  # a last newline ends the last line; it starts none
        expected.pop()
    assert lines == expected
    assert all(terminated for _block, terminated in blocks[:-1])
    assert not blocks or blocks[-1][1] == data.endswith(b"\n") or not data


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"bb", b"", b"\n", b"\r\n", b"xyz\n", b"long line " * 3]), max_size=40),
       st.integers(1, 9))
def test_read_line_chunks_are_whole_lines_back_to_back(pieces: list[bytes], chunk: int) -> None:
    """Views of the reads and the small chunks that join a line two reads cut: together the data,
    each one whole lines (only the last may lack its newline), none empty."""
    data = b"".join(pieces)
    chunks = [(bytes(piece), terminated) for piece, terminated in read_line_chunks(io.BytesIO(data), chunk)]
    assert b"".join(piece for piece, _terminated in chunks) == data
    assert all(piece and piece.endswith(b"\n") and terminated for piece, terminated in chunks[:-1])
    assert not chunks or chunks[-1][1] == chunks[-1][0].endswith(b"\n") == data.endswith(b"\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"{}", b"a", b"bb", b"", b"  ", b"c\r", b"\t"]), max_size=40), st.booleans(),
       st.integers(1, 5), st.integers(0, 3))
def test_line_blocks_hold_the_lines_and_records_read_lines_finds(pieces: list[bytes], ends_with_newline: bool,
                                                                 size: int, start: int) -> None:
    """Blocks of ``size`` records cover every line once, in order (blank lines go with the block
    after them), each ends where read_lines says its last line ends, and a block's bound holds
    each of its record lines."""
    data = b"\n".join(pieces) + (b"\n" if ends_with_newline and pieces else b"")
    data = b"x" * start + data  # the stream starts at ``start``
    blocks = list(line_blocks(io.BytesIO(data[start:]), start, size))
    lines = [line for block, _end in blocks for line in block.lines()]
    assert lines == [line for line, _end in read_lines(io.BytesIO(data[start:]), start)]
    ends = {end for _line, end in read_lines(io.BytesIO(data[start:]), start)} | {start}
    assert all(end in ends for _block, end in blocks) and (not blocks or blocks[-1][1] == len(data))
    for block, _end in blocks:
        records = [line for line in block.lines() if line.strip()]
        assert block.records == len(records) <= size and all(len(line) <= block.longest for line in records)


def test_a_block_writes_each_record_line_as_it_would_alone() -> None:
    good = orjson.dumps({"recordId": "ok", "modelInput": GOOD_BODY})
    block = examine_block("job", 0, block_of([good, b"oops", good.replace(b'"ok"', b'"no"'), b""]), 0,
                          AnthropicMessages(), set(), 1 << 20)
    assert block.problems is not None and len(block.requests) == 2
    answers: list[GenerationResult | BackendError] = [GenerationResult("fine", input_tokens=3, output_tokens=4),
                                                      BackendError("down", status=503)]
    written = block.written(answers, AnthropicMessages().render_many, MODEL, 99)
    answer = AnthropicMessages().render(block.requests[0], GenerationResult("fine", input_tokens=3, output_tokens=4), MODEL,
                                        record_key("job", 0, 1))
    expected = [{"recordId": "ok", "modelInput": GOOD_BODY, "modelOutput": msgspec.to_builtins(answer)},
                {"recordId": block.ids[1], "modelInput": "oops", "error": {"errorCode": 400, "errorMessage": block.problems[1]}},
                {"recordId": "no", "modelInput": GOOD_BODY, "error": {"errorCode": 503, "errorMessage": "down"}}]
    assert written.line == b"".join(orjson.dumps(line) + b"\n" for line in expected)
    assert (written.end, written.records, written.success, written.input_tokens, written.output_tokens) == (99, 3, 1, 3, 4)
