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
    store = S3ObjectStore("http://127.0.0.1:9", min_part_size=1)
    sent: list[tuple[str, dict[str, str]]] = []

    def capture(request: Any, **kwargs: Any) -> AWSResponse:
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        sent.append((request.method + " " + request.url.split("?")[0].rsplit("/", 1)[-1], headers))
        body = b"<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"
        return AWSResponse(request.url, 200, _Headers({"ETag": '"e"'}), type("Raw", (), {"stream": lambda *a, **k: iter([body])})())

    store.client.meta.events.register_first("before-send.s3", capture)
    store.put_object("bucket", "out/manifest.json.out", b"{}", KEY)
    store.start_upload("bucket", "out/a.jsonl.out", KEY)
    store.put_object("bucket", "out/plain", b"{}")
    assert [name for name, _ in sent] == ["PUT manifest.json.out", "POST a.jsonl.out", "PUT plain"]
    for _, headers in sent[:2]:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["x-amz-server-side-encryption"] == "aws:kms"
        assert lowered["x-amz-server-side-encryption-aws-kms-key-id"] == KEY
    assert "x-amz-server-side-encryption" not in {k.lower() for k in sent[2][1]}
