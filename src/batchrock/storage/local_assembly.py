"""Composing a local object ahead of time: a file's output parts are copied into one scratch
file as they are committed, in a thread of their own, while the records after them run, so the
compose at the end appends only what is left, syncs and renames.

A hint, never the truth: ``take`` hands a scratch file over only when the parts it holds are the
first of those the compose names, in order, and its size is theirs added up; anything else is
dropped and the compose copies every part. What is copied is synced at once, in that thread, so
the compose's own fsync waits only for the parts appended after it. The copying is queued rather
than done by the writer that committed the part: a part's checkpoint is what the records wait
for, and the copy is no part of it (``take`` waits for the copies queued for its object). The
scratch file sits in the folder of the first part (the job's parts folder): one that a crash
leaves behind goes with the parts.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Assembly:
    path: Path
    sources: list[str] = field(default_factory=list)  # the parts copied in, in order
    size: int = 0


_copier: ThreadPoolExecutor | None = None  # one thread copies for every store: in order, and never two at once
_copier_lock = threading.Lock()


def _queue(work: Callable[[], None]) -> Future[None]:
    global _copier
    with _copier_lock:
        if _copier is None:
            _copier = ThreadPoolExecutor(1, thread_name_prefix="batchrock-precompose")
        return _copier.submit(work)


class Assemblies:
    def __init__(self, append: Callable[[int, Path], None]) -> None:
        self._append = append
        self._by_target: dict[Path, Assembly] = {}
        self._lock = threading.Lock()  # held by a copy while it runs
        self._queued: dict[Path, Future[None]] = {}  # each target's last copy queued
        self._queue_lock = threading.Lock()  # never held while copying: queueing one never waits

    def extend_later(self, target: Path, sources: list[str], paths: list[Path]) -> None:
        """``extend``, queued: the copies run one after another, in the order they were asked for."""
        with self._queue_lock:
            queued = self._queued[target] = _queue(lambda: self.extend(target, sources, paths))
        queued.add_done_callback(lambda done: self._forget(target, done))  # one never composed is not kept

    def _forget(self, target: Path, done: Future[None]) -> None:
        with self._queue_lock:
            if self._queued.get(target) is done:
                del self._queued[target]

    def wait(self) -> None:
        """Until every copy queued so far is done."""
        with self._queue_lock:
            queued = list(self._queued.values())
        wait(queued)

    def extend(self, target: Path, sources: list[str], paths: list[Path]) -> None:
        """Copy the parts ``sources`` (at ``paths``) not yet in ``target``'s scratch file into it;
        any failure drops the scratch file (the compose then copies every part itself)."""
        with self._lock:
            assembly = self._by_target.get(target)
            if assembly is None or assembly.sources != sources[:len(assembly.sources)]:
                self._drop(target)
                assembly = self._by_target[target] = Assembly(paths[0].parent / f".assembly-{uuid.uuid4().hex}.tmp")
            try:
                descriptor = os.open(assembly.path, os.O_WRONLY | os.O_CREAT, 0o666)
                try:
                    for source, path in list(zip(sources, paths, strict=True))[len(assembly.sources):]:
                        self._append(descriptor, path)
                        assembly.sources.append(source)
                        assembly.size = os.fstat(descriptor).st_size
                    os.fsync(descriptor)  # here, off the job's path: the compose's fsync then waits only for the rest
                finally:
                    os.close(descriptor)
            except OSError:
                self._drop(target)

    def take(self, target: Path, sources: list[str], paths: list[Path]) -> Assembly | None:
        """The scratch file for ``target``, if it holds the first of ``sources`` exactly; it is the
        caller's from now on (to complete, or to remove)."""
        with self._queue_lock:
            queued = self._queued.pop(target, None)
        if queued is not None:
            wait([queued])  # the copies before it were queued earlier, so they are done too
        with self._lock:
            assembly = self._by_target.pop(target, None)
        if assembly is None:
            return None
        copied = len(assembly.sources)
        try:
            usable = (assembly.sources == sources[:copied]
                      and assembly.size == os.stat(assembly.path).st_size == sum(os.stat(p).st_size for p in paths[:copied]))
        except OSError:
            usable = False
        if not usable:
            remove_quietly(assembly.path)
            return None
        return assembly

    def _drop(self, target: Path) -> None:
        assembly = self._by_target.pop(target, None)
        if assembly is not None:
            remove_quietly(assembly.path)


def remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
