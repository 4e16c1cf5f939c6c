"""Parity between the Keras models and their ONNX graphs, on the run's own data.

The extractor is compared on frames sampled from the run's test clips, by the
largest difference relative to the largest Keras feature (random-weight
features are tiny, so an absolute bound would say nothing). The head is
compared on the run's cached test features, with extra masked variants whose
masked positions hold garbage: a correct graph ignores them.
"""

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from vclf.runtime.errors import BadModelError
from vclf.train.keras_import import keras

EXTRACTOR_TOLERANCE = 1e-4  # relative to the largest feature
HEAD_TOLERANCE = 1e-5  # absolute, on probabilities


class ParityError(BadModelError):
    """The ONNX graph does not compute what the Keras model computes."""


@dataclass(frozen=True)
class ParityReport:
    graph: str
    difference: float
    tolerance: float
    samples: int

    def __str__(self) -> str:
        return f"{self.graph}: largest difference {self.difference:.2e} (limit {self.tolerance:.0e}) over {self.samples} inputs"


def relative_difference(expected: np.ndarray, actual: np.ndarray) -> float:
    """Largest absolute difference over the largest magnitude of ``expected``."""
    scale = float(np.abs(expected).max()) or 1.0
    return float(np.abs(expected - actual).max()) / scale


def check(report: ParityReport) -> ParityReport:
    if not report.difference <= report.tolerance:
        raise ParityError(f"ONNX {report} exceeds the limit; bundle not written")
    return report


def extractor_parity(extractor: keras.Model, session: ort.InferenceSession, frames: np.ndarray) -> ParityReport:
    """Compare on uint8 RGB frames ``[N, S, S, 3]``."""
    expected = np.asarray(extractor.predict_on_batch(frames.astype(np.float32)))
    actual = session.run(None, {"frames": frames})[0]
    return check(ParityReport("extractor", relative_difference(expected, actual), EXTRACTOR_TOLERANCE, len(frames)))


def masked_variants(features: np.ndarray, mask: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clips as given plus copies cut to shorter lengths.

    Returns the mask and two feature arrays: one zero in masked positions, one
    with garbage there. Both must give the same probabilities.
    """
    rng = np.random.default_rng(seed)
    length = mask.shape[1]
    cuts = [mask] + [mask & (np.arange(length) < keep) for keep in (1, length // 3, length - 1)]
    all_mask = np.concatenate(cuts)
    clean = np.concatenate([features] * len(cuts)) * all_mask[..., None]
    scale = float(np.abs(features[mask]).max()) or 1.0
    garbage = np.where(all_mask[..., None], clean, rng.normal(0, 1e3 * scale, clean.shape))
    return clean.astype(np.float32), garbage.astype(np.float32), all_mask


def head_parity(model: keras.Model, session: ort.InferenceSession, features: np.ndarray, mask: np.ndarray) -> ParityReport:
    """Keras on zero-padded clips against ONNX on the same clips with garbage in masked positions."""
    clean, garbage, mask = masked_variants(features, mask)
    expected = np.asarray(model.predict_on_batch([clean, mask]))
    actual = session.run(None, {"features": garbage, "mask": mask})[0]
    return check(ParityReport("head", float(np.abs(expected - actual).max()), HEAD_TOLERANCE, len(mask)))
