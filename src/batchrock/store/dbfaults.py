"""Telling a store that cannot take writes (full disk, read-only or failing filesystem) from
other database errors, and opening a SQLite store on a read-only data dir.

A store that cannot be written is not a bug and not the client's fault: the API answers reads,
refuses changes with a message that says why, and running jobs halt at their last checkpoint.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.exc import DBAPIError

# SQLite primary result codes of a store that cannot take writes
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14
# PostgreSQL SQLSTATE: insufficient resources (disk full), system error (I/O), read-only transaction
_POSTGRES_UNWRITABLE = ("53", "58", "25006")


def unwritable_reason(error: DBAPIError) -> str | None:
    """Why the store cannot be written, or None when ``error`` is some other database error."""
    original = error.orig
    code = getattr(original, "sqlite_errorcode", None)
    if code is not None:
        primary = code & 0xFF
        return str(original) if primary in (_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN) else None
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if state and state.startswith(_POSTGRES_UNWRITABLE):
        return str(original).strip()
    return None


def read_only_sqlite_url(path: Path) -> str:
    """A read-only URL for a SQLite store in a directory that cannot be written.

    ``mode=ro`` reads a write-ahead log left behind by a crash (its shared-memory file exists);
    after a clean shutdown there is no log and SQLite cannot create one, so the file is opened as
    immutable, which then misses nothing.
    """
    probe_url = f"file:{path}?mode=ro"
    try:
        connection = sqlite3.connect(probe_url, uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
        return f"sqlite:///{probe_url}&uri=true"
    except sqlite3.OperationalError:
        return f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true"
