"""``make demo``: a real batch job on the embedded default (local buckets, SmolLM2 on llama.cpp).

Starts a server on a free port with a data dir under ./.data/demo, runs
``batchrock run examples/prompts.jsonl`` against it with live progress, prints a few output
records, then stops the server.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from batchrock.cli.main import main as batchrock

ROOT = Path(__file__).resolve().parents[2]
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _show_outputs(outputs: Path, count: int = 4) -> None:
    for path in sorted(outputs.glob("*.jsonl.out")):
        print(f"\nFirst records of {path.name}:")
        for line in path.read_text().splitlines()[:count]:
            record = json.loads(line)
            question = record["modelInput"]["messages"][0]["content"][0]["text"]
            answer = record["modelOutput"]["content"][0]["text"] if "modelOutput" in record else f"ERROR {record['error']}"
            print(f"  {record['recordId']}  Q: {question}\n               A: {answer}")
        last = json.loads(path.read_text().splitlines()[-1])
        if "error" in last:
            print(f"  {last['recordId']}  (an invalid record becomes an error record) {last['error']}")


def main() -> int:
    data_dir, port = ROOT / ".data" / "demo", _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "server.log", "ab") as log:  # the server writes to its own copy of the descriptor
        server = subprocess.Popen([sys.executable, "-m", "batchrock.cli.main", "serve", "--port", str(port),
                                   "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        print(f"batchrock server at {endpoint} (data dir {data_dir})\n")
        results = data_dir / "last-results"
        code = batchrock(["run", str(ROOT / "examples/prompts.jsonl"), "--model", MODEL, "--endpoint-url", endpoint,
                          "--data-dir", str(data_dir), "--output", str(results)])
        _show_outputs(results)
        print(f"\nTry it with the AWS CLI: aws bedrock list-model-invocation-jobs --endpoint-url {endpoint}  "
              "(while a server runs)")
        return code
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
