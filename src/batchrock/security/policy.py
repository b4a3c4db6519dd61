"""Authorisation: which roles an account may pass, and which bucket prefixes each role reaches.

With no credentials file (development mode) every role and location is allowed.
"""

from __future__ import annotations

from batchrock.security.credentials import CredentialsFile, Role


class AccessProblem(Exception):
    """A job may not use this role or location; the message is AccessDeniedException-style."""


def _within(uri: str, prefixes: tuple[str, ...]) -> bool:
    target = uri if uri.endswith("/") or uri.endswith(".jsonl") else uri + "/"
    return any(target.startswith(prefix if prefix.endswith("/") else prefix + "/") or target == prefix for prefix in prefixes)


class Policy:
    def __init__(self, credentials: CredentialsFile | None) -> None:
        self.credentials = credentials

    def role(self, account_id: str, role_arn: str) -> Role | None:
        if self.credentials is None:
            return Role(role_arn, ("s3://",), ("s3://",))
        return self.credentials.current().roles.get(account_id, {}).get(role_arn)

    def check_role(self, account_id: str, role_arn: str) -> None:
        if self.role(account_id, role_arn) is None:
            raise AccessProblem(f"The role {role_arn} is not allowed for account {account_id}.")

    def check_locations(self, account_id: str, role_arn: str, input_uri: str, output_uri: str) -> None:
        for uri in (input_uri, output_uri):
            if any(segment in (".", "..") for segment in uri.removeprefix("s3://").split("/")):
                raise AccessProblem(f"Access denied: {uri} has '.' or '..' path segments.")
        role = self.role(account_id, role_arn)
        if role is None:
            raise AccessProblem(f"Access denied: the role {role_arn} is not allowed for account {account_id}.")
        if not _within(input_uri, role.read):
            raise AccessProblem(f"Access denied: the role {role_arn} may not read {input_uri}.")
        if not _within(output_uri, role.write):
            raise AccessProblem(f"Access denied: the role {role_arn} may not write {output_uri}.")

    def check_owner(self, bucket: str, expected_owner: str | None) -> None:
        if expected_owner is None or self.credentials is None:
            return
        owner = self.credentials.current().bucket_owners.get(bucket)
        if owner != expected_owner:
            raise AccessProblem(f"Access denied: the bucket {bucket} is not owned by account {expected_owner}.")
