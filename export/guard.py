"""The precision guard: a reduced-precision extractor judged against fp32 on the run's test clips.

The fp32 side is the run's cached Keras features (``features.npz``), which
the fp32 graphs already match (see ``parity``), so the guard runs only the
candidate extractor. Two figures decide: the cosine between each frame's
candidate and fp32 features (mean, with the minimum reported), and how often
the whole model's top-1 class is the same, both through the fp32 head.
"""

from dataclasses import asdict, dataclass

import numpy as np
import onnxruntime as ort

from vclf.runtime.errors import BadModelError
from vclf.runtime.sampling import pad_sequence

MIN_COSINE = 0.99
GUARD_CLIPS = 30
MIN_AGREEMENT = 0.95


class GuardError(BadModelError):
    """The reduced-precision graph strays too far from fp32."""


@dataclass(frozen=True)
class GuardReport:
    precision: str
    clips: int
    frames: int
    cosine_mean: float
    cosine_min: float
    top1_agreement: float
    min_cosine: float
    min_agreement: float

    def passed(self) -> bool:
        return self.cosine_mean >= self.min_cosine and self.top1_agreement >= self.min_agreement

    def __str__(self) -> str:
        return (
            f"{self.precision} extractor against fp32: feature cosine mean {self.cosine_mean:.5f} "
            f"(limit {self.min_cosine}), min {self.cosine_min:.5f}; top-1 agreement {self.top1_agreement:.3f} "
            f"(limit {self.min_agreement}) over {self.clips} test clips, {self.frames} frames"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def feature_cosines(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``actual`` with the same row of ``expected``."""
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1)
    return (expected * actual).sum(axis=1) / np.maximum(norms, np.finfo(np.float32).tiny)


def guard_precision(
    precision: str,
    candidate: ort.InferenceSession,
    head: ort.InferenceSession,
    clip_frames: list[np.ndarray],
    fp32_features: np.ndarray,
    masks: np.ndarray,
    min_cosine: float = MIN_COSINE,
    min_agreement: float = MIN_AGREEMENT,
) -> GuardReport:
    """Compare ``candidate`` on each clip's frames with that clip's fp32 features ``[T, F]`` and mask ``[T]``.

    Raises GuardError, with the figures, when a threshold is not met.
    """
    length = masks.shape[1]
    cosines, candidate_features = [], []
    for frames, expected, mask in zip(clip_frames, fp32_features, masks):
        actual = candidate.run(None, {"frames": frames})[0]
        cosines.append(feature_cosines(expected[mask], actual))
        candidate_features.append(pad_sequence(actual, length))
    probabilities = {
        side: head.run(None, {"features": np.stack(features).astype(np.float32), "mask": masks})[0]
        for side, features in (("fp32", fp32_features), ("candidate", candidate_features))
    }
    agreement = np.argmax(probabilities["fp32"], 1) == np.argmax(probabilities["candidate"], 1)
    cosine = np.concatenate(cosines)
    report = GuardReport(
        precision,
        len(clip_frames),
        len(cosine),
        float(cosine.mean()),
        float(cosine.min()),
        float(agreement.mean()),
        min_cosine,
        min_agreement,
    )
    if not report.passed():
        raise GuardError(f"{report}: below the limits; bundle not written")
    return report
