"""Whole-job throughput with a zero-cost backend against a raw JSONL loop; peak RSS.

    python bench/engine_throughput.py [--sizes 10000 100000 1000000] [--rounds 3]

For each size, in fresh processes: (a) a batchrock job (Validating + InProgress + manifest)
on the local-directory store, run by an in-process worker, on the zero-cost backend (a constant
answer: bench/zero_cost_catalog.toml), (b) the same job on the echo backend, which answers with
each prompt's words, and (c) a raw loop that only reads the same JSONL, parses and re-serializes
each line, and writes it out. The three run in turn, ``--rounds`` times; it prints the median
records/s of each, the ratios of the medians to the raw loop's (aim for the zero-cost one: 0.5 or
better) and the largest peak RSS of each side. (On a shared machine the raw loop alone moves by
a factor of 1.5 from run to run: one run of each is not a measurement.)

Like for like: each side is timed from the first byte read to the last byte written, imports and
start-up outside the clock. The raw loop writes as many bytes per record as the job does: its
modelOutput is the zero-cost answer in the model's format (a constant, so it costs the loop only
the serializing); with a token ``{"echo": true}`` it wrote a third of the job's output bytes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "bench/zero_cost_catalog.toml"
MODELS = {"zero-cost": "anthropic.claude-3-haiku-20240307-v1:0", "echo": "anthropic.claude-3-sonnet-20240229-v1:0"}


def write_input(path: Path, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        for i in range(count):
            body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"Summarise record number {i} in one line."}]}
            handle.write(json.dumps({"recordId": f"R{i:09d}", "modelInput": body}) + "\n")


# what the job writes as a record's modelOutput (the echo's answer, in the Anthropic Messages format)
ANSWER = {"id": "msg_bdrk_5f1c2a9e0b7d3c4e0000003a", "type": "message", "role": "assistant",
          "model": "claude-3-haiku-20240307",
          "content": [{"type": "text", "text": "echo: Summarise record number 123456 in one line."}],
          "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 8}}


def run_raw(source: Path, target: Path) -> float:
    import orjson

    started = time.perf_counter()
    with open(source, "rb") as reader, open(target, "wb") as writer:
        for line in reader:
            record = orjson.loads(line)
            writer.write(orjson.dumps({"recordId": record["recordId"], "modelInput": record["modelInput"],
                                       "modelOutput": ANSWER}) + b"\n")
    return time.perf_counter() - started


def run_job(data_dir: Path, model_id: str) -> float:
    from batchrock.engine.config import EngineConfig
    from batchrock.jobs.model import JobSpec, Owner, S3InputConfig, S3OutputConfig
    from batchrock.runtime import Runtime
    from batchrock.settings import Settings

    runtime = Runtime.build(Settings(data_dir=data_dir, catalog_path=CATALOG), EngineConfig(batch_size=256))
    spec = JobSpec("bench", "arn:aws:iam::123456789012:role/r", model_id,
                   S3InputConfig("s3://bench/in/input.jsonl", "JSONL"), S3OutputConfig("s3://bench/out/"), 168)
    started = time.perf_counter()
    job = runtime.service.create(Owner("123456789012", "us-east-1"), spec, [])
    worker = runtime.worker()
    assert worker.drain(timeout=3600)
    elapsed = time.perf_counter() - started
    final = runtime.store.get_job_by_id(job.job_id)
    assert final is not None and final.status.value == "Completed", final
    return elapsed


def child(mode: str, directory: Path) -> None:
    if mode == "raw":
        elapsed = run_raw(directory / "buckets/bench/in/input.jsonl", directory / "raw.out")
    else:
        elapsed = run_job(directory, MODELS[mode])
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure_once(mode: str, directory: Path, turn: int) -> dict[str, float]:
    """One run; a job gets a data directory of its own (a fresh job store), its input linked to
    the one file, removed after."""
    if mode == "raw":
        return measure(mode, directory)
    own = directory / f"{mode}-{turn}"
    (own / "buckets/bench/in").mkdir(parents=True)
    (own / "buckets/bench/in/input.jsonl").hardlink_to(directory / "buckets/bench/in/input.jsonl")
    try:
        return measure(mode, own)
    finally:
        shutil.rmtree(own)


def measure(mode: str, directory: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(directory)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DIR"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    print(f"{'records':>9} {'raw loop rec/s':>15} {'zero-cost rec/s':>16} {'ratio':>6} {'echo rec/s':>11} {'ratio':>6}"
          f" {'raw RSS':>8} {'job RSS':>8}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            write_input(directory / "buckets/bench/in/input.jsonl", size)
            runs = [[measure_once(mode, directory, turn) for mode in ("raw", "zero-cost", "echo")]
                    for turn in range(args.rounds)]
            rates = [statistics.median(size / run[side]["seconds"] for run in runs) for side in range(3)]
            rss = [max(run[side]["peak_rss_mb"] for run in runs) for side in range(3)]
            base, zero, echo = rates
            print(f"{size:>9} {base:>15.0f} {zero:>16.0f} {zero / base:>6.2f} {echo:>11.0f} {echo / base:>6.2f}"
                  f" {rss[0]:>5.0f} MB {max(rss[1:]):>5.0f} MB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
