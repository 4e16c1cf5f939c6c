"""Head: the GRU over one clip's features, Keras against ONNX Runtime.

Rows: Keras ``predict`` (the Keras example), Keras ``predict_on_batch``, the
head as bundles ship it (native ONNX GRU ops) and tf2onnx's conversion of
the same head (a Loop per GRU). Every row's probabilities are checked
against Keras within export's head parity limit.

Asserted (full run only): the bundle's ONNX head at least 1.5x faster than
Keras ``predict_on_batch``.
"""

import numpy as np
import pytest
from checks import same_probabilities
from measure import FASTEST, KERAS, Row, measure

from vclf.runtime.graph_cache import create_session
from vclf.runtime.providers import CPU

ROUNDS = 100
BUNDLE_HEAD = "ONNX Runtime, native GRU (bundle)"


def head_row(variant: str, provider: str, example: bool = False) -> Row:
    return Row(variant, provider, "fp32", "clips", example=example)


@pytest.fixture(scope="session")
def loop_head(keras_models, clip, tmp_path_factory):
    """tf2onnx's conversion of the run's head: what the bundle would ship without the native GRU export."""
    from vclf.export.convert import convert_head

    path = tmp_path_factory.mktemp("loop-head") / "head.onnx"
    convert_head(keras_models.head, *clip.features.shape, path)
    return path


@pytest.mark.benchmark(group="head")
@pytest.mark.parametrize("call", ["predict", "predict_on_batch"])
def test_keras_head(benchmark, keras_models, clip, call):
    def load():
        inputs = [clip.features[None], clip.mask]
        run = getattr(keras_models.head, call)
        return lambda: np.asarray(run(inputs))[0]

    variant = "Keras predict (the example)" if call == "predict" else "Keras predict_on_batch"
    row = head_row(variant, KERAS, example=call == "predict")
    measure(benchmark, row, load, same_probabilities(clip.probabilities, "fp32"), ROUNDS // 4)


@pytest.mark.benchmark(group="head")
@pytest.mark.parametrize("graph", ["bundle", "loop"])
def test_onnx_runtime_head(benchmark, bundles, clip, request, graph):
    def load():
        session = create_session(path, [CPU])
        inputs = {"features": clip.features[None], "mask": clip.mask}
        return lambda: session.run(None, inputs)[0][0]

    path = bundles["fp32"] / "head.onnx" if graph == "bundle" else request.getfixturevalue("loop_head")
    row = head_row(BUNDLE_HEAD if graph == "bundle" else "ONNX Runtime, tf2onnx Loop", CPU)
    measure(benchmark, row, load, same_probabilities(clip.probabilities, "fp32"), ROUNDS)


@pytest.mark.ratio
def test_onnx_head_at_least_1_5x_keras():
    ratio = FASTEST["Keras predict_on_batch"] / FASTEST[BUNDLE_HEAD]
    assert ratio >= 1.5, f"ONNX head only {ratio:.2f}x Keras"
