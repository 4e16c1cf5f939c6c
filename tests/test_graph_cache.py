"""The optimised-graph cache under $VCLF_CACHE: damaged entries rebuilt, external-data graphs cached whole, written atomically."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from support.commands import BIN, BackgroundCommand, run_command

from vclf.runtime.bundle import BUNDLE_FILE, EXTRACTOR_FILE, HEAD_FILE, load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.files import file_sha256
from vclf.runtime.graph_cache import CACHE_DATA, CACHE_GRAPH, CACHE_HASHES, optimized_graph_path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("VCLF_CACHE", str(folder))
    return folder


def entries(bundle: Path) -> list[Path]:
    sha = load_bundle(bundle).sha256
    return [optimized_graph_path(sha[name]) for name in (EXTRACTOR_FILE, HEAD_FILE)]


def probabilities(engine: Engine, seed: int = 0) -> np.ndarray:
    size = engine.bundle.image_size
    frames = np.random.default_rng(seed).integers(0, 256, (4, size, size, 3), dtype=np.uint8)
    return engine.classify_clip(frames)


def damage_by_truncation(entry: Path) -> None:
    graph = entry / CACHE_GRAPH
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])


def damage_by_emptying(entry: Path) -> None:
    for path in entry.iterdir():
        path.write_bytes(b"")


def damage_by_a_lost_hash_list(entry: Path) -> None:
    (entry / CACHE_HASHES).unlink()


def damage_by_a_file_in_its_place(entry: Path) -> None:
    shutil.rmtree(entry)
    entry.write_bytes(b"not a folder")


@pytest.mark.parametrize("damage", [damage_by_truncation, damage_by_emptying, damage_by_a_lost_hash_list, damage_by_a_file_in_its_place])
def test_a_damaged_cache_entry_is_rebuilt_with_one_line(bundle, cache, damage):
    expected = probabilities(Engine(load_bundle(bundle), "cpu"))
    extractor_entry = entries(bundle)[0]
    recorded = json.loads((extractor_entry / CACHE_HASHES).read_text())
    damage(extractor_entry)
    lines = []
    engine = Engine(load_bundle(bundle), "cpu", notice=lines.append, verbose=True)
    np.testing.assert_allclose(probabilities(engine), expected, atol=1e-6)
    assert len(lines) == 1 and "was damaged" in lines[0] and extractor_entry.name in lines[0]
    assert json.loads((extractor_entry / CACHE_HASHES).read_text()) == recorded, "rebuilt whole, as it was"
    lines.clear()
    Engine(load_bundle(bundle), "cpu", notice=lines.append, verbose=True)
    assert lines == [], "repaired for good"


def test_the_command_repairs_the_cache_quietly_without_verbose(bundle, dataset, cache):
    clip = next((dataset / "test").glob("*.avi"))
    run_command("vclf-run", clip, "--model", bundle, "--device", "cpu")
    damage_by_truncation(entries(bundle)[0])
    result = run_command("vclf-run", clip, "--model", bundle, "--device", "cpu")
    assert result.stderr == ""
    verbose = run_command("vclf-run", clip, "--model", bundle, "--device", "cpu", "--verbose")
    assert "was damaged" not in verbose.stderr, "the first run after the damage repaired it"


def external_data_bundle(bundle: Path, out: Path) -> Path:
    """The session bundle with both graphs' weights in files beside them (ONNX external data)."""
    out.mkdir()
    for name in (EXTRACTOR_FILE, HEAD_FILE):
        model = onnx.load(bundle / name)
        onnx.save_model(model, out / name, save_as_external_data=True, location=f"{name}.weights")
    fields = json.loads((bundle / BUNDLE_FILE).read_text())
    fields["sha256"] = {name: file_sha256(out / name) for name in (EXTRACTOR_FILE, HEAD_FILE)}
    (out / BUNDLE_FILE).write_text(json.dumps(fields))
    return out


def test_a_bundle_with_external_data_runs_every_time_and_its_cache_entry_is_whole(bundle, cache, tmp_path):
    external = external_data_bundle(bundle, tmp_path / "external")
    expected = probabilities(Engine(load_bundle(bundle), "cpu"))
    first = probabilities(Engine(load_bundle(external), "cpu"))
    (external / f"{EXTRACTOR_FILE}.weights").rename(tmp_path / "moved-away")  # the cache must not need it
    second = probabilities(Engine(load_bundle(external), "cpu"))
    np.testing.assert_allclose(first, expected, atol=1e-6)
    np.testing.assert_allclose(second, expected, atol=1e-6)
    entry = entries(external)[0]
    assert sorted(p.name for p in entry.iterdir()) == sorted([CACHE_GRAPH, CACHE_DATA, CACHE_HASHES])


def test_concurrent_runs_build_one_whole_entry_and_leave_no_temporary_files(bundle, dataset, cache):
    clip = next((dataset / "test").glob("*.avi"))
    env = os.environ | {"VCLF_CACHE": str(cache)}
    runs = [
        subprocess.Popen(
            [str(BIN / "vclf-run"), str(clip), "--model", str(bundle), "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]
    assert len({json.dumps(json.loads(out)["predictions"]) for out, _ in outputs}) == 1
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")]
    lines = []
    Engine(load_bundle(bundle), "cpu", notice=lines.append, verbose=True)
    assert lines == [], "the entries the racing runs left are whole"


def test_sigterm_while_the_optimised_graph_is_written_exits_130_and_leaves_no_temporary_entry(bundle, dataset, cache):
    clip = next((dataset / "test").glob("*.avi"))
    run = BackgroundCommand("vclf-run", clip, "--model", bundle, env=os.environ | {"VCLF_CACHE": str(cache)})
    deadline = time.monotonic() + 60
    while not list(cache.rglob(".tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(cache.rglob(".tmp-*")), "the run started writing a cache entry"
    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout=60) == 130
    assert run.stderr == ["vclf-run: interrupted (SIGTERM)"] and run.stdout == []
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")]


def test_a_cache_entry_with_a_file_it_did_not_record_is_rebuilt(bundle, cache):
    Engine(load_bundle(bundle), "cpu")
    entry = entries(bundle)[1]
    (entry / CACHE_HASHES).write_text("{}")
    lines = []
    Engine(load_bundle(bundle), "cpu", notice=lines.append, verbose=True)
    assert len(lines) == 1 and "not the ones it recorded" in lines[0]
    assert CACHE_GRAPH in json.loads((entry / CACHE_HASHES).read_text())


def test_a_cache_folder_that_cannot_be_written_still_runs(bundle, dataset, tmp_path, monkeypatch):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("VCLF_CACHE", str(blocked))
    expected = probabilities(Engine(load_bundle(bundle), "cpu"))
    assert expected.shape == (len(load_bundle(bundle).labels),) and blocked.is_file()
