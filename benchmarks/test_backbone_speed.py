"""MobileNetV3-Small against InceptionV3: the same synthetic set, the same split, side by side in one run.

Both are fitted with random weights (``--weights none``; ImageNet weights
cannot be fetched here), so accuracy measures the pipeline, not ImageNet
features. Targets, within one run:
- ``vclf-run`` on the test folder: MobileNetV3-Small's clips/s (its summary
  line) at least 3x InceptionV3's, rounds interleaved, best of each;
- the grow/shrink pair (the classes only the order of frames tells apart)
  still learnt: at least 90% of those test clips right with MobileNetV3-Small.
The live cost of one new frame (extractor on it, then the head) is printed
as p50 and p95 for each; it is not a target.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support.commands import run_command

from vclf.export.sweep import measure_latency
from vclf.runtime.bundle import load_bundle

BACKBONES = ("inception_v3", "mobilenet_v3_small")
IMAGE_SIZE = 160  # both fits in a few minutes on a small CPU; the ratio grows with the frame size
ROUNDS, LIVE_STEPS = 2, 40
ORDER_PAIR = ("grow", "shrink")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("backbones") / "data"
    run_command("vclf-train", "synth", out, "--seed", "0")
    return out


@pytest.fixture(scope="module")
def bundles(data) -> dict[str, Path]:
    """Each backbone fitted with the default preset and exported fp32."""
    folder = data.parent
    for backbone in BACKBONES:
        run = folder / f"run-{backbone}"
        size = ("--image-size", IMAGE_SIZE)
        run_command("vclf-train", "fit", data, "--out", run, "--weights", "none", "--backbone", backbone, *size)
        run_command("vclf-export", run, "--out", folder / f"bundle-{backbone}")
    return {backbone: folder / f"bundle-{backbone}" for backbone in BACKBONES}


def folder_run(bundle: Path, folder: Path) -> tuple[float, list[dict]]:
    """``vclf-run FOLDER --json`` as a user runs it: clips/s from its summary line, and its records."""
    result = run_command("vclf-run", folder, "--model", bundle, "--json", "--device", "cpu")
    rate = float(re.search(r"([\d.]+) clips/s", result.stderr.strip().splitlines()[-1]).group(1))
    return rate, [json.loads(line) for line in result.stdout.splitlines()]


def pair_accuracy(records: list[dict]) -> float:
    """Top-1 accuracy over the test clips of the grow/shrink pair (the class is the clip name's prefix)."""
    pair = [r for r in records if Path(r["source"]).name.split("_")[0] in ORDER_PAIR]
    return float(np.mean([r["predictions"][0]["label"] == Path(r["source"]).name.split("_")[0] for r in pair]))


@pytest.mark.ratio  # two fits of their own: make bench only
def test_mobilenet_v3_small_runs_a_folder_3x_faster_and_still_learns_order(bundles, data, capsys):
    rates = {backbone: [] for backbone in BACKBONES}
    accuracy = {}
    for _ in range(ROUNDS):  # interleaved: other work on the machine hits both alike
        for backbone in BACKBONES:
            rate, records = folder_run(bundles[backbone], data / "test")
            rates[backbone].append(rate)
            accuracy[backbone] = pair_accuracy(records)
    live = measure_latency([load_bundle(bundles[b]) for b in BACKBONES], LIVE_STEPS)
    ratio = max(rates["mobilenet_v3_small"]) / max(rates["inception_v3"])
    with capsys.disabled():
        print(f"\nvclf-run on {len(records)} synthetic test clips, {IMAGE_SIZE} px, CPU, fp32, random weights")
        print(f"{'backbone':<22}{'clips/s':>9}{'grow/shrink':>13}{'live p50 ms':>13}{'live p95 ms':>13}")
        for backbone in BACKBONES:
            p50, p95 = np.percentile(live[bundles[backbone]]["live"], [50, 95])
            print(f"{backbone:<22}{max(rates[backbone]):>9.2f}{accuracy[backbone]:>13.3f}{p50:>13.2f}{p95:>13.2f}")
        print(f"folder clips/s, mobilenet_v3_small / inception_v3: {ratio:.2f}x (target >= 3)")
    assert ratio >= 3
    assert accuracy["mobilenet_v3_small"] >= 0.9
