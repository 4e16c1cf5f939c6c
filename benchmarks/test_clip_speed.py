"""One clip end to end, models loaded: the Keras example's inference path against vclf's.

The Keras example decodes every frame of the file and calls ``predict`` on
each of the first 20; vclf decodes only the sampled frames and runs one
batched extractor call and the head (``Classifier.classify_file``, what
``vclf-run`` does per clip). The example's answer is checked against Keras
batched on the same first frames; vclf's against Keras on its sampled frames.
"""

import numpy as np
import pytest
from checks import CLIP_TOLERANCE, same_probabilities
from keras_example import first_frames_answer, sequence_prediction
from measure import KERAS, Row, measure

from vclf.runtime.classify import Classifier
from vclf.runtime.providers import CPU

ROUNDS = 10


@pytest.mark.benchmark(group="clip")
def test_keras_example_path(benchmark, keras_models, clip):
    def load():
        models = keras_models
        return lambda: sequence_prediction(clip.path, models.extractor, models.head, models.image_size)

    row = Row("Keras example path", KERAS, "fp32", "clips", example=True)
    expected = first_frames_answer(keras_models.extractor, keras_models.head, clip.path, keras_models.image_size)
    measure(benchmark, row, load, same_probabilities(expected, "fp32", CLIP_TOLERANCE), ROUNDS // 2)


def in_label_order(result, labels: list[str]) -> np.ndarray:
    """A ranked result's probabilities back in the bundle's label order."""
    probabilities = {p.label: p.prob for p in result.predictions}
    return np.array([probabilities[label] for label in labels])


@pytest.mark.benchmark(group="clip")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_vclf_classify_file(benchmark, bundles, clip, precision):
    def load():
        classifier = Classifier.from_folder(bundles[precision], "cpu")
        return lambda: in_label_order(classifier.classify_file(clip.path), classifier.bundle.labels)

    row = Row(f"vclf {precision}", CPU, precision, "clips")
    measure(benchmark, row, load, same_probabilities(clip.probabilities, precision, CLIP_TOLERANCE), ROUNDS)
