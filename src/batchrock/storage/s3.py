"""Any S3-compatible endpoint, through botocore.

botocore rather than obstore: it is already a dependency (the API contract and SigV4 come
from it), it resolves the standard AWS credential chain, and it exposes multipart uploads
part by part, which checkpointing needs (each committed part is recorded with its ETag).
"""

from __future__ import annotations

from typing import Any, BinaryIO, Iterator

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batchrock.storage.base import ObjectInfo, ObjectMissing, StorageError

S3_MIN_PART_SIZE = 5 * 1024 * 1024


def _sse(kms_key_id: str | None) -> dict[str, str]:
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}


class S3ObjectStore:
    def __init__(self, endpoint_url: str | None, region: str = "us-east-1", min_part_size: int = S3_MIN_PART_SIZE,
                 kms_key_id: str | None = None) -> None:
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
            extra = {"ContinuationToken": token} if token else {}
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
        return self._call(f"s3://{bucket}/{key}", "get_object", Bucket=bucket, Key=key, **extra)["Body"]

    def put_object(self, bucket: str, key: str, data: bytes, kms_key_id: str | None = None) -> None:
        self._call(f"s3://{bucket}/{key}", "put_object", Bucket=bucket, Key=key, Body=data, **_sse(kms_key_id))

    def delete_object(self, bucket: str, key: str) -> None:
        self._call(f"s3://{bucket}/{key}", "delete_object", Bucket=bucket, Key=key)

    def start_upload(self, bucket: str, key: str, kms_key_id: str | None = None) -> str:
        return self._call(f"s3://{bucket}/{key}", "create_multipart_upload", Bucket=bucket, Key=key,
                          **_sse(kms_key_id))["UploadId"]

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        found = self._call(f"s3://{bucket}/{key}", "upload_part", Bucket=bucket, Key=key, UploadId=upload_id,
                           PartNumber=number, Body=data)
        return str(found["ETag"])

    def complete_upload(self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        layout = {"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]}
        self._call(f"s3://{bucket}/{key}", "complete_multipart_upload", Bucket=bucket, Key=key,
                   UploadId=upload_id, MultipartUpload=layout)

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._call(f"s3://{bucket}/{key}", "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
