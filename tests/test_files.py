"""Writes that survive a power cut (fsync of the file, then of its folder) and a bundle replaced without a gap."""

import os
import threading
from pathlib import Path

import pytest

from vclf.runtime import files
from vclf.runtime.files import atomic_write, exchange, publish_folder


@pytest.fixture
def synced(monkeypatch) -> list[str]:
    """What ``os.fsync`` flushed, in order, as paths; ``os.replace`` calls appear as ``replace DST``."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(f"replace {dst}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_atomic_write_flushes_the_file_before_the_rename_and_the_folder_after(tmp_path, synced):
    target = tmp_path / "metrics.json"
    atomic_write(target, lambda tmp: tmp.write_text("{}"))
    assert target.read_text() == "{}"
    assert len(synced) == 3
    assert Path(synced[0]).name.startswith(".tmp-") and Path(synced[0]).parent == tmp_path
    assert synced[1:] == [f"replace {target}", str(tmp_path)]


def test_atomic_write_that_fails_leaves_neither_file_nor_temporary(tmp_path):
    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "table.parquet", half_then_fail)
    assert list(tmp_path.iterdir()) == []


def make_bundle(folder: Path, version: str) -> Path:
    folder.mkdir()
    for name in ("bundle.json", "extractor.onnx", "head.onnx"):
        (folder / name).write_text(version)
    return folder


def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    a, b = make_bundle(tmp_path / "a", "A"), make_bundle(tmp_path / "b", "B")
    if not exchange(a, b):
        pytest.skip("renameat2 RENAME_EXCHANGE is not available here")
    assert (a / "head.onnx").read_text() == "B" and (b / "head.onnx").read_text() == "A"


def test_replacing_a_bundle_never_leaves_its_path_missing(tmp_path):
    target = make_bundle(tmp_path / "bundle", "0")
    missing, stop = [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if not (target / "bundle.json").exists():
                missing.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for version in range(1, 40):
        publish_folder(make_bundle(tmp_path / f".bundle-{version}", str(version)), target)
    stop.set()
    watcher.join()
    assert (target / "bundle.json").read_text() == "39"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"], "the old bundles are removed"
    assert missing == [], f"the bundle path was missing {len(missing)} times"


def test_without_the_exchange_the_documented_fallback_still_replaces(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "exchange", lambda a, b: False)
    target = make_bundle(tmp_path / "bundle", "old")
    publish_folder(make_bundle(tmp_path / ".new", "new"), target)
    assert (target / "head.onnx").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
