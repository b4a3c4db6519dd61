"""GetModelInvocationJob throughput and latency against a bare Starlette endpoint, same run.

    python bench/api_get.py [--seconds 5]

Prints req/s, p50 and p99 for 1, 16 and 128 concurrent keep-alive clients on each server and
the ratio batchrock / bare (the figure; the aim is 0.5 or better).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import ServerProcess, free_port

from bench.loadgen import run_load, summary

LEVELS = (1, 16, 128)


def create_job(url: str) -> str:
    client = botocore.session.get_session().create_client(
        "bedrock", endpoint_url=url, region_name="us-east-1", aws_access_key_id="123456789012", aws_secret_access_key="s")
    return client.create_model_invocation_job(
        jobName="bench", roleArn="arn:aws:iam::123456789012:role/r", modelId="anthropic.claude-3-haiku-20240307-v1:0",
        inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://bucket/in/"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out/"}})["jobArn"]


def signed_get(port: int, path: str) -> bytes:
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:{port}{path}")
    SigV4Auth(Credentials("123456789012", "s"), "bedrock", "us-east-1").add_auth(request)
    headers = "".join(f"{key}: {value}\r\n" for key, value in request.headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n".encode()


def wait_for_port(port: int) -> None:
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data").start()
        job_id = create_job(server.url).rsplit("/", 1)[1]
        path = f"/model-invocation-job/{job_id}"
        request = signed_get(server.port, path)
        body = Path(tmp) / "body.json"
        import urllib.request

        raw = urllib.request.Request(server.url + path, headers={k: v for k, v in
                                      [line.split(": ", 1) for line in request.decode().split("\r\n")[2:] if ": " in line]})
        body.write_bytes(urllib.request.urlopen(raw).read())
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_app.py")), str(bare_port), str(body)])
        wait_for_port(bare_port)
        bare_request = request.replace(f":{server.port}".encode(), f":{bare_port}".encode())
        try:
            print(f"GetModelInvocationJob, {args.seconds:.0f} s per level, response {body.stat().st_size} bytes")
            for level in LEVELS:
                ours = run_load("127.0.0.1", server.port, request, level, args.seconds)
                base = run_load("127.0.0.1", bare_port, bare_request, level, args.seconds)
                print(f"clients {level:4d}  batchrock {summary(ours)}")
                print(f"             bare      {summary(base)}")
                print(f"             ratio batchrock/bare = {ours.rps / base.rps:.2f}")
        finally:
            bare.terminate()
            server.stop()


if __name__ == "__main__":
    main()
