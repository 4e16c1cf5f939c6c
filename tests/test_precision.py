"""Reduced-precision bundles: int8 extractors for CPUs, guarded against fp32 on the run's test clips."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import numpy_helper
from support.commands import run_command

from vclf.export import bundle as export_bundle
from vclf.export.cli import main as export_main
from vclf.runtime.bundle import EXTRACTOR_FILE, HEAD_FILE


def manifest(folder) -> dict:
    return json.loads((folder / "bundle.json").read_text())


def test_int8_export_quantizes_the_extractor_per_channel_and_keeps_the_fp32_head(int8_bundle, bundle):
    graph = onnx.load(str(int8_bundle / EXTRACTOR_FILE)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    weights = [numpy_helper.to_array(t) for t in graph.initializer]
    int8_weights = [w for w in weights if w.dtype == np.int8 and w.ndim == 4]
    assert len(int8_weights) >= 90, "every convolution of InceptionV3 has int8 weights"
    per_channel_scales = [w for w in weights if w.dtype == np.float32 and w.ndim == 1 and len(w) >= 32]
    assert per_channel_scales, "weights are scaled per output channel"
    assert manifest(int8_bundle)["sha256"][HEAD_FILE] == manifest(bundle)["sha256"][HEAD_FILE]


def test_int8_bundle_json_keeps_the_precision_and_guard_figures(int8_bundle, bundle):
    fields = manifest(int8_bundle)
    guard = fields["guard"]
    assert fields["precision"] == "int8" and fields["format_version"] == 2 and fields["backbone"] == "inception_v3"
    assert guard["precision"] == "int8" and guard["frames"] > 20
    # 12 test clips, 12 training clips calibration did not see, the test clips again spoiled 3 ways (4 each).
    assert guard["clips_by_kind"] == {"test": 12, "held-out training": 12, "brightness": 4, "blur": 4, "jpeg": 4}
    assert guard["clips"] == 36 and set(guard["agreement_by_kind"]) == set(guard["clips_by_kind"])
    assert 0 < guard["cosine_mean"] <= 1 and 0.999 < guard["raw_cosine_mean"] <= 1
    assert guard["cosine_mean"] >= guard["min_cosine"] == 0.8
    assert 0 < guard["cosine_min"] <= guard["cosine_mean"] < 1
    assert guard["top1_agreement"] >= guard["min_agreement"] == 0.8  # as the int8_bundle fixture asks
    assert manifest(bundle)["guard"] is None and manifest(bundle)["precision"] == "fp32"


def test_vclf_run_serves_the_int8_bundle(int8_bundle, dataset):
    """One clip per class; the session run classifies nearly every synthetic test clip right in fp32."""
    lines = run_command("vclf-run", str(dataset / "test" / "*_000.avi"), "--model", int8_bundle, "--json").stdout
    records = [json.loads(line) for line in lines.splitlines()]
    assert len(records) == 4 and all(r["provider"] == "CPUExecutionProvider" for r in records)
    right = [r["predictions"][0]["label"] == Path(r["source"]).name.split("_")[0] for r in records]
    assert sum(right) >= 3, records


def test_export_refuses_a_precision_below_the_guard_limits_and_writes_nothing(trained_run, bundle, tmp_path, monkeypatch):
    # Kept short: the session bundle already holds the run's fp32 extractor, and parity looks at one clip.
    monkeypatch.setattr(export_bundle, "convert_extractor", lambda _, __, path, ___: shutil.copy(bundle / EXTRACTOR_FILE, path))
    parity_frames = export_bundle.parity_frames
    monkeypatch.setattr(export_bundle, "parity_frames", lambda run: parity_frames(run, clips=1))
    out = tmp_path / "bundle"
    args = [str(trained_run), "--out", str(out), "--precision", "fp16", "--guard-clips", "1", "--min-cosine", "1.0"]
    result = CliRunner().invoke(export_main, args)
    assert result.exit_code == 4, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert "fp16 extractor against fp32: feature cosine mean" in last and "as the head reads them (limit 1.0)" in last
    assert "over 3 clips (test 1: " in last and "held-out training 1: " in last and "bundle not written" in last
    assert not out.exists()
    assert not list(tmp_path.iterdir()), "no scratch files are left behind"
