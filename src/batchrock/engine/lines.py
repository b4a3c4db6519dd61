"""An input file's lines a block at a time, as the runner reads them: each block the bytes of its
lines (blank lines and all) and how many records they hold, cut from whole-line chunks.

A block's records are found, and their envelopes decoded, a chunk or a block at a time (numpy
finds where each record's line ends; msgspec decodes the block's lines in one call), not a line
at a time: a block is split into lines only when something in it must be looked at line by line.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import BinaryIO

from batchrock.engine.records import Envelope, decode_envelope_lines
from batchrock.engine.shards import record_ends
from batchrock.storage.base import read_line_chunks


class LineBlock:
    """Whole input lines: the bytes they span, the records they hold (blank lines hold none), and
    the length no record line among them exceeds (a bound: a line's count may take in blank lines
    before it)."""

    __slots__ = ("data", "longest", "records")

    def __init__(self, data: bytes | memoryview, records: int, longest: int) -> None:
        self.data = data
        self.records = records
        self.longest = longest

    def lines(self) -> list[bytes]:
        """Every line, blank or not, without its newline."""
        lines = bytes(self.data).split(b"\n")
        if lines[-1] == b"":  # a last newline ends the last line; it starts none
            lines.pop()
        return lines

    def envelopes(self) -> list[Envelope] | None:
        """Each record's envelope, decoded in one call; None unless every record's line is one well-formed envelope."""
        return decode_envelope_lines(self.data, self.records)


def line_blocks(stream: BinaryIO, start: int, size: int) -> Generator[tuple[LineBlock, int], None, None]:
    """The stream's lines (from offset ``start``), ``size`` records at a time, each block with the
    input offset just after its last line; blank lines go with the block after them, and a chunk's
    last ones with its last block (a chunk of blank lines only is a block of no record)."""
    offset = start
    for chunk, terminated in read_line_chunks(stream):
        ends = record_ends(chunk, terminated)
        spans = ends.copy()
        spans[1:] -= ends[:-1]  # each record's line, with the blank lines before it
        cuts = [*ends[size - 1:-1:size].tolist(), len(chunk)]
        view, previous = memoryview(chunk), 0
        for place, cut in enumerate(cuts):
            block_spans = spans[place * size:(place + 1) * size]
            longest = int(block_spans.max()) if len(block_spans) else 0
            yield LineBlock(view[previous:cut], len(block_spans), longest), offset + cut
            previous = cut
        offset += len(chunk)
