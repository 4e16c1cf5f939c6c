"""Start-up: ``vclf-run`` on one clip, from process start to its printed prediction.

Each round is a fresh process (Python, ONNX Runtime, the bundle's graphs,
one clip); the optimised graphs are already in the cache, as on any start
after the first. Peak memory is that process's own. The printed
probabilities are checked against Keras on the same sampled frames.
"""

import json

import pytest

from checks import each_clip_matches
from measure import Command, Row, measure, printed_results
from vclf.runtime.providers import CPU

ROUNDS = 5


@pytest.mark.benchmark(group="start-up")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_vclf_run_one_clip(benchmark, bundles, clip, precision):
    labels = json.loads((bundles[precision] / "bundle.json").read_text())["labels"]
    command = Command(
        "vclf-run", clip.path, "--model", bundles[precision], "--json", "--device", "cpu", parse=printed_results(labels)
    )
    row = Row(f"vclf-run {precision}, process", CPU, precision, "clips")
    check = each_clip_matches({str(clip.path): clip.probabilities}, precision)
    measure(benchmark, row, lambda: command, check, ROUNDS)
