"""Bad API input at volume: requests drawn from the service model's shapes, mutated into junk
(wrong types, huge strings, deep JSON, random bytes), sent to a live server.

    python bench/fuzz_api.py [--requests 10000]

Prints the status codes seen; exits non-zero on any 5xx or if the server stops answering.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from tests.contract.strategies import invalid_value, valid  # noqa: E402
from tests.support.clients import signed  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

from batchrock import awsmodel  # noqa: E402

MODEL = awsmodel.load().model
PATHS = [("POST", "/model-invocation-job"), ("GET", "/model-invocation-jobs"), ("POST", "/tagResource"),
         ("POST", "/untagResource"), ("POST", "/listTagsForResource"), ("GET", "/model-invocation-job/abcdefghij12"),
         ("POST", "/model-invocation-job/abcdefghij12/stop")]


def deep(depth: int) -> bytes:
    return b'{"a":[' * depth + b"1" + b"]}" * depth


def junk(rng: random.Random) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if choice == 1:
        return deep(rng.choice([10, 1000, 5000, 100_000]))
    if choice == 2:
        return json.dumps({"jobName": "x" * rng.choice([100, 100_000])}).encode()
    if choice == 3:
        return json.dumps(rng.choice([[], 1, "s", None, True])).encode()
    if choice == 4:
        return b'{"jobName": "\\ud800", "tags": [' + b"{}," * 1000 + b"{}]}"
    return b"{" * rng.randrange(1, 100_000)


OPERATIONS = ["CreateModelInvocationJob", "TagResource", "UntagResource", "ListTagsForResource"]
JUNK_VALUES: list[object] = [None, True, -1, 2**63, 3.5, "", "x" * 100_000, "\u0000", ["x"] * 500, {"a": {"b": {"c": []}}},
                             "s3://../../etc/passwd", "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghij12"]


def pool(size: int) -> list[tuple[str, dict]]:
    """Valid bodies drawn from the model's shapes once (hypothesis' draws are slow), then mutated per request."""
    bodies = []
    for index in range(size):
        shape = MODEL.operation_model(OPERATIONS[index % len(OPERATIONS)]).input_shape
        bodies.append((OPERATIONS[index % len(OPERATIONS)], valid(shape).example()))
        if index < 4:
            JUNK_VALUES.extend(invalid_value(member).example() for member in shape.members.values())
    return bodies


def drawn(rng: random.Random, bodies: list[tuple[str, dict]]) -> bytes:
    _, chosen = rng.choice(bodies)
    body = dict(chosen)
    for _ in range(rng.randrange(0, 3)):
        body[rng.choice(sorted(body) or ["jobName"])] = rng.choice(JUNK_VALUES)
    return json.dumps(body, default=str).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seen: collections.Counter[int] = collections.Counter()
    bodies = pool(40)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", extra_args=("--no-worker",)).start()
        try:
            for index in range(args.requests):
                method, path = rng.choice(PATHS)
                body = drawn(rng, bodies) if rng.random() < 0.6 else junk(rng)
                if method == "GET":
                    body = b""
                    path += "?" + rng.choice(["maxResults=" + str(rng.randrange(-5, 5000)),
                                              "statusEquals=" + "x" * rng.randrange(50),
                                              "submitTimeAfter=" + str(rng.random()), "nextToken=" + "%00" * 10, "sortOrder=Up"])
                headers = {"Content-Type": rng.choice(["application/json", "text/plain", "application/json; charset=utf-8"])}
                response = signed(server.url, method, path, body, headers)
                seen[response.status] += 1
                if response.status >= 500:
                    print(f"5xx on request {index}: {method} {path} {body[:200]!r} -> {response.body[:300]!r}")
            healthy = signed(server.url, "GET", "/model-invocation-jobs").status == 200
        finally:
            server.stop()
    print(f"{args.requests} requests: " + ", ".join(f"{status}: {count}" for status, count in sorted(seen.items())))
    print(f"5xx: {sum(c for s, c in seen.items() if s >= 500)}; server healthy afterwards: {healthy}")
    sys.exit(0 if healthy and not any(s >= 500 for s in seen) else 1)


if __name__ == "__main__":
    main()
