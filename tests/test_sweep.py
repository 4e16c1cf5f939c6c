"""``vclf-train sweep``: every backbone x length fitted on one split, exported fp32 and int8, measured into one table.

Kept small: MobileNetV3-Small (the cheapest backbone) at 32 px, two sequence
lengths, two epochs per fit, on the tiny set. The int8 guard may refuse an
extractor of such an untrained model; a refusal is listed, not fatal. The
sweep runs once for every pytest-xdist worker (``built``).
"""

import csv
import json
from dataclasses import fields
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from support.fixtures import built

from vclf.export.sweep import SweepRow, save_scatter
from vclf.export.train_commands import main as train_main

BACKBONE, LENGTHS, SIZE = "mobilenet_v3_small", (2, 3), 32
# One worker: the sweep is built once for the module's tests; split over two, the second waited on the
# first's build (65 s of a 13-minute make test) instead of running other tests.
pytestmark = pytest.mark.xdist_group("sweep")
PRINTED = "printed.txt"


def sweep_args(data, out) -> list[str]:
    lengths = ",".join(map(str, LENGTHS))
    return ["sweep", str(data), "--backbones", BACKBONE, "--seq-lens", lengths, "--out", str(out), "--weights", "none"]


@pytest.fixture(scope="session")
def swept(tiny_dataset, tmp_path_factory) -> tuple[Path, str]:
    """The sweep's folder and what it printed (stdout and stderr), built once for every worker."""

    def sweep(out: Path) -> None:
        args = [*sweep_args(tiny_dataset, out), "--image-size", str(SIZE), "--epochs", "2", "--repeats", "2"]
        result = CliRunner().invoke(train_main, args)
        assert result.exit_code == 0, result.output
        (out / PRINTED).write_text(result.output)

    out = built(tmp_path_factory, "sweep", sweep)
    return out, (out / PRINTED).read_text()


def rows(out) -> list[dict]:
    with open(out / "sweep.csv") as table:
        return list(csv.DictReader(table))


def test_sweep_measures_every_length_and_precision_it_exported(swept):
    out, printed = swept
    table = rows(out)
    test_clips = len(pd.read_csv(sweep_data(out) / "test.csv"))
    measured = {(int(r["seq_len"]), r["precision"]) for r in table}
    refused = [line for line in (out / "sweep.md").read_text().splitlines() if line.startswith(f"- {BACKBONE}-T")]
    refused_keys = set()
    for line in refused:  # "- mobilenet_v3_small-T2 int8: int8 extractor against fp32: ..."
        name, precision = line[2:].split(":")[0].rsplit(" ", 1)
        refused_keys.add((int(name.rsplit("-T", 1)[1]), precision))
    assert measured | refused_keys == {(length, precision) for length in LENGTHS for precision in ("fp32", "int8")}
    assert {(length, "fp32") for length in LENGTHS} <= measured, "fp32 is never refused"
    assert all("top-1 agreement" in line and "bundle not written" in line for line in refused)
    for r in table:
        assert r["backbone"] == BACKBONE and int(r["image_size"]) == SIZE and int(r["feature_size"]) == 576
        correct = float(r["test_accuracy"]) * test_clips
        assert correct == pytest.approx(round(correct), abs=1e-3), "a share of the test clips, rounded to 4 places"
        assert float(r["extractor_ms_per_frame"]) > 0 and float(r["extractor_ms_per_clip"]) > 0
        assert 0 < float(r["live_ms_p50"]) <= float(r["live_ms_p95"]) and float(r["bundle_mb"]) > 0
    assert f"| {BACKBONE} | {LENGTHS[0]} | fp32 | {SIZE} | 576 |" in printed, "the Markdown table is printed"


def test_sweep_bundles_carry_backbone_sizes_and_length_for_the_runtime(swept):
    out, _ = swept
    for r in rows(out):
        bundle = out / "bundles" / f"{BACKBONE}-T{r['seq_len']}-{r['precision']}"
        manifest = json.loads((bundle / "bundle.json").read_text())
        assert (manifest["backbone"], manifest["image_size"], manifest["sequence_length"], manifest["feature_size"]) == (
            BACKBONE,
            SIZE,
            int(r["seq_len"]),
            576,
        )
        config = json.loads((out / "runs" / f"{BACKBONE}-T{r['seq_len']}" / "config.json").read_text())
        assert (config["backbone"], config["sequence_length"], config["seed"]) == (BACKBONE, int(r["seq_len"]), 0)


def test_sweep_plots_accuracy_against_latency(swept, tmp_path, monkeypatch):
    """The figure drawn from sweep.csv's rows puts each row at (ms per clip, accuracy), one series per precision,
    and is the very picture the sweep wrote."""
    out, _ = swept
    types = {f.name: f.type if isinstance(f.type, type) else {"int": int, "float": float, "str": str}[f.type] for f in fields(SweepRow)}
    table = [SweepRow(**{k: types[k](v) for k, v in r.items()}) for r in rows(out)]
    matplotlib.use("Agg")
    drawn = []
    monkeypatch.setattr("matplotlib.pyplot.close", drawn.append)  # keep the figure save_scatter closes
    save_scatter(table, tmp_path / "again.png")
    (axis,) = drawn[0].axes
    assert axis.get_xscale() == "log" and "ms per clip" in axis.get_xlabel() and axis.get_ylabel() == "test accuracy"
    series = {c.get_label(): c.get_offsets().tolist() for c in axis.collections}
    for precision in ("fp32", "int8"):
        assert series[precision] == [[r.extractor_ms_per_clip, r.test_accuracy] for r in table if r.precision == precision]
    assert sorted(t.get_text() for t in axis.texts) == sorted(r.label for r in table)
    written, again = cv2.imread(str(out / "sweep.png")), cv2.imread(str(tmp_path / "again.png"))
    assert written is not None and np.array_equal(written, again)


def sweep_data(out: Path) -> Path:
    """The dataset the sweep's runs were fitted on (another worker's copy of the tiny set, maybe)."""
    return Path(json.loads((out / "runs" / f"{BACKBONE}-T{LENGTHS[0]}" / "config.json").read_text())["data_dir"])


def test_a_second_sweep_reuses_finished_runs_bundles_and_refusals(swept):
    out, first = swept
    before = {(r["seq_len"], r["precision"]) for r in rows(out)}
    again = CliRunner().invoke(train_main, [*sweep_args(sweep_data(out), out), "--image-size", str(SIZE), "--repeats", "1"])
    assert again.exit_code == 0, again.output
    assert "Fitting" in first and "Exporting" in first
    assert "Fitting" not in again.stderr and "Exporting" not in again.stderr
    assert {(r["seq_len"], r["precision"]) for r in rows(out)} == before


def test_a_sweep_does_not_reuse_runs_made_with_other_settings(swept, tmp_path):
    out, _ = swept
    args = [*sweep_args(sweep_data(out), out), "--image-size", str(SIZE + 8)]
    result = CliRunner().invoke(train_main, args)
    assert result.exit_code == 2
    assert f"{BACKBONE}-T{LENGTHS[0]}: made with another image_size; choose another --out" in result.stderr


def test_sweep_refuses_an_image_size_a_backbone_cannot_take_before_any_work(tiny_dataset, tmp_path):
    args = ["sweep", str(tiny_dataset), "--backbones", f"{BACKBONE},inception_v3", "--seq-lens", "2"]
    result = CliRunner().invoke(train_main, [*args, "--out", str(tmp_path / "out"), "--weights", "none", "--image-size", "40"])
    assert result.exit_code == 2
    assert "--image-size 40: inception_v3 takes frames of at least 75 px" in result.stderr
    assert not (tmp_path / "out").exists()


def test_sweep_names_an_unknown_backbone(tiny_dataset, tmp_path):
    args = ["sweep", str(tiny_dataset), "--backbones", "vgg16", "--seq-lens", "2", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(train_main, args)
    assert result.exit_code == 2 and "vgg16" in result.stderr
