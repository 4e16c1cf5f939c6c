"""The two presets and the validation splits they use."""

import json

import numpy as np
import pandas as pd
import pytest
from support.commands import run_command

from vclf.train.split import clip_group, group_split, tail_split


def test_tail_split_holds_out_the_last_fraction_in_table_order_as_keras_does():
    fit_idx, val_idx = tail_split(10, 0.3)
    assert fit_idx.tolist() == list(range(7)) and val_idx.tolist() == [7, 8, 9]


def test_with_every_clip_its_own_group_the_split_is_stratified_by_class():
    labels = np.repeat([0, 1, 2], [8, 12, 4])
    names = [f"clip_{i:03d}.avi" for i in range(len(labels))]
    fit_idx, val_idx = group_split(labels, names, 0.25, seed=0)
    assert sorted(np.concatenate([fit_idx, val_idx]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[val_idx]).tolist() == [2, 3, 1]
    assert group_split(labels, names, 0.25, seed=0)[1].tolist() == val_idx.tolist()
    assert group_split(labels, names, 0.25, seed=1)[1].tolist() != val_idx.tolist()


def test_seed_preset_trains_the_example_as_written(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    fit = [
        "fit",
        tiny_dataset,
        "--out",
        run_dir,
        "--preset",
        "seed",
        "--weights",
        "none",
        "--image-size",
        "75",
        "--cache",
        tmp_path / "cache",
    ]
    result = run_command("vclf-train", *fit)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["sampler"], config["epochs"], config["validation"], config["image_size"]) == ("first", 10, "tail", 75)
    assert config["validation_fraction"] == 0.3 and not config["standardize"] and config["patience"] is None
    assert not config["live_windows"], "whole clips only, as the example trains"
    assert len(pd.read_csv(run_dir / "history.csv")) == 10, "no early stopping: all 10 epochs run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    accuracy, confusion = metrics["test_accuracy"], np.array(metrics["confusion_matrix"])
    assert confusion.sum() == len(pd.read_csv(tiny_dataset / "test.csv")), "every test clip counted once"
    assert accuracy == pytest.approx(np.trace(confusion) / confusion.sum())
    assert f"Test accuracy: {accuracy * 100:.2f}%" in result.stdout


def ucf101_names(groups_per_class: dict[str, int], clips_per_group: int = 4) -> tuple[np.ndarray, list[str]]:
    labels, names = [], []
    for index, (cls, groups) in enumerate(groups_per_class.items()):
        for group in range(1, groups + 1):
            for clip in range(1, clips_per_group + (group % 3) + 1):  # groups of 5, 6 and 4 clips
                labels.append(index)
                names.append(f"v_{cls}_g{group:02d}_c{clip:02d}.avi")
    return np.array(labels), names


def test_group_split_keeps_each_ucf101_group_on_one_side_and_each_class_on_both():
    labels, names = ucf101_names({"ApplyEyeMakeup": 7, "Basketball": 2, "PlayingCello": 25, "Punch": 1})
    groups = [clip_group(n) for n in names]
    for seed in range(5):
        fit_idx, val_idx = group_split(labels, groups, 0.25, seed)
        assert sorted(np.concatenate([fit_idx, val_idx]).tolist()) == list(range(len(labels)))
        assert not {groups[i] for i in fit_idx} & {groups[i] for i in val_idx}, "no group on both sides"
        assert set(labels[val_idx]) == {0, 1, 2} == set(labels[fit_idx]) - {3}, "classes with 2+ groups on both sides"
        assert 3 not in labels[val_idx], "a class with one group trains only"
        cello = labels[val_idx] == 2
        assert 0.15 <= cello.sum() / (labels == 2).sum() <= 0.35, "about the fraction asked for"
    assert group_split(labels, groups, 0.25, 0)[1].tolist() != group_split(labels, groups, 0.25, 1)[1].tolist()


def test_clip_group_reads_the_ucf101_group_and_takes_other_names_as_their_own_group():
    assert clip_group("v_ApplyEyeMakeup_g08_c01.avi") == clip_group("v_ApplyEyeMakeup_g08_c04.avi") == "ApplyEyeMakeup_g08"
    assert clip_group("v_Punch_g08_c01.avi") != clip_group("v_ApplyEyeMakeup_g08_c01.avi")
    assert clip_group("grow_000.avi") == "grow_000.avi"
