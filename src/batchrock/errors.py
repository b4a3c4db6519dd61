"""Errors that travel to the client, each carrying its AWS error code.

    ServiceError                      base; never raised directly
    ├── ValidationError               ValidationException
    ├── ResourceNotFound              ResourceNotFoundException
    ├── Conflict                      ConflictException
    ├── AccessDenied                  AccessDeniedException
    ├── ServiceQuotaExceeded          ServiceQuotaExceededException
    ├── TooManyTags                   TooManyTagsException (also carries resourceName)
    ├── Throttling                    ThrottlingException
    ├── InternalServer                InternalServerException
    │   └── WritesUnavailable         the job store takes no writes now (disk full, read-only)
    ├── UnknownOperation              UnknownOperationException (not in the service model)
    ├── RequestTimeout                RequestTimeoutException (a body that arrives too slowly)
    ├── HeadersTooLarge               RequestHeaderSectionTooLargeException (431)
    └── AuthenticationError           403 errors of the signing layer (not in the service model)
        ├── MissingAuthenticationToken
        ├── IncompleteSignature
        ├── InvalidSignature          (security/sigv4.py)
        └── UnrecognizedClient        (security/sigv4.py)

The HTTP status of a modelled error comes from the botocore service model (see
``awsmodel.ServiceModel.status_for``); ``fallback_status`` is used only for codes the model
does not define.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    code: ClassVar[str] = "InternalServerException"
    fallback_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"message": self.message}


class ValidationError(ServiceError):
    code = "ValidationException"
    fallback_status = 400

    @classmethod
    def from_violations(cls, violations: list[str]) -> ValidationError:
        count = len(violations)
        noun = "error" if count == 1 else "errors"
        return cls(f"{count} validation {noun} detected: " + "; ".join(violations))


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
    fallback_status = 404


class Conflict(ServiceError):
    code = "ConflictException"
    fallback_status = 400


class AccessDenied(ServiceError):
    code = "AccessDeniedException"
    fallback_status = 403


class ServiceQuotaExceeded(ServiceError):
    code = "ServiceQuotaExceededException"
    fallback_status = 400


class TooManyTags(ServiceError):
    code = "TooManyTagsException"
    fallback_status = 400

    def __init__(self, message: str, resource_name: str) -> None:
        super().__init__(message)
        self.resource_name = resource_name

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "resourceName": self.resource_name}


class Throttling(ServiceError):
    code = "ThrottlingException"
    fallback_status = 429


class InternalServer(ServiceError):
    code = "InternalServerException"
    fallback_status = 500


class WritesUnavailable(InternalServer):
    """The service's side of the store's ``StoreUnwritable``: not the client's mistake; reads
    still work, changes wait."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The job store cannot accept changes right now ({reason}). Reads still work; "
                         "retry once the data dir has free space and is writable.")


class UnknownOperation(ServiceError):
    code = "UnknownOperationException"
    fallback_status = 404


class RequestTimeout(ServiceError):
    code = "RequestTimeoutException"
    fallback_status = 408


class HeadersTooLarge(ServiceError):
    code = "RequestHeaderSectionTooLargeException"
    fallback_status = 431


class AuthenticationError(ServiceError):
    fallback_status = 403


class MissingAuthenticationToken(AuthenticationError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignature(AuthenticationError):
    code = "IncompleteSignatureException"
