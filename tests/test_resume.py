"""A fit killed at any point continues with ``--resume`` to what an uninterrupted fit gives."""

import json
import os
import signal
import subprocess

import h5py
import keras
import numpy as np
import pandas as pd
from support.commands import BIN, run_command

from vclf.train.backbones import BACKBONES
from vclf.train.epochs import STATE, fit_epochs
from vclf.train.model import build_sequence_model
from vclf.train.synth import write_dataset

EPOCHS = 8


def fit_args(data, run_dir, cache) -> list[str]:
    settings = [
        "--weights",
        "none",
        "--epochs",
        str(EPOCHS),
        "--image-size",
        str(BACKBONES["inception_v3"].min_image_size),
        "--live-windows",
    ]
    settings += ["--cache", str(cache)]
    return ["fit", str(data), "--out", str(run_dir), *settings]


def weights(path) -> dict[str, np.ndarray]:
    arrays = {}
    with h5py.File(path) as saved:
        saved.visititems(lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_a_fit_killed_hard_resumes_to_the_weights_of_an_uninterrupted_fit(tiny_dataset, tmp_path):
    cache = tmp_path / "cache"
    reference = run_command("vclf-train", *fit_args(tiny_dataset, tmp_path / "reference", cache))
    assert "features: 0 clips from cache, 20 extracted" in reference.stderr
    table = reference.stdout.splitlines()[-7:-1]
    assert table[0].split() == ["class", "precision", "recall", "f1", "clips"] and table[-1].startswith("accuracy")

    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [str(BIN / "vclf-train"), *fit_args(tiny_dataset, run_dir, cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in process.stdout:
        if line.startswith(f"Epoch 3/{EPOCHS}"):
            process.send_signal(signal.SIGKILL)
            break
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL
    assert "features: 20 clips from cache, 0 extracted" in stderr, "a second fit on the same clips extracts nothing"
    assert not (run_dir / "metrics.json").exists()
    done = json.loads((run_dir / "backup" / STATE).read_text())["epoch"]
    assert 3 <= done < EPOCHS

    resumed = run_command("vclf-train", *fit_args(tiny_dataset, run_dir, cache), "--resume")
    assert "Train clips" not in resumed.stderr, "features come from the run itself"
    first_epoch = next(line for line in resumed.stdout.splitlines() if line.startswith("Epoch"))
    assert first_epoch.startswith(f"Epoch {done + 1}/{EPOCHS} ")

    expected, actual = weights(tmp_path / "reference" / "best.weights.h5"), weights(run_dir / "best.weights.h5")
    assert expected.keys() == actual.keys() and len(expected) > 10
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "history.csv"), pd.read_csv(tmp_path / "reference" / "history.csv"))
    metrics, reference_metrics = (json.loads((d / "metrics.json").read_text()) for d in (run_dir, tmp_path / "reference"))
    assert metrics == reference_metrics
    assert not (run_dir / "backup").exists(), "the backup goes once the run is finished"
    assert json.loads((run_dir / "config.json").read_text())["live_windows"], "each epoch's live windows drawn again alike"


def noise_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_sequence_model(4, sequence_length=6, feature_size=8)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_early_stopping_patience_carries_over_a_resume(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6, 8)).astype(np.float32), rng.integers(0, 4, 32)
    mask = np.ones((32, 6), bool)
    data = (([x[:24], mask[:24]], y[:24]), ([x[24:], mask[24:]], y[24:]))
    (tmp_path / "whole").mkdir()
    (tmp_path / "resumed").mkdir()

    whole = fit_epochs(noise_model(), tmp_path / "whole", *data, epochs=80, batch_size=8, patience=3, seed=0)
    assert whole.epoch < 80 and whole.wait == 3, "labels are noise: validation stops improving"
    stopped_during_wait = whole.epoch - 1
    interrupted = fit_epochs(noise_model(), tmp_path / "resumed", *data, epochs=stopped_during_wait, batch_size=8, patience=3, seed=0)
    assert interrupted.wait == 2
    resumed = fit_epochs(noise_model(), tmp_path / "resumed", *data, epochs=80, batch_size=8, patience=3, seed=0)

    assert resumed.epoch == whole.epoch, "one more epoch without improvement, not three"
    assert resumed.history == whole.history
    expected, actual = weights(tmp_path / "whole" / "best.weights.h5"), weights(tmp_path / "resumed" / "best.weights.h5")
    assert all(np.array_equal(actual[name], expected[name]) for name in expected)


def test_resume_of_a_finished_run_is_refused(tmp_path):
    write_dataset(tmp_path / "data", videos_per_class=2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    (run_dir / "metrics.json").write_text("{}")
    result = run_command("vclf-train", "fit", tmp_path / "data", "--out", run_dir, "--resume", check=False)
    assert result.returncode == 2 and "already finished" in result.stderr
