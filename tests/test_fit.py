"""The two presets and the validation splits they use."""

import json

import numpy as np
import pandas as pd

from helpers import run_command
from vclf.train.fit import stratified_split, tail_split


def test_tail_split_holds_out_the_last_fraction_in_table_order_as_keras_does():
    fit_idx, val_idx = tail_split(10, 0.3)
    assert fit_idx.tolist() == list(range(7)) and val_idx.tolist() == [7, 8, 9]


def test_stratified_split_holds_out_the_same_share_of_every_class():
    labels = np.repeat([0, 1, 2], [8, 12, 4])
    fit_idx, val_idx = stratified_split(labels, 0.25, seed=0)
    assert sorted(np.concatenate([fit_idx, val_idx]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[val_idx]).tolist() == [2, 3, 1]
    assert stratified_split(labels, 0.25, seed=0)[1].tolist() == val_idx.tolist()
    assert stratified_split(labels, 0.25, seed=1)[1].tolist() != val_idx.tolist()


def test_seed_preset_trains_the_example_as_written(tmp_path):
    data, run_dir = tmp_path / "data", tmp_path / "run"
    run_command("vclf-train", "synth", data, "--videos-per-class", "4")
    result = run_command("vclf-train", "fit", data, "--out", run_dir, "--preset", "seed", "--weights", "none")
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["sampler"], config["epochs"], config["validation"]) == ("first", 10, "tail")
    assert config["validation_fraction"] == 0.3 and not config["standardize"] and config["patience"] is None
    assert len(pd.read_csv(run_dir / "history.csv")) == 10, "no early stopping: all 10 epochs run"
    accuracy = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert 0.0 <= accuracy <= 1.0
    assert f"Test accuracy: {accuracy * 100:.2f}%" in result.stdout
