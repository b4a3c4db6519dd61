"""Sampling as the named model does it: its documented Bedrock defaults, and one seed per record.

A request that leaves ``temperature`` or ``top_p`` unset gets the default Bedrock documents for
the model the job names (Claude samples at temperature 1.0 and top_p 0.999, Titan Text at 0.7
and 0.9, ...), not greedy decoding, which makes small models loop. An explicit ``temperature``
of 0 stays greedy. Every generation request carries a seed derived from the job's name and the
record's id: the same job run twice (or resumed) gives the same answers, and two records with the
same prompt still differ.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

import msgspec

from batchrock.backends.base import GenerationRequest, RequestKind


@dataclass(frozen=True)
class SamplingDefaults:
    temperature: float
    top_p: float


# By model id prefix, the most specific first (Bedrock's inference parameter pages).
_DEFAULTS: tuple[tuple[str, SamplingDefaults], ...] = (
    ("anthropic.", SamplingDefaults(1.0, 0.999)),
    ("amazon.titan-text", SamplingDefaults(0.7, 0.9)),
    ("amazon.titan-tg1", SamplingDefaults(0.7, 0.9)),
    ("amazon.nova", SamplingDefaults(0.7, 0.9)),
    ("meta.llama", SamplingDefaults(0.5, 0.9)),
    ("mistral.mistral-large", SamplingDefaults(0.7, 1.0)),
    ("mistral.", SamplingDefaults(0.5, 0.9)),
)
FALLBACK = SamplingDefaults(0.7, 0.9)


def defaults_for(model_id: str) -> SamplingDefaults:
    """``model_id`` is the catalog's bare id (no ARN, no inference-profile prefix)."""
    return next((defaults for prefix, defaults in _DEFAULTS if model_id.startswith(prefix)), FALLBACK)


class SampledBlock(NamedTuple):
    """A block's sampling, for a format to build its requests with: the model's defaults for what a
    body leaves unset, and each record's seed."""

    temperature: float
    top_p: float
    seeds: list[int]


def record_seed(job_name: str, record_id: str) -> int:
    return zlib.crc32(f"{job_name}\x00{record_id}".encode())


class Sampling:
    """Completes one job's requests: the named model's defaults where unset, and the record's seed."""

    def __init__(self, model_id: str, job_name: str) -> None:
        self.defaults = defaults_for(model_id)
        self.job_name = job_name
        # a CRC goes on from where it stopped: this prefix's CRC, continued over a recordId, is record_seed
        self._seed_prefix = zlib.crc32(f"{job_name}\x00".encode())

    def apply(self, request: GenerationRequest, record_id: str) -> GenerationRequest:
        if request.kind is RequestKind.EMBEDDING:
            return request
        return msgspec.structs.replace(
            request, temperature=self.defaults.temperature if request.temperature is None else request.temperature,
            top_p=self.defaults.top_p if request.top_p is None else request.top_p,
            seed=zlib.crc32(record_id.encode(), self._seed_prefix))

    def for_block(self, record_ids: Sequence[str]) -> SampledBlock:
        """What a format needs to build a block's requests completed as ``apply`` completes each."""
        seeds = list(map(zlib.crc32, map(str.encode, record_ids), repeat(self._seed_prefix)))
        return SampledBlock(self.defaults.temperature, self.defaults.top_p, seeds)
