"""Any S3-compatible endpoint, through botocore.

botocore rather than obstore: it is already a dependency (the API contract and SigV4 come
from it), it resolves the standard AWS credential chain, and it exposes the multipart calls
composing needs part by part, server-side copies (UploadPartCopy) included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batchrock.storage.base import ObjectInfo, ObjectMissing, StorageError

S3_MIN_PART_SIZE = 5 * 1024 * 1024


def _sse(kms_key_id: str | None) -> dict[str, str]:
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}


class S3ObjectStore:
    def __init__(self, endpoint_url: str | None, region: str = "us-east-1", min_part_size: int = S3_MIN_PART_SIZE) -> None:
        session = botocore.session.get_session()
        # one quick retry here: RetryingObjectStore does the long, outage-aware waiting
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"},
                        connect_timeout=5, read_timeout=60)
        self.client: Any = session.create_client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self.min_part_size = min_part_size
        self.supports_kms = True

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ObjectMissing(f"{what} does not exist ({code})") from None
            raise StorageError(f"{what}: {code} {error.response.get('Error', {}).get('Message', '')}".strip()) from None
        except BotoCoreError as error:
            raise StorageError(f"{what}: {error}") from None

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        token = None
        while True:
            extra: dict[str, str] = {"ContinuationToken": token} if token else {}
            page = self._call(f"s3://{bucket}/{prefix}", "list_objects_v2", Bucket=bucket, Prefix=prefix, **extra)
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            found = self._call(f"s3://{bucket}/{key}", "head_object", Bucket=bucket, Key=key)
        except ObjectMissing:
            return None
        return ObjectInfo(key, int(found["ContentLength"]))

    def open_read(self, bucket: str, key: str, start: int = 0) -> BinaryIO:
        extra = {"Range": f"bytes={start}-"} if start else {}
        body: BinaryIO = self._call(f"s3://{bucket}/{key}", "get_object", Bucket=bucket, Key=key, **extra)["Body"]
        return body

    def put_object(self, bucket: str, key: str, data: bytes | bytearray, kms_key_id: str | None = None) -> None:
        self._call(f"s3://{bucket}/{key}", "put_object", Bucket=bucket, Key=key, Body=data, **_sse(kms_key_id))

    def delete_object(self, bucket: str, key: str) -> None:
        self._call(f"s3://{bucket}/{key}", "delete_object", Bucket=bucket, Key=key)

    def compose(self, bucket: str, key: str, sources: list[str], kms_key_id: str | None = None) -> None:
        """Sources of at least the minimum part size are copied server-side; smaller neighbours
        are joined here into parts of that size (S3 refuses smaller parts but the last)."""
        sizes = [self._size(bucket, source) for source in sources]
        groups = _group_parts(sizes, self.min_part_size)
        if len(groups) <= 1:
            data = b"".join(self._read(bucket, source) for source in sources)
            self.put_object(bucket, key, data, kms_key_id)
            return
        what = f"s3://{bucket}/{key}"
        upload_id = self._call(what, "create_multipart_upload", Bucket=bucket, Key=key, **_sse(kms_key_id))["UploadId"]
        try:
            parts = [self._compose_part(bucket, key, upload_id, number, [sources[i] for i in group])
                     for number, group in enumerate(groups, start=1)]
            self._call(what, "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id,
                       MultipartUpload={"Parts": parts})
        except StorageError:
            self._abort(bucket, key, upload_id)
            raise

    def _compose_part(self, bucket: str, key: str, upload_id: str, number: int, sources: list[str]) -> dict[str, Any]:
        what = f"s3://{bucket}/{key} part {number}"
        common = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number}
        if len(sources) == 1:
            found = self._call(what, "upload_part_copy", CopySource={"Bucket": bucket, "Key": sources[0]}, **common)
            etag = found["CopyPartResult"]["ETag"]
        else:
            data = b"".join(self._read(bucket, source) for source in sources)
            etag = self._call(what, "upload_part", Body=data, **common)["ETag"]
        return {"PartNumber": number, "ETag": etag}

    def _size(self, bucket: str, key: str) -> int:
        found = self.head(bucket, key)
        if found is None:
            raise ObjectMissing(f"s3://{bucket}/{key} does not exist")
        return found.size

    def _read(self, bucket: str, key: str) -> bytes:
        body = self.open_read(bucket, key)
        try:
            return bytes(body.read())
        finally:
            body.close()

    def _abort(self, bucket: str, key: str, upload_id: str) -> None:
        with contextlib.suppress(StorageError):  # the bucket's lifecycle rules reap it; the error that matters is the one raised
            self._call(f"s3://{bucket}/{key}", "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)


def _group_parts(sizes: list[int], min_part_size: int) -> list[list[int]]:
    """Consecutive source indexes, grouped so that every group but the last reaches ``min_part_size``."""
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        current.append(index)
        total += size
        if total >= min_part_size:
            groups.append(current)
            current, total = [], 0
    if current:
        groups.append(current)  # the last part may be short
    return groups
