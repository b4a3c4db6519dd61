"""Job ids and ARNs: ``arn:aws:bedrock:{region}:{account}:model-invocation-job/{id}``."""

from __future__ import annotations

import re
import secrets
import string

from batchrock.jobs.model import Owner

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 12
_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[^:]+)?):bedrock:(?P<region>[a-z0-9-]{1,20}):(?P<account>[0-9]{12})"
    r":model-invocation-job/(?P<job_id>[a-z0-9]{12})"
)
_BARE_ID = re.compile(r"[a-z0-9]{12}")


def new_job_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def parse_job_reference(reference: str) -> tuple[Owner | None, str] | None:
    """(owner named in the ARN or None for a bare id, job id); None when it names no job."""
    if _BARE_ID.fullmatch(reference):
        return None, reference
    found = _ARN.fullmatch(reference)
    if found is None:
        return None
    return Owner(found["account"], found["region"]), found["job_id"]
