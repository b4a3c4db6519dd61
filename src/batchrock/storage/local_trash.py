"""Deleting local objects without waiting on the filesystem: a deleted object's file is renamed
into the data dir's trash folder (at once gone from its bucket), and a background thread unlinks
it (freeing a large file's blocks takes a filesystem milliseconds; a job's end deletes dozens of
parts). What is left when the process exits is unlinked then; what a crash leaves, when a store
opens again. A file on another filesystem (a bucket folder that is a mount of its own) is
unlinked in place.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import uuid
from pathlib import Path


class Trash:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._waiting: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self._emptier: threading.Thread | None = None
        self._lock = threading.Lock()
        with contextlib.suppress(OSError):
            for path in folder.iterdir():  # left by a process that ended before emptying it
                self._throw(path)
        atexit.register(self._empty_now)

    def discard(self, path: Path) -> bool:
        """Move the file into the trash; False when it cannot be moved there (the caller deletes it)."""
        try:
            self.folder.mkdir(exist_ok=True)
            moved = self.folder / uuid.uuid4().hex
            os.rename(path, moved)
        except OSError:  # already gone (then nothing is left to delete), or another filesystem
            return not os.path.lexists(path)
        self._throw(moved)
        return True

    def _throw(self, path: Path) -> None:
        self._waiting.put(path)
        with self._lock:
            if self._emptier is None:
                self._emptier = threading.Thread(target=self._empty, name="batchrock-trash", daemon=True)
                self._emptier.start()

    def _empty(self) -> None:
        while True:
            try:
                path = self._waiting.get(timeout=2.0)
            except queue.Empty:
                with self._lock:  # nothing came: stop, unless something did just now
                    if self._waiting.empty():
                        self._emptier = None
                        return
                continue
            with contextlib.suppress(OSError):
                path.unlink()

    def _empty_now(self) -> None:
        while not self._waiting.empty():
            with contextlib.suppress(OSError, queue.Empty):
                self._waiting.get_nowait().unlink()
