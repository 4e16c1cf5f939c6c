"""Live: the cost of one prediction, one new frame plus the head, against recomputing the whole window.

The streaming rows push the clip's frames in a cycle after a full window,
so the window always holds a rotation of the clip, and each prediction is
checked against Keras on that rotation. The recompute rows run the
extractor on all T frames and the head, as the Keras example would per
prediction.

Asserted (full run only): per new frame at least 5x cheaper than
recomputing the window (fp32). One batched call on T frames costs less than
T calls of one, so the ratio stays under T.
"""

import numpy as np
import pytest
from checks import CLIP_TOLERANCE, same_probabilities
from measure import FASTEST, Row, measure

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.live.loop import StreamingClassifier
from vclf.runtime.providers import CPU

ROUNDS = 40


class CyclingStream:
    """A StreamingClassifier fed the clip's frames over and over; each call adds one frame."""

    def __init__(self, engine: Engine, frames: np.ndarray):
        self.classifier = StreamingClassifier(engine)
        self.frames = frames
        self.pushed = 0
        for _ in frames:  # a full window, as in steady state
            self()

    def __call__(self) -> tuple[np.ndarray, int]:
        probabilities = self.classifier.step(self.frames[self.pushed % len(self.frames)])
        self.pushed += 1
        return probabilities, self.pushed


def matches_keras_on_window(keras_models, clip, precision: str):
    """The window after ``pushed`` frames starts at clip frame ``pushed % T``: Keras's head on that rotation."""

    def check(output) -> None:
        probabilities, pushed = output
        features = np.roll(clip.features, -(pushed % len(clip.features)), axis=0)
        expected = np.asarray(keras_models.head.predict_on_batch([features[None], clip.mask]))[0]
        same_probabilities(expected, precision, CLIP_TOLERANCE)(probabilities)

    return check


@pytest.mark.benchmark(group="live")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_new_frame_and_head(benchmark, bundles, keras_models, clip, precision):
    row = Row(f"live, new frame + head, {precision}", CPU, precision, "predictions")
    load = lambda: CyclingStream(Engine(load_bundle(bundles[precision]), "cpu"), clip.frames)  # noqa: E731
    measure(benchmark, row, load, matches_keras_on_window(keras_models, clip, precision), ROUNDS)


@pytest.mark.benchmark(group="live")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_whole_window_and_head(benchmark, bundles, clip, precision):
    def load():
        engine = Engine(load_bundle(bundles[precision]), "cpu")
        return lambda: engine.classify(engine.extract(clip.frames)[None], clip.mask)[0]

    row = Row(f"live, whole window + head, {precision}", CPU, precision, "predictions")
    check = same_probabilities(clip.probabilities, precision, CLIP_TOLERANCE)
    measure(benchmark, row, load, check, ROUNDS // 4)


@pytest.mark.ratio
def test_new_frame_at_least_5x_cheaper_than_recomputing_the_window():
    ratio = FASTEST["live, whole window + head, fp32"] / FASTEST["live, new frame + head, fp32"]
    assert ratio >= 5, f"a new frame costs 1/{ratio:.1f} of the window, not 1/5"
