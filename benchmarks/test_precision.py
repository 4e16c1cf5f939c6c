"""int8 against fp32, and the native GRU head against tf2onnx's Loop, side by side in one run.

Targets, as ratios measured here: the int8 extractor at least 1.5x the fp32
frames/s on an AVX2 CPU (1.8x where the CPU has AVX-512 VNNI), with mean
feature cosine at least 0.99 and top-1 agreement at least 95% on every
synthetic test clip; the native GRU head faster than the Loop head.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from timing import best_seconds, record
from vclf.runtime.engine import CPU, create_session
from vclf.runtime.sampling import frame_mask

PRECISION = ("int8 vs fp32, and head graphs (CPU)", "before", "after")
BIN = Path(sys.executable).parent


def vclf(*args) -> None:
    subprocess.run([str(BIN / args[0]), *map(str, args[1:])], check=True, capture_output=True)


def cpu_has_vnni() -> bool:
    try:
        return "avx512_vnni" in Path("/proc/cpuinfo").read_text() or "avx_vnni" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """A synthetic run exported as fp32 and as int8, the int8 guard run on every test clip."""
    root = tmp_path_factory.mktemp("precision")
    vclf("vclf-train", "synth", root / "data", "--seed", "1", "--videos-per-class", "12", "--test-per-class", "10")
    vclf("vclf-train", "fit", root / "data", "--out", root / "run", "--weights", "none")
    vclf("vclf-export", root / "run", "--out", root / "fp32")
    vclf("vclf-export", root / "run", "--out", root / "int8", "--precision", "int8", "--guard-clips", "1000")
    return {"fp32": root / "fp32", "int8": root / "int8", "data": root / "data"}


def test_int8_extractor_frames_per_second_against_fp32(bundles):
    frames = np.random.default_rng(0).integers(0, 256, (20, 224, 224, 3), dtype=np.uint8)
    sessions = {p: create_session(bundles[p] / "extractor.onnx", [CPU]) for p in ("fp32", "int8")}
    seconds = {p: best_seconds(lambda s=s: s.run(None, {"frames": frames})) for p, s in sessions.items()}
    record("extractor, 20 frames", seconds["fp32"], seconds["int8"], PRECISION)
    ratio = seconds["fp32"] / seconds["int8"]
    vnni = cpu_has_vnni()
    print(f"int8/fp32 frames/s {ratio:.2f}x ({'AVX-512 VNNI' if vnni else 'no VNNI'})")
    assert ratio >= (1.8 if vnni else 1.5)


def test_int8_agrees_with_fp32_on_every_synthetic_test_clip(bundles):
    guard = json.loads((bundles["int8"] / "bundle.json").read_text())["guard"]
    print(f"int8 guard: {guard}")
    test_clips = len((bundles["data"] / "test.csv").read_text().splitlines()) - 1
    assert guard["clips"] == test_clips
    assert guard["cosine_mean"] >= 0.99 and guard["top1_agreement"] >= 0.95


def test_native_gru_head_against_the_loop_head(graphs):
    folder = graphs[2]
    loop, gru = (create_session(folder / name, [CPU]) for name in ("head_loop.onnx", "head.onnx"))
    features = np.random.default_rng(1).normal(size=(1, 20, 2048)).astype(np.float32)
    mask = frame_mask(14, 20)[None]
    inputs = {"features": features, "mask": mask}
    np.testing.assert_allclose(gru.run(None, inputs)[0], loop.run(None, inputs)[0], atol=1e-5)
    loop_s, gru_s = (best_seconds(lambda s=s: s.run(None, inputs), repeat=200) for s in (loop, gru))
    record("head, one clip: Loop -> GRU", loop_s, gru_s, PRECISION)
    assert gru_s < loop_s
