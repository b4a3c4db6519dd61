"""s3EncryptionKeyId on S3 writes: every write of a job's output asks for SSE-KMS with the key.

No KMS runs here (SeaweedFS answers InternalError to SSE-KMS without one), so this test reads
the requests botocore sends at its last hook before the network and answers them there."""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse

from batchrock.storage.s3 import S3ObjectStore

KEY = "arn:aws:kms:us-east-1:111111111111:key/12345678-1234-1234-1234-123456789012"


class _Headers(dict):
    pass


def test_output_writes_carry_sse_kms_headers(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    store = S3ObjectStore("http://127.0.0.1:9")
    sent: list[tuple[str, dict[str, str]]] = []

    def capture(request: Any, **kwargs: Any) -> AWSResponse:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append((request.method + " " + request.url.split("?")[0].rsplit("/", 1)[-1], headers))
        body = b"<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
        if request.method == "HEAD":  # the sizes of the parts being composed: two of 5 MiB
            headers = {"ETag": '"e"', "Content-Length": str(5 * 1024 * 1024)}
            return AWSResponse(request.url, 200, _Headers(headers), type("Raw", (), {"stream": lambda *a, **k: iter([])})())
        if "uploadId" in request.url and request.method == "PUT":
            body = b"<CopyPartResult><ETag>\"e\"</ETag></CopyPartResult>"
        raw = type("Raw", (), {"stream": lambda *a, **k: iter([body])})()
        return AWSResponse(request.url, 200, _Headers({"ETag": '"e"'}), raw)

    store.client.meta.events.register_first("before-send.s3", capture)
    store.put_object("bucket", "out/manifest.json.out", b"{}", KEY)
    store.put_object("bucket", "out/parts/1", b"{}", KEY)
    store.compose("bucket", "out/a.jsonl.out", ["out/parts/1", "out/parts/2"], KEY)
    store.put_object("bucket", "out/plain", b"{}")
    names = [name for name, _ in sent]
    assert names[:2] == ["PUT manifest.json.out", "PUT 1"] and names[-1] == "PUT plain"
    assert "POST a.jsonl.out" in names  # the composed file's multipart upload asks for the key
    for _, headers in [sent[0], sent[1], sent[names.index("POST a.jsonl.out")]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["x-amz-server-side-encryption"] == "aws:kms"
        assert lowered["x-amz-server-side-encryption-aws-kms-key-id"] == KEY
    assert "x-amz-server-side-encryption" not in {k.lower() for k in sent[-1][1]}
