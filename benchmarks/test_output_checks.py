"""The benchmark's own guard: a variant that answers fast but wrong fails its row before any time is recorded."""

import numpy as np
import pytest
from checks import WrongOutput, same_features
from measure import FASTEST, Row, measure

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.providers import CPU


def off_by(features: np.ndarray, precision: str) -> np.ndarray:
    """fp32: every feature 1% too large; int8: noise of a fifth of each frame's norm (cosine about 0.98)."""
    if precision == "fp32":
        return features * 1.01
    noise = np.random.default_rng(0).normal(size=features.shape)
    noise *= 0.2 * np.linalg.norm(features, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
    return features + noise


@pytest.mark.filterwarnings("ignore:Benchmark fixture was not used")  # nothing to time: the row fails first
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_variant_returning_wrong_features_fails_its_benchmark(benchmark, bundles, clip, precision):
    def load():
        engine = Engine(load_bundle(bundles[precision]), "cpu")
        return lambda: off_by(engine.extract(clip.frames), precision)

    row = Row(f"wrong features, {precision}", CPU, precision, "frames", len(clip.frames))
    with pytest.raises(WrongOutput):
        measure(benchmark, row, load, same_features(clip.features, precision), 3)
    assert row.variant not in FASTEST
    assert not benchmark.extra_info
