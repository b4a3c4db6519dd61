"""A deleted local object is gone from its bucket at once; its file is unlinked in the
background, and whatever a crash left in the trash goes when a store opens again."""

from __future__ import annotations

from pathlib import Path

from batchrock.storage.local import LocalObjectStore
from tests.support.waiting import wait_until


def test_a_deleted_object_is_gone_at_once_and_its_file_soon_after(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put_object("bucket", "out/parts/1", b"x" * 100_000)
    store.put_object("bucket", "out/kept", b"y")
    store.delete_object("bucket", "out/parts/1")
    store.delete_object("bucket", "out/parts/never-written")
    assert [info.key for info in store.list_objects("bucket", "")] == ["out/kept"]
    assert not (tmp_path / "buckets/bucket/out/parts").exists()  # its empty folder went with it
    wait_until(lambda: not any((tmp_path / ".trash").iterdir()), timeout=10)


def test_what_a_crash_left_in_the_trash_goes_when_a_store_opens(tmp_path: Path) -> None:
    (tmp_path / ".trash").mkdir()
    (tmp_path / ".trash" / "left-by-a-crash").write_bytes(b"z" * 1000)
    LocalObjectStore(tmp_path)
    wait_until(lambda: not any((tmp_path / ".trash").iterdir()), timeout=10)
