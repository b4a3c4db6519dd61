"""The local store composes ahead: parts committed so far are copied into a scratch file in the
parts folder, and ``compose`` appends the rest. It is only a hint: whatever the scratch file
holds, the composed object is exactly the parts ``compose`` names, and no scratch file is left
outside the parts folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchrock.storage.base import ObjectMissing
from batchrock.storage.local import LocalObjectStore

PARTS = "out/job/parts/00000/"


def store_with_parts(root: Path, *parts: tuple[str, bytes]) -> LocalObjectStore:
    store = LocalObjectStore(root)
    for name, data in parts:
        store.put_object("bucket", PARTS + name, data)
    return store


def scratch_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".assembly-*"))


def test_compose_appends_what_the_scratch_file_lacks(tmp_path: Path) -> None:
    store = store_with_parts(tmp_path, ("1-1", b"a\n"), ("1-2", b"bb\n"), ("1-3", b"ccc\n"))
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1"])
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2"])
    store.wait_for_copies()
    assert [path.parent.name for path in scratch_files(tmp_path)] == ["00000"]
    store.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2", PARTS + "1-3"])
    assert (tmp_path / "buckets/bucket/out/job/in.jsonl.out").read_bytes() == b"a\nbb\nccc\n"
    assert scratch_files(tmp_path) == []
    assert (tmp_path / "buckets/bucket" / PARTS / "1-2").read_bytes() == b"bb\n"  # the parts stay, for the check


def test_parts_of_another_owner_are_composed_from_themselves(tmp_path: Path) -> None:
    store = store_with_parts(tmp_path, ("1-1", b"a\n"), ("1-2", b"stale\n"), ("2-2", b"new\n"))
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2"])  # a worker that lost its lease
    store.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "2-2"])
    assert (tmp_path / "buckets/bucket/out/job/in.jsonl.out").read_bytes() == b"a\nnew\n"
    assert scratch_files(tmp_path) == []


def test_a_scratch_file_changed_behind_the_stores_back_is_not_used(tmp_path: Path) -> None:
    store = store_with_parts(tmp_path, ("1-1", b"a\n"), ("1-2", b"bb\n"))
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1"])
    store.wait_for_copies()
    [scratch] = scratch_files(tmp_path)
    with open(scratch, "ab") as handle:
        handle.write(b"junk\n")
    store.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2"])
    assert (tmp_path / "buckets/bucket/out/job/in.jsonl.out").read_bytes() == b"a\nbb\n"
    assert scratch_files(tmp_path) == []


def test_copies_run_in_the_background_and_the_compose_waits_for_them(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``precompose`` returns before its copy is done (the writer that committed a part goes on to
    the next); ``compose`` waits for the copies queued for its object, then uses them."""
    import threading

    from batchrock.storage import local

    release, appended = threading.Event(), []
    real_append = local.append_file

    def held_append(target: int, path: Path) -> None:
        assert release.wait(10)
        appended.append(path.name)
        real_append(target, path)

    store = store_with_parts(tmp_path, ("1-1", b"a\n"), ("1-2", b"bb\n"), ("1-3", b"ccc\n"))
    monkeypatch.setattr(store._assemblies, "_append", held_append)
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1"])
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2"])
    assert appended == []  # both returned with their copies still to come
    threading.Timer(0.2, release.set).start()
    store.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2", PARTS + "1-3"])
    assert appended == ["1-1", "1-2"]  # it waited for the two queued copies (the last part it appends itself)
    assert (tmp_path / "buckets/bucket/out/job/in.jsonl.out").read_bytes() == b"a\nbb\nccc\n"
    assert scratch_files(tmp_path) == []


def test_a_hint_never_fails_and_a_missing_part_still_fails_the_compose(tmp_path: Path) -> None:
    store = store_with_parts(tmp_path, ("1-1", b"a\n"))
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-9"])  # 1-9 was never written
    store.precompose("bucket", "out/job/in.jsonl.out", [])
    with pytest.raises(ObjectMissing):
        store.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-9"])
    assert not (tmp_path / "buckets/bucket/out/job/in.jsonl.out").exists()


def test_a_scratch_file_a_crash_left_stays_in_the_parts_folder(tmp_path: Path) -> None:
    store = store_with_parts(tmp_path, ("1-1", b"a\n"), ("1-2", b"bb\n"))
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1"])
    store.wait_for_copies()
    restarted = LocalObjectStore(tmp_path)  # the process died; a new one composes from the checkpoint
    restarted.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2"])
    assert (tmp_path / "buckets/bucket/out/job/in.jsonl.out").read_bytes() == b"a\nbb\n"
    keys = [info.key for info in restarted.list_objects("bucket", "out/job/")]
    assert [key for key in keys if not key.startswith(PARTS)] == ["out/job/in.jsonl.out"]  # removed with the parts


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["kernel-copy", "by-hand"])
def test_parts_are_appended_at_the_end_by_the_kernel_or_by_hand(tmp_path: Path, kernel_copy: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's copy is used where it works (it refuses a file opened to append, so the copy
    names its offset); where it fails, the bytes are copied by hand, to the same end."""
    import os

    copies: list[int] = []  # the bytes each kernel copy moved
    real_copy = os.copy_file_range

    def copy_file_range(*args: int, **kwargs: int) -> int:
        if not kernel_copy:
            copies.append(0)
            raise OSError(18, "Invalid cross-device link")
        copies.append(real_copy(*args, **kwargs))
        return copies[-1]

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    big = bytes(range(256)) * 9000 + b"\n"  # over a megabyte: copied by hand in more than one chunk
    store = store_with_parts(tmp_path, ("1-1", b"a\n"), ("1-2", big), ("1-3", b"ccc\n"))
    store.precompose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2"])
    store.compose("bucket", "out/job/in.jsonl.out", [PARTS + "1-1", PARTS + "1-2", PARTS + "1-3"])
    store.compose("bucket", "out/job/all.out", [PARTS + "1-3", PARTS + "1-2", PARTS + "1-1"])  # no scratch file
    assert (tmp_path / "buckets/bucket/out/job/in.jsonl.out").read_bytes() == b"a\n" + big + b"ccc\n"
    assert (tmp_path / "buckets/bucket/out/job/all.out").read_bytes() == b"ccc\n" + big + b"a\n"
    assert len(copies) == 6
    assert sum(copies) == (2 * (len(big) + 6) if kernel_copy else 0)  # the kernel's copy took every byte it was given
