"""One clip through both stages, Keras against ONNX Runtime on the CPU.

Targets, as ratios of Keras time to ONNX Runtime time in the same run: the
head at least 1.5x faster; the convolutional extractor, where both runtimes
are bound by the same arithmetic on a small CPU, no more than 10% slower.
"""

import numpy as np

from timing import best_seconds, record
from vclf.runtime.engine import create_session
from vclf.runtime.sampling import frame_mask


def test_onnx_extractor_keeps_pace_with_keras(graphs):
    extractor, _, folder, frames = graphs
    session = create_session(folder / "extractor.onnx", ["CPUExecutionProvider"])
    as_float = frames.astype(np.float32)
    keras_s = best_seconds(lambda: extractor.predict_on_batch(as_float))
    onnx_s = best_seconds(lambda: session.run(None, {"frames": frames}))
    record("extractor, 20 frames", keras_s, onnx_s)
    assert keras_s / onnx_s >= 0.9


def test_onnx_head_is_faster_than_keras(graphs):
    _, head, folder, _ = graphs
    session = create_session(folder / "head.onnx", ["CPUExecutionProvider"])
    features = np.random.default_rng(1).normal(size=(1, 20, 2048)).astype(np.float32)
    mask = frame_mask(14, 20)[None]
    keras_s = best_seconds(lambda: head.predict_on_batch([features, mask]), repeat=20)
    onnx_s = best_seconds(lambda: session.run(None, {"features": features, "mask": mask}), repeat=20)
    record("head, one clip", keras_s, onnx_s)
    assert keras_s / onnx_s >= 1.5


def test_whole_clip_latency_onnx_against_keras(graphs):
    extractor, head, folder, frames = graphs
    ext = create_session(folder / "extractor.onnx", ["CPUExecutionProvider"])
    hd = create_session(folder / "head.onnx", ["CPUExecutionProvider"])
    mask = frame_mask(len(frames), 20)[None]

    def keras_clip():
        features = extractor.predict_on_batch(frames.astype(np.float32))
        return head.predict_on_batch([np.asarray(features)[None], mask])

    def onnx_clip():
        features = ext.run(None, {"frames": frames})[0]
        return hd.run(None, {"features": features[None], "mask": mask})

    keras_s, onnx_s = best_seconds(keras_clip), best_seconds(onnx_clip)
    record("clip of 20 frames, both stages", keras_s, onnx_s)
    assert keras_s / onnx_s >= 0.9
