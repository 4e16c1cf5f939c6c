"""Clip classification: sampled frames → one batched extractor call → the head."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import Bundle, load_bundle
from .engine import Engine
from .sampling import frame_mask, pad_sequence
from .video import Clip, read_clip


@dataclass(frozen=True)
class Prediction:
    label: str
    prob: float


def prediction_records(predictions: list[Prediction]) -> list[dict]:
    """Predictions as every JSON output and report writes them: ``{"label": ..., "prob": ...}`` each, in their order."""
    return [{"label": p.label, "prob": p.prob} for p in predictions]


@dataclass(frozen=True)
class ClipResult:
    source: str
    predictions: list[Prediction]
    clip: Clip
    provider: str

    @classmethod
    def ranked(
        cls, path: str | Path, probabilities: np.ndarray, labels: list[str], clip: Clip, provider: str, top_k: int | None = None
    ) -> "ClipResult":
        """The result of a clip whose class probabilities are ``probabilities``: its labels ranked, the top ``top_k`` kept."""
        return cls(str(path), rank(probabilities, labels, top_k), clip, provider)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "predictions": prediction_records(self.predictions),
            "frames_used": int(len(self.clip.frames)),
            "frame_count": int(self.clip.frame_count),
            "provider": self.provider,
        }


def rank(probabilities: np.ndarray, labels: list[str], top_k: int | None = None) -> list[Prediction]:
    """Labels with their probabilities, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[: top_k or None]
    return [Prediction(labels[i], float(probabilities[i])) for i in order]


class Classifier:
    """A loaded bundle that classifies video files."""

    def __init__(self, bundle: Bundle, device: str = "auto", verbose: bool = False):
        self.bundle = bundle
        self.engine = Engine(bundle, device, verbose=verbose)

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "auto") -> "Classifier":
        return cls(load_bundle(folder), device)

    def probabilities(self, clip: Clip) -> np.ndarray:
        """Class probabilities ``[C]`` for one sampled clip."""
        return self.engine.classify_clip(clip.frames)

    def probabilities_of(self, clips: list[Clip]) -> np.ndarray:
        """Class probabilities ``[B, C]`` for sampled clips: their frames share extractor batches, one head call."""
        length = self.bundle.sequence_length
        features = self.engine.extract(np.concatenate([clip.frames for clip in clips]))
        per_clip = np.split(features, np.cumsum([len(clip.frames) for clip in clips])[:-1])
        sequences = np.stack([pad_sequence(f, length) for f in per_clip])
        masks = np.stack([frame_mask(len(f), length) for f in per_clip])
        return self.engine.classify(sequences, masks)

    def classify_file(self, path: str | Path, top_k: int | None = None) -> ClipResult:
        bundle = self.bundle
        clip = read_clip(path, bundle.sampling)
        return ClipResult.ranked(path, self.probabilities(clip), bundle.labels, clip, self.engine.provider, top_k)
