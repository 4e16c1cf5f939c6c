"""The evaluation report of a run, and of a bundle through the runtime on the same clips."""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from support.commands import run_command

from vclf.train import run as rd


@pytest.fixture(scope="module")
def run_metrics(trained_run) -> dict:
    return json.loads((trained_run / rd.METRICS).read_text())


def split_part(dataset, part: pd.DataFrame, tmp_path) -> Path:
    """A data dir whose test split lists the rows of ``part`` only (the clips are the dataset's own)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "test").symlink_to(dataset / "test")
    part.to_csv(data / "test.csv", index=False)
    return data


def test_run_report_has_per_class_figures_the_misclassified_clips_and_a_confusion_plot(trained_run, run_metrics):
    confusion = np.array(run_metrics["confusion_matrix"])
    assert run_metrics["labels"] == json.loads((trained_run / rd.LABELS).read_text())
    for i, label in enumerate(run_metrics["labels"]):
        figures = run_metrics["per_class"][label]
        assert figures["recall"] == pytest.approx(confusion[i, i] / confusion[i].sum())
        assert figures["precision"] == pytest.approx(confusion[i, i] / confusion[:, i].sum())
        p, r = figures["precision"], figures["recall"]
        assert figures["f1"] == pytest.approx(2 * p * r / (p + r)) and figures["support"] == confusion[i].sum()
    wrong = run_metrics["misclassified"]
    assert len(wrong) == run_metrics["clips"] - np.trace(confusion)
    assert run_metrics["test_accuracy"] == run_metrics["accuracy"] == np.trace(confusion) / confusion.sum()
    for clip in wrong:
        top = clip["top3"]
        assert len(top) == 3 and top[0]["label"] != clip["tag"]
        assert [p["prob"] for p in top] == sorted((p["prob"] for p in top), reverse=True)
    assert cv2.imread(str(trained_run / rd.CONFUSION_PLOT)) is not None


def test_export_prints_the_bundle_test_accuracy_beside_the_run_and_fp32_matches_it(export_output, run_metrics):
    line = next(line for line in export_output.splitlines() if line.startswith("Test accuracy:"))
    percent = f"{run_metrics['test_accuracy'] * 100:.2f}%"
    assert line == f"Test accuracy: bundle {percent} (fp32), run {percent} ({run_metrics['clips']} clips)"


def test_evaluate_classifies_the_same_clips_as_the_run_did(dataset, bundle, run_metrics, tmp_path):
    """On a part of the test split holding every clip the run got wrong and a few it got right."""
    table = pd.read_csv(dataset / "test.csv")
    wrong = {m["clip"]: m for m in run_metrics["misclassified"]}
    part = table[table["video_name"].isin(wrong) | table.index.isin(range(0, len(table), 20))]
    data = split_part(dataset, part, tmp_path)

    result = run_command("vclf-train", "evaluate", data, "--model", bundle, "--out", tmp_path / "report", "--device", "cpu")
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert report["clips"] == len(part) > len(wrong)
    assert {m["clip"]: m["tag"] for m in report["misclassified"]} == {
        name: m["tag"] for name, m in wrong.items() if name in set(part["video_name"])
    }
    assert report["accuracy"] == (len(part) - len(report["misclassified"])) / len(part)
    for clip in report["misclassified"]:
        assert [p["label"] for p in clip["top3"]] == [p["label"] for p in wrong[clip["clip"]]["top3"]]
    assert (report["precision"], report["provider"]) == ("fp32", "CPUExecutionProvider")
    assert report["per_class"].keys() == run_metrics["per_class"].keys()
    assert cv2.imread(str(tmp_path / "report" / "confusion_matrix.png")) is not None
    assert result.stdout.splitlines()[0].split() == ["class", "precision", "recall", "f1", "clips"]
    assert f"Accuracy on test: {report['accuracy'] * 100:.2f}% over {len(part)} clips" in result.stdout


def test_evaluate_reports_the_int8_bundle_on_the_run_test_clips(dataset, int8_bundle, run_metrics, tmp_path):
    table = pd.read_csv(dataset / "test.csv")
    part = table.iloc[::10]
    data = split_part(dataset, part, tmp_path)
    run_command("vclf-train", "evaluate", data, "--model", int8_bundle, "--out", tmp_path / "report", "--device", "cpu")
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert (report["precision"], report["clips"]) == ("int8", len(part))
    assert report["accuracy"] == (len(part) - len(report["misclassified"])) / len(part)
    # What the run (and so the fp32 bundle, as above) got right on these clips; the int8 bundle passed
    # its guard (top-1 agreement >= 0.8 with fp32), so it may lose a few of them, no more.
    run_wrong = {m["clip"] for m in run_metrics["misclassified"]} & set(part["video_name"])
    assert report["accuracy"] >= (len(part) - len(run_wrong)) / len(part) - 0.2
