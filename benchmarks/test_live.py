"""Live cost per prediction: one new frame through the extractor plus the head, against
recomputing the whole 20-frame window per prediction as the Keras example does.

Target, as a ratio within one run: the streaming step at least 5x cheaper at the
median. The extractor dominates and sees 1 frame instead of T = 20; the ratio
stays under 20 because one batched call of 20 frames costs less than 20 calls.
"""

import numpy as np

from timing import LIVE_ROWS, call_seconds
from vclf.runtime.bundle import Bundle
from vclf.runtime.engine import Engine
from vclf.runtime.live import StreamingClassifier
from vclf.runtime.sampling import frame_mask

STEPS = 40
RECOMPUTES = 8


def test_new_frame_costs_a_fraction_of_recomputing_the_window(graphs):
    _, _, folder, frames = graphs
    bundle = Bundle(
        labels=[f"class{i}" for i in range(5)],
        image_size=224,
        sequence_length=len(frames),
        feature_size=2048,
        sampler="uniform",
        live_stride=1,
        precision="fp32",
        opset=17,
        path=folder,
    )
    engine = Engine(bundle, "cpu")
    streaming = StreamingClassifier(engine)
    for frame in frames:  # a full window, as in steady state
        streaming.step(frame)
    next_frame = iter(np.tile(frames, (STEPS // len(frames) + 2, 1, 1, 1)))
    step_ms = np.array(call_seconds(lambda: streaming.step(next(next_frame)), STEPS)) * 1e3

    mask = frame_mask(len(frames), len(frames))[None]
    window_ms = np.array(call_seconds(lambda: engine.classify(engine.extract(frames)[None], mask), RECOMPUTES)) * 1e3

    for what, ms in (("new frame + head (streaming)", step_ms), ("whole 20-frame window + head", window_ms)):
        LIVE_ROWS.append((what, *np.percentile(ms, [50, 95])))
    assert np.median(window_ms) / np.median(step_ms) >= 5
