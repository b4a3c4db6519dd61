"""The transformers backend on a GPU: continuous batching against padded batches, skewed lengths.

    python bench/transformers_continuous.py [--requests 256] [--parallel 64] [--hidden 1024 --layers 8]

A Llama model with random weights (tests/support/tiny_transformers.py: built from a config,
nothing downloaded) answers the same requests, greedy, through the backend's slots twice: with
transformers' continuous batching (``hf_slots.ManagedSlots``) and as left-padded ``generate``
batches (``continuous = false``), ``parallel`` requests at a time either way. A quarter of the
requests ask for ``--long`` tokens, the rest for ``--short``. It prints generated tokens per
second of each and their ratio; the model's load and a warm-up request are outside the clock.
Needs torch, transformers and a GPU (it runs on the CPU too, slowly).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tests.support.tiny_transformers import build_tiny_model, prompts

from batchrock.backends.base import GenerationRequest, GenerationResult, RequestKind
from batchrock.backends.hf_transformers import TransformersBackend, TransformersOptions


def run(model_path: Path, continuous: bool, items: list[GenerationRequest], parallel: int,
        batching: dict[str, bool | int | float | str]) -> tuple[float, int]:
    backend = TransformersBackend(TransformersOptions(model_path=str(model_path), parallel=parallel, continuous=continuous,
                                                      repetition_penalty=1.0, prompt_mode="raw",  # type: ignore[arg-type]
                                                      batching=batching))
    backend.warm_up()
    started = time.perf_counter()
    results = backend._generate_all(items)
    elapsed = time.perf_counter() - started
    backend.close()
    assert all(isinstance(result, GenerationResult) for result in results), results[:3]
    return elapsed, sum(result.output_tokens for result in results if isinstance(result, GenerationResult))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--long", type=int, default=128)
    parser.add_argument("--short", type=int, default=16)
    parser.add_argument("--variants", nargs="+", default=["continuous", "continuous, no CUDA graphs", "padded"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model_path = build_tiny_model(Path(folder), hidden=args.hidden, layers=args.layers, heads=16, positions=1024)
        items = [GenerationRequest(RequestKind.COMPLETION, prompt=text, temperature=0.0,
                                   max_tokens=args.long if index % 4 == 0 else args.short)
                 for index, text in enumerate(prompts(args.requests))]
        variants: list[tuple[str, bool, dict[str, bool | int | float | str]]] = [
            ("continuous", True, {}), ("continuous, no CUDA graphs", True, {"use_cuda_graph": False}),
            ("padded", False, {})]
        rates = {}
        for label, continuous, batching in [variant for variant in variants if variant[0] in args.variants]:
            elapsed, tokens = run(model_path, continuous, items, args.parallel, batching)
            rates[label] = tokens / elapsed
            print(f"{label:>28}: {tokens} tokens in {elapsed:.2f} s, {tokens / elapsed:,.0f} tokens/s")
        for label in rates:
            print(f"{label} / padded: {rates[label] / rates.get('padded', float('nan')):.2f}x")


if __name__ == "__main__":
    main()
