"""``--engine ray``: the same cache entries and the same folder results as the local engine, and no clip lost or doubled when a worker dies.

One local Ray runtime (2 CPUs) serves the whole module: the commands join it
with ``--address``, the in-process tests use it directly.
"""

import json
import logging
import os
import shutil
import signal
import socket
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import ray
from support.commands import BackgroundCommand, assert_one_line_error, run_command
from support.decoders import decode_or_abort
from support.processes import descendants, listening_addresses, running

from vclf.runtime.bundle import load_bundle
from vclf.runtime.classify import Classifier
from vclf.runtime.cluster.pipeline import BundleWorker, ClusterPipeline
from vclf.runtime.cluster.ray_engine import ClusterMap, ray_runtime
from vclf.runtime.errors import VclfError

pytestmark = pytest.mark.xdist_group("ray")  # one worker, one Ray runtime


@pytest.fixture(scope="module")
def ray_address() -> str:
    """A local Ray runtime with 2 CPUs for the module; its address, for commands to join."""
    tests = str(Path(__file__).parent)  # the workers import support.decoders' crashing decoder
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": tests}},
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(dataset, tmp_path_factory) -> Path:
    """Four test clips of four classes and a file that is not a video, between them."""
    out = tmp_path_factory.mktemp("folder")
    for name in ("blink_000", "grow_001", "shrink_002", "spin_003"):
        shutil.copy(dataset / "test" / f"{name}.avi", out / f"{name}.avi")
    (out / "c_broken.avi").write_text("not a video")
    return out


def json_lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_same_results(got: list[dict], expected: list[dict]) -> None:
    """Same clips in the same order, same labels in the same order, probabilities within 1e-6."""
    assert [r["source"] for r in got] == [r["source"] for r in expected]
    for mine, theirs in zip(got, expected):
        assert [p["label"] for p in mine["predictions"]] == [p["label"] for p in theirs["predictions"]]
        np.testing.assert_allclose([p["prob"] for p in mine["predictions"]], [p["prob"] for p in theirs["predictions"]], atol=1e-6)
        assert {k: v for k, v in mine.items() if k != "predictions"} == {k: v for k, v in theirs.items() if k != "predictions"}


def test_ray_folder_run_prints_the_local_engines_lines_in_input_order_and_reports_a_bad_file_as_locally(bundle, folder, ray_address):
    local = run_command("vclf-run", folder, "--model", bundle, "--json", "--device", "cpu", check=False)
    on_ray = run_command(
        "vclf-run", folder, "--model", bundle, "--json", "--device", "cpu", "--engine", "ray", "--address", ray_address, check=False
    )
    assert local.returncode == on_ray.returncode == 3
    assert len(json_lines(on_ray)) == 4
    assert_same_results(json_lines(on_ray), json_lines(local))
    *errors, summary = on_ray.stderr.strip().splitlines()
    assert errors == local.stderr.strip().splitlines()[:-1] and len(errors) == 1 and "c_broken.avi" in errors[0]
    assert summary.startswith("vclf-run: 4 clips ok, 1 failed,"), "nothing but our own lines on stderr"


def test_a_listing_classified_into_parquet_holds_the_json_lines_and_the_failure_in_listing_order(bundle, folder, ray_address, tmp_path):
    import pyarrow.parquet as pq

    names = ["spin_003.avi", "c_broken.avi", "blink_000.avi"]
    listing = folder / "some.txt"
    listing.write_text("# chosen clips\n" + "\n".join(names) + "\n")
    table = tmp_path / "results.parquet"
    on_ray = run_command("vclf-run", listing, "--model", bundle, "--engine", "ray", "--address", ray_address, "--out", table, check=False)
    local = run_command("vclf-run", listing, "--model", bundle, "--json", check=False)
    assert on_ray.returncode == local.returncode == 3 and on_ray.stdout == ""
    rows = pq.read_table(table).to_pylist()
    assert [row["source"] for row in rows] == [str(folder / name) for name in names]
    assert rows[1]["predictions"] is None and "not a video" in rows[1]["error"]
    classified = [{k: v for k, v in row.items() if k != "error"} for row in rows if row["error"] is None]
    assert_same_results(classified, json_lines(local))


def test_a_worker_killed_mid_run_is_restarted_and_no_clip_is_lost_or_doubled_or_announced_on_stdout(bundle, dataset, ray_address, capfd):
    files = sorted((dataset / "test").glob("*.avi"))[:7]
    classifier = Classifier.from_folder(bundle, "cpu")
    expected = [classifier.classify_file(path) for path in files]
    with ray_runtime(ray_address), ClusterPipeline(load_bundle(bundle), files, "cpu", workers=1) as pipeline:
        actor = pipeline.map.actors[0]
        killed = ray.get(actor.pid.remote())  # asked before any clip: a call would wait behind the clips
        outcomes = pipeline.outcomes()
        first = next(outcomes)
        os.kill(killed, signal.SIGKILL)  # the next clips are queued on it, one of them running
        outcomes = [first, *outcomes]
        restarted = ray.get(actor.pid.remote())
    assert restarted != killed, "Ray restarted the worker"
    time.sleep(1)  # Ray's driver prints the loss within a poll of its event thread, unless quieted
    printed = capfd.readouterr()
    assert printed.out == "" and "died" not in printed.err, "Ray's events stay off the JSON lines"
    assert [o.path for o in outcomes] == files, "every clip once, in input order"
    for outcome, alone in zip(outcomes, expected):
        assert outcome.error is None
        np.testing.assert_allclose([p.prob for p in outcome.result.predictions], [p.prob for p in alone.predictions], atol=1e-6)
        assert [p.label for p in outcome.result.predictions] == [p.label for p in alone.predictions]


def test_a_file_that_kills_its_decoding_task_fails_alone_and_the_clips_sharing_its_call_are_classified(
    bundle, folder, ray_address, tmp_path
):
    crash = tmp_path / "crash.avi"
    shutil.copy(folder / "blink_000.avi", crash)
    files = [folder / "blink_000.avi", crash, folder / "grow_001.avi"]
    loaded = load_bundle(bundle)
    work = ClusterMap(files, loaded.sampling, BundleWorker, (str(bundle), "cpu"), workers=1, per_call=3, decode=decode_or_abort)
    try:
        answers = list(work.results())
    finally:
        work.close()
    assert [position for position, _ in answers] == [0, 1, 2]
    error = answers[1][1]
    assert isinstance(error, VclfError) and error.exit_code == 3 and "crash.avi" in str(error) and "decoder crashed" in str(error)
    assert not isinstance(answers[0][1], VclfError) and not isinstance(answers[2][1], VclfError)


def cache_entries(folder: Path) -> dict[str, np.ndarray]:
    entries = {}
    for entry in folder.rglob("*.npz"):
        with np.load(entry) as saved:
            entries[entry.name] = saved["features"]
    return entries


def test_fit_on_ray_fills_the_cache_entries_a_local_extraction_writes(tiny_dataset, ray_address, tmp_path):
    from vclf.train.cache import FeatureCache
    from vclf.train.dataset import check_dataset
    from vclf.train.features import extract_features, extractor_identity
    from vclf.train.run import config_sampling, load_run

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    fit = ["fit", tiny_dataset, "--out", run_dir, "--weights", "none", "--image-size", "75", "--epochs", "1", "--cache", cache]
    result = run_command("vclf-train", *fit, "--engine", "ray", "--address", ray_address, "--workers", "2")
    assert "features: 20 clips from cache, 0 extracted" in result.stderr, "Ray filled every entry before training"
    assert (run_dir / "metrics.json").is_file()

    run = load_run(run_dir)
    sampling = config_sampling(run.config)
    extractor = run.extractor()
    local = FeatureCache(tmp_path / "local", {**asdict(sampling), **extractor_identity(extractor)})
    splits = check_dataset(tiny_dataset)
    extract_features(extractor, [*splits["train"].paths, *splits["test"].paths], sampling, cache=local)
    on_ray, expected = cache_entries(cache), cache_entries(tmp_path / "local")
    assert len(expected) == 20 and on_ray.keys() == expected.keys(), "the same keys: clip content and extractor identity"
    scale = max(np.abs(features).max() for features in expected.values())
    for name, features in expected.items():
        assert on_ray[name].shape == features.shape
        np.testing.assert_allclose(on_ray[name], features, rtol=0, atol=min(1e-6, 1e-4 * scale))


def test_an_unreachable_cluster_is_exit_5_in_one_line(bundle, folder):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # nothing listens: bound, never listening
        result = run_command("vclf-run", folder, "--model", bundle, "--engine", "ray", "--address", address, check=False)
    assert_one_line_error(result, 5, address, "no Ray cluster")


def test_a_runtime_vclf_starts_listens_on_loopback_only_and_sigterm_stops_it_cleanly(bundle, folder):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = BackgroundCommand("vclf-run", folder, "--model", bundle, "--engine", "ray", "--json", env=env)
    run.wait_for_lines(1, timeout=180)
    processes = descendants(run.process.pid)
    addresses = listening_addresses([run.process.pid, *processes])
    assert addresses, "Ray's services listen somewhere"
    assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout=60) == 130
    assert run.stderr[-1] == "vclf-run: interrupted (SIGTERM)" and not any("Traceback" in line for line in run.stderr)
    deadline = time.monotonic() + 30
    while [p for p in processes if running(p)] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [p for p in processes if running(p)], "Ray's processes end with the run"
