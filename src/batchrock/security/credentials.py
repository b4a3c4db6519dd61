"""The credentials file: access keys -> secret and account; each account's allowed roles and the
bucket prefixes each role may read and write; bucket owners. Reloaded when the file changes.

    [[accounts]]
    id = "111122223333"

      [[accounts.keys]]
      access_key_id = "AKIAEXAMPLE1"
      secret_access_key = "..."

      [[accounts.roles]]
      arn = "arn:aws:iam::111122223333:role/batch"
      read = ["s3://inputs/team-a/"]
      write = ["s3://outputs/team-a/"]

    [[buckets]]
    name = "inputs"
    owner = "111122223333"
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CHECK_EVERY_SECONDS = 1.0


class CredentialsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Role:
    arn: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    secret_access_key: str
    account_id: str


@dataclass(frozen=True)
class Directory:
    keys: dict[str, Principal] = field(default_factory=dict)
    roles: dict[str, dict[str, Role]] = field(default_factory=dict)  # account -> role arn -> role
    bucket_owners: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, document: dict[str, Any]) -> Directory:
        keys: dict[str, Principal] = {}
        roles: dict[str, dict[str, Role]] = {}
        for account in document.get("accounts", []):
            account_id = str(account.get("id", ""))
            if not (len(account_id) == 12 and account_id.isdigit()):
                raise CredentialsFileError(f"account id {account_id!r} must be 12 digits")
            for key in account.get("keys", []):
                principal = Principal(str(key["access_key_id"]), str(key["secret_access_key"]), account_id)
                keys[principal.access_key_id] = principal
            roles[account_id] = {str(r["arn"]): Role(str(r["arn"]), tuple(r.get("read", ())), tuple(r.get("write", ())))
                                 for r in account.get("roles", [])}
        owners = {str(b["name"]): str(b["owner"]) for b in document.get("buckets", [])}
        return cls(keys, roles, owners)


class CredentialsFile:
    """The parsed file, re-read when its modification time changes (checked at most once a second)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._next_check = 0.0
        self._directory = self._load()

    def _load(self) -> Directory:
        try:
            stamp = os.stat(self.path).st_mtime_ns
            with open(self.path, "rb") as handle:
                directory = Directory.parse(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
            raise CredentialsFileError(f"cannot read the credentials file {self.path}: {error}") from None
        self._stamp = stamp
        return directory

    def current(self) -> Directory:
        now = time.monotonic()
        with self._lock:
            if now >= self._next_check:
                self._next_check = now + _CHECK_EVERY_SECONDS
                try:
                    if os.stat(self.path).st_mtime_ns != self._stamp:
                        self._directory = self._load()
                except (OSError, CredentialsFileError):
                    pass  # keep serving with the last good version
            return self._directory
