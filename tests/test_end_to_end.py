"""The product path on the synthetic set: synth → fit → export → vclf-run."""

import json
import os

import cv2
import numpy as np
import pandas as pd
import pytest
from support.commands import run_command
from support.fixtures import SESSION_IMAGE_SIZE

from vclf.train import run as rd
from vclf.train.fit import train_head

PAIR = ("grow", "shrink")


def pair_accuracy(tags: list[str], probabilities: np.ndarray, labels: list[str]) -> float:
    """On grow and shrink clips only: how often the true one of the two is more probable."""
    grow, shrink = labels.index("grow"), labels.index("shrink")
    decisions = [("grow" if p[grow] > p[shrink] else "shrink") == tag for tag, p in zip(tags, probabilities) if tag in PAIR]
    return float(np.mean(decisions))


SERVED = pytest.mark.xdist_group("served")  # the tests that share ``served`` run on one worker: it is made once


@pytest.fixture(scope="module")
def served(bundle, dataset) -> tuple[list[str], np.ndarray, list[str]]:
    """Tags and probabilities for every test clip, as ``vclf-run --json`` serves them."""
    labels = json.loads((bundle / "bundle.json").read_text())["labels"]
    out = run_command("vclf-run", dataset / "test", "--model", bundle, "--json").stdout
    results = [json.loads(line) for line in out.splitlines()]
    tags = [r["source"].rsplit("/", 1)[-1].split("_")[0] for r in results]
    probabilities = np.array([[{p["label"]: p["prob"] for p in r["predictions"]}[label] for label in labels] for r in results])
    return tags, probabilities, labels


@SERVED
def test_default_preset_tells_grow_from_shrink(served):
    tags, probabilities, labels = served
    assert tags.count("grow") == tags.count("shrink") == 30
    assert pair_accuracy(tags, probabilities, labels) >= 0.9


@SERVED
def test_served_predictions_agree_with_the_run_metrics(served, trained_run):
    tags, probabilities, labels = served
    served_accuracy = np.mean([labels[p.argmax()] == t for t, p in zip(tags, probabilities)])
    metrics = json.loads((trained_run / rd.METRICS).read_text())
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.sum() == metrics["clips"] == len(tags), "every test clip counted once"
    assert metrics["test_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert served_accuracy == pytest.approx(metrics["test_accuracy"], abs=1 / len(tags))


def shuffle_within_clips(features: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shuffled = features.copy()
    for clip, valid in zip(shuffled, mask.sum(axis=1)):
        clip[:valid] = clip[rng.permutation(valid)]
    return shuffled


def test_with_frame_order_shuffled_the_pair_falls_to_chance(trained_run, dataset, tmp_path):
    """Same features, same model and training, only the order inside each clip lost."""
    config = json.loads((trained_run / rd.CONFIG).read_text())
    labels = json.loads((trained_run / rd.LABELS).read_text())
    with np.load(trained_run / rd.FEATURES) as cached:
        x_train, m_train, x_test, m_test = (cached[k] for k in ("x_train", "m_train", "x_test", "m_test"))
    train_table = pd.read_csv(dataset / "train.csv")
    train_tags = train_table["tag"].tolist()
    test_tags = pd.read_csv(dataset / "test.csv")["tag"].tolist()
    rng = np.random.default_rng(0)
    y_train = np.array([labels.index(t) for t in train_tags])
    shuffled = shuffle_within_clips(x_train, m_train, rng)
    model = train_head(tmp_path, config, shuffled, m_train, y_train, len(labels), train_table["video_name"].tolist())
    probabilities = model.predict([shuffle_within_clips(x_test, m_test, rng), m_test], verbose=0)

    assert pair_accuracy(test_tags, probabilities, labels) <= 0.7
    # The model still learns what order does not decide, so the drop is the pair's alone.
    others = [i for i, t in enumerate(test_tags) if t not in PAIR]
    assert np.mean([labels[probabilities[i].argmax()] == test_tags[i] for i in others]) >= 0.8


def test_run_dir_holds_the_design_files(trained_run):
    for name in (rd.CONFIG, rd.LABELS, rd.BEST_WEIGHTS, rd.HISTORY, rd.METRICS, rd.PLOT):
        assert (trained_run / name).is_file(), name
    config = json.loads((trained_run / rd.CONFIG).read_text())
    assert config["preset"] == "default" and config["sampler"] == "uniform" and config["standardize"]
    assert json.loads((trained_run / rd.LABELS).read_text()) == ["blink", "grow", "shrink", "spin"]
    assert cv2.imread(str(trained_run / rd.PLOT)) is not None


def test_vclf_run_prints_every_class_ranked_by_probability(bundle, dataset):
    out = run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", bundle).stdout.splitlines()
    assert out[0].endswith("grow_000.avi")
    rows = [line.split() for line in out[1:]]
    assert sorted(label for label, _ in rows) == ["blink", "grow", "shrink", "spin"]
    percents = [float(p.rstrip("%")) for _, p in rows]
    assert percents == sorted(percents, reverse=True)
    assert sum(percents) == pytest.approx(100, abs=0.05)


def test_vclf_run_json_and_top_k(bundle, dataset):
    out = run_command("vclf-run", dataset / "test" / "spin_001.avi", "--model", bundle, "--json", "--top-k", "2").stdout
    record = json.loads(out)
    assert record["source"].endswith("spin_001.avi")
    assert len(record["predictions"]) == 2
    probs = [p["prob"] for p in record["predictions"]]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)


def test_vclf_run_takes_the_bundle_from_vclf_model(bundle, dataset):
    env = {**os.environ, "VCLF_MODEL": str(bundle)}
    result = run_command("vclf-run", dataset / "test" / "blink_000.avi", "--json", env=env)
    assert len(json.loads(result.stdout)["predictions"]) == 4


def test_vclf_run_gif_saves_the_sampled_frames(bundle, dataset, tmp_path):
    gif = tmp_path / "frames.gif"
    clip = dataset / "test" / "shrink_002.avi"
    frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    run_command("vclf-run", clip, "--model", bundle, "--gif", gif)
    ok, animation = cv2.imreadanimation(str(gif))
    assert ok and len(animation.frames) == min(frames, 20)
    assert animation.frames[0].shape[:2] == (SESSION_IMAGE_SIZE,) * 2
