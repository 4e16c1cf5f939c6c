"""The precision guard: a reduced-precision extractor judged against fp32 where the head looks.

Both sides are ONNX graphs (fp32 matches Keras: see ``parity``), run on the
same clips of several kinds: the run's test clips, training clips that
calibration did not see, and test clips spoiled as cameras spoil frames
(``perturbations``). Two figures decide:

- the cosine between each frame's candidate and fp32 features *as the head
  reads them*: standardised with the run's training statistics where the
  head standardises. Raw features can sit on a large common offset, so a raw
  cosine of 0.9998 can hide errors that are large in a feature with a small
  spread, the head's scale (the raw figure is reported beside it);
- how often the whole model's top-1 class is the same, both through the fp32
  head, over every clip (and per kind, reported).
"""

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from vclf.runtime.errors import BadModelError
from vclf.runtime.sampling import frame_mask, pad_sequence

if TYPE_CHECKING:  # the sessions come from the caller; vclf-export --help reads the limits without ONNX Runtime
    import onnxruntime as ort

# On standardised features every low-spread feature's small error counts in full, so the cosine there is a floor
# and agreement over many kinds of clips decides. Measured (int8 against fp32, head's input space): the test
# suite's random-weight InceptionV3 run 0.915 (raw 0.9997), top-1 agreement 35 of 36 clips; the demo's ImageNet
# EfficientNet-Lite0 run 0.838 (raw 0.981), agreement 89 of 90; quantized whole, 0.375 (raw 0.868), agreement
# 77 of 90 and test accuracy 87.5% against 100%. Raw features, without a head (output checks), keep 0.99.
MIN_COSINE = 0.80
RAW_MIN_COSINE = 0.99
GUARD_CLIPS = 30
MIN_AGREEMENT = 0.95


class GuardError(BadModelError):
    """The reduced-precision graph strays too far from fp32."""


@dataclass(frozen=True)
class GuardReport:
    precision: str
    clips: int
    frames: int
    cosine_mean: float  # features as the head reads them
    cosine_min: float
    top1_agreement: float  # over every clip of every kind
    min_cosine: float
    min_agreement: float
    raw_cosine_mean: float  # raw extractor features
    clips_by_kind: dict[str, int]
    agreement_by_kind: dict[str, float]

    def passed(self) -> bool:
        return self.cosine_mean >= self.min_cosine and self.top1_agreement >= self.min_agreement

    def __str__(self) -> str:
        kinds = ", ".join(f"{kind} {self.clips_by_kind[kind]}: {self.agreement_by_kind[kind]:.3f}" for kind in self.clips_by_kind)
        return (
            f"{self.precision} extractor against fp32: feature cosine mean {self.cosine_mean:.5f} as the head reads them "
            f"(limit {self.min_cosine}), min {self.cosine_min:.5f}, raw {self.raw_cosine_mean:.5f}; "
            f"top-1 agreement {self.top1_agreement:.3f} (limit {self.min_agreement}) over {self.clips} clips ({kinds}), "
            f"{self.frames} frames"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def feature_cosines(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``actual`` with the same row of ``expected``."""
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(actual, axis=1)
    return (expected * actual).sum(axis=1) / np.maximum(norms, np.finfo(np.float32).tiny)


def guard_precision(
    precision: str,
    candidate: "ort.InferenceSession",
    reference: "ort.InferenceSession",
    head: "ort.InferenceSession",
    clips: dict[str, list[np.ndarray]],
    sequence_length: int,
    statistics: tuple[np.ndarray, np.ndarray] | None,
    min_cosine: float = MIN_COSINE,
    min_agreement: float = MIN_AGREEMENT,
) -> GuardReport:
    """Compare ``candidate`` with the fp32 ``reference`` extractor on each kind's clips (uint8 frames ``[t, S, S, 3]``).

    ``statistics`` (mean, std per feature) are the head's standardisation,
    None where it reads raw features. Raises GuardError, with the figures,
    when a threshold is not met.
    """
    mean, std = statistics if statistics is not None else (0.0, 1.0)
    cosines, raw_cosines, agreements = [], [], {}
    for kind, kind_clips in clips.items():
        sides = {"fp32": [], "candidate": []}
        for frames in kind_clips:
            expected = reference.run(None, {"frames": frames})[0]
            actual = candidate.run(None, {"frames": frames})[0]
            raw_cosines.append(feature_cosines(expected, actual))
            cosines.append(feature_cosines((expected - mean) / std, (actual - mean) / std))
            sides["fp32"].append(pad_sequence(expected, sequence_length))
            sides["candidate"].append(pad_sequence(actual, sequence_length))
        masks = np.stack([frame_mask(min(len(frames), sequence_length), sequence_length) for frames in kind_clips])
        top1 = {
            side: np.argmax(head.run(None, {"features": np.stack(features).astype(np.float32), "mask": masks})[0], 1)
            for side, features in sides.items()
        }
        agreements[kind] = top1["fp32"] == top1["candidate"]
    cosine, agreement = np.concatenate(cosines), np.concatenate(list(agreements.values()))
    report = GuardReport(
        precision,
        len(agreement),
        len(cosine),
        float(cosine.mean()),
        float(cosine.min()),
        float(agreement.mean()),
        min_cosine,
        min_agreement,
        float(np.concatenate(raw_cosines).mean()),
        {kind: len(same) for kind, same in agreements.items()},
        {kind: float(same.mean()) for kind, same in agreements.items()},
    )
    if not report.passed():
        raise GuardError(f"{report}: below the limits; bundle not written")
    return report
