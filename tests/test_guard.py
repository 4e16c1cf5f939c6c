"""The precision guard measures where the head looks: features standardised as the head reads them."""

import numpy as np
import pytest

from vclf.export.guard import GuardError, guard_precision

LENGTH, FEATURES = 4, 16


class Graph:
    """An extractor or head with ONNX Runtime's ``run`` call, computing ``function`` of its first input."""

    def __init__(self, function):
        self.function = function

    def run(self, _, feeds):
        return [self.function(*feeds.values())]


def offset_features(frames: np.ndarray) -> np.ndarray:
    """Features on a large common offset with a small spread, as random-weight backbones give."""
    return 100.0 + 0.01 * frames.reshape(len(frames), -1)[:, :FEATURES].astype(np.float32) / 255


def test_a_raw_cosine_near_one_that_hides_large_errors_on_the_heads_scale_is_refused():
    rng = np.random.default_rng(0)
    clips = {"test": [rng.integers(0, 256, (LENGTH, 4, 4, 3), np.uint8) for _ in range(3)]}
    reference = Graph(offset_features)
    candidate = Graph(lambda frames: offset_features(frames) + rng.normal(0, 0.005, (len(frames), FEATURES)).astype(np.float32))
    head = Graph(lambda features, mask=None: np.tile([[0.9, 0.1]], (len(features), 1)).astype(np.float32))
    raw = guard_precision("int8", candidate, reference, head, clips, LENGTH, statistics=None)
    assert raw.cosine_mean > 0.9999 and raw.cosine_mean == pytest.approx(raw.raw_cosine_mean)
    statistics = (np.full(FEATURES, 100.005, np.float32), np.full(FEATURES, 0.003, np.float32))
    with pytest.raises(GuardError, match=r"mean 0\.[0-8]\d+ as the head reads them .*raw 1\.00000") as refused:
        guard_precision("int8", candidate, reference, head, clips, LENGTH, statistics)
    assert "top-1 agreement 1.000" in str(refused.value) and "over 3 clips (test 3: 1.000)" in str(refused.value)
