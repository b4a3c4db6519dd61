"""The same job through the ``openai`` backend on (a) one llama.cpp server and (b) a fleet of
two, in one run, like for like:

  * each server is llama-cpp-python's (``python -m llama_cpp.server``) on the packaged SmolLM2
    model with one thread (``--n_threads 1 --n_threads_batch 1``), so a fleet of N has N cores'
    worth of model, and one server is the same server in both runs;
  * the servers are started and warmed (one request each) before anything is timed;
  * both sides count the same: the whole job, from its submitTime to its endTime as Get reports
    them (scheduling, validation and output writing included), and the output tokens its
    manifest reports;
  * the same ``max_in_flight`` per server (default 2: the server runs one request at a time, and
    the next waits in it, so it never idles between requests), greedy decoding, the same prompts.

    python bench/openai_fleet.py [--prompts 48] [--max-tokens 32] [--servers 2] [--rounds 5]

Each round runs the single server, then the fleet; it prints both and the ratio of the fleet's
tokens per second to the single server's, then the median ratio over the rounds. On a shared
machine other work takes cores from the fleet (which needs one per server) before it takes any
from the single server, so each job line shows the 1-minute load average it ended with.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support.clients import bedrock  # noqa: E402
from tests.support.jobs import create_job, write_jsonl  # noqa: E402
from tests.support.openai_server import OpenAIServer  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

from bench.llamacpp_job import prompts  # noqa: E402

ONE_THREAD = ("--n_threads", "1", "--n_threads_batch", "1", "--verbose", "False")  # quiet: its log costs CPU


def start_servers(count: int, directory: Path) -> list[OpenAIServer]:
    servers: list[OpenAIServer] = []
    try:
        for index in range(count):
            servers.append(OpenAIServer(directory / f"llama-{index}.log", extra_args=ONE_THREAD).start())
            warm(servers[-1].url)
    except BaseException:
        stop(servers)
        raise
    return servers


def warm(url: str) -> None:
    request = {"model": "smollm2", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8}
    httpx.post(url + "/v1/chat/completions", json=request, timeout=120).raise_for_status()


def stop(servers: list[OpenAIServer]) -> None:
    for server in servers:
        server.stop()


def catalog(path: Path, urls: list[str], per_server: int) -> Path:
    listed = ", ".join(f'"{url}"' for url in urls)
    servers = f'base_url = "{urls[0]}"' if len(urls) == 1 else f"base_urls = [{listed}]"
    path.write_text(f'[backends.remote]\nbackend = "openai"\n{servers}\nmodel = "smollm2"\n'
                    f'max_in_flight = {per_server}\ntimeout_seconds = 600\n\n'
                    '[[models]]\nmatch = ["anthropic.claude-*"]\nformat = "anthropic-messages"\nbackend = "remote"\n')
    return path


def job(urls: list[str], texts: list[str], max_tokens: int, per_server: int, directory: Path) -> tuple[float, int]:
    """(seconds, output tokens) of one whole job on ``urls``."""
    server = ServerProcess(directory / "data", extra_args=("--catalog", str(catalog(directory / "catalog.toml", urls,
                                                                                       per_server)))).start()
    try:
        rows = [{"recordId": f"P{i:04d}", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
                                                          "temperature": 0, "messages": [{"role": "user", "content": t}]}}
                for i, t in enumerate(texts)]
        write_jsonl(server.data_dir / "buckets/bench/in/prompts.jsonl", rows)
        client = bedrock(server.url)
        finished = finish(client, create_job(client, "s3://bench/in/", "s3://bench/out/"))
        assert finished["status"] == "Completed" and finished["errorRecordCount"] == 0, finished
        elapsed = (finished["endTime"] - finished["submitTime"]).total_seconds()
        manifest = next((server.data_dir / "buckets/bench/out").rglob("manifest.json.out"))
        return elapsed, json.loads(manifest.read_text())["outputTokenCount"]
    finally:
        server.stop()


def finish(client: Any, arn: str) -> dict[str, Any]:
    """The job once it ends, asked for twice a second: a tighter poll would take CPU from the servers."""
    while (job := client.get_model_invocation_job(jobIdentifier=arn))["status"] not in ("Completed", "Failed", "Stopped"):
        time.sleep(0.5)
    return dict(job)


def round_ratio(servers: list[OpenAIServer], texts: list[str], args: argparse.Namespace, directory: Path) -> float:
    rates = {}
    for label, chosen in (("1 server", servers[:1]), (f"{len(servers)} servers", servers)):
        before = [server.posts() for server in chosen]
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            seconds, tokens = job([server.url for server in chosen], texts, args.max_tokens, args.per_server, Path(tmp))
        rates[label] = tokens / seconds
        answered = "/".join(str(server.posts() - count) for server, count in zip(chosen, before, strict=True))
        print(f"  {label:>10}: {tokens} tokens in {seconds:.1f} s = {rates[label]:.1f} tok/s "
              f"(requests answered per server: {answered}; load average {os.getloadavg()[0]:.1f})", flush=True)
    one, fleet = rates.values()
    print(f"  ratio fleet/one = {fleet / one:.2f}", flush=True)
    return fleet / one


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--per-server", type=int, default=2, help="max_in_flight, per server")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = prompts(args.prompts)
    print(f"{args.prompts} prompts, max_tokens {args.max_tokens}, SmolLM2-135M Q4_1, llama-cpp-python server with "
          f"1 thread each, max_in_flight {args.per_server} per server; whole job timed, servers warm")
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_servers(args.servers, Path(tmp))
        try:
            ratios = []
            for index in range(args.rounds):
                print(f"round {index + 1}:", flush=True)
                ratios.append(round_ratio(servers, texts, args, Path(tmp)))
        finally:
            stop(servers)
    print(f"median ratio fleet/one over {args.rounds} rounds = {statistics.median(ratios):.2f} "
          f"(each: {', '.join(f'{ratio:.2f}' for ratio in ratios)})")


if __name__ == "__main__":
    main()
