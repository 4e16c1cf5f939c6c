"""Frame sampling policies: which frames of a clip the model sees.

Each policy is a small class behind one interface, a pure function of
``(frame_count, sequence_length)`` to increasing frame indices. A clip with
fewer frames than ``sequence_length`` yields all its frames; the sequence is
then back-padded and the padding masked out (see ``frame_mask``).
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SEQUENCE_LENGTH = 20


@dataclass(frozen=True)
class ClipSampling:
    """How a clip is read for a model: the sampler that picks its frames, how many, and the side of the square frames."""

    sampler: str
    sequence_length: int
    image_size: int


class Sampler(Protocol):
    name: str

    def indices(self, frame_count: int, sequence_length: int) -> np.ndarray:
        """Increasing frame indices in ``[0, frame_count)``, at most ``sequence_length``."""

    def spacing(self, frame_count: float, sequence_length: int) -> float:
        """Average source frames between two picked frames of a clip of ``frame_count``."""


class FirstFrames:
    """The first ``sequence_length`` frames, as the Keras example samples.

    A long clip is seen only through its opening (under a second at 25 fps
    for 20 frames); the rest of the action is never seen.
    """

    name = "first"

    def indices(self, frame_count: int, sequence_length: int) -> np.ndarray:
        return np.arange(min(frame_count, sequence_length), dtype=np.int64)

    def spacing(self, frame_count: float, sequence_length: int) -> float:
        return 1.0


class UniformFrames:
    """``sequence_length`` frames at even intervals across the whole clip.

    The clip is cut into ``sequence_length`` equal segments and the frame at
    the centre of each is taken, so the first and last segments are both
    represented. A clip of at most ``sequence_length`` frames yields every frame.
    """

    name = "uniform"

    def indices(self, frame_count: int, sequence_length: int) -> np.ndarray:
        if frame_count <= sequence_length:
            return np.arange(frame_count, dtype=np.int64)
        centres = (np.arange(sequence_length) + 0.5) * frame_count / sequence_length
        return np.floor(centres).astype(np.int64)

    def spacing(self, frame_count: float, sequence_length: int) -> float:
        return max(1.0, frame_count / sequence_length)


SAMPLERS: dict[str, Sampler] = {s.name: s for s in (FirstFrames(), UniformFrames())}


def get_sampler(name: str) -> Sampler:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}") from None


def sample_indices(sampler: str, frame_count: int, sequence_length: int) -> np.ndarray:
    """The frame indices that sampler ``sampler`` picks from a clip of ``frame_count`` frames."""
    return get_sampler(sampler).indices(frame_count, sequence_length)


def live_stride(sampler: str, median_frame_count: float, sequence_length: int) -> int:
    """The frame spacing a live window should keep: the sampler's spacing on a
    clip of the median training length, rounded half up, at least 1."""
    return max(1, int(get_sampler(sampler).spacing(median_frame_count, sequence_length) + 0.5))


def frame_mask(valid: int, sequence_length: int) -> np.ndarray:
    """Bool ``[sequence_length]``: True for the first ``valid`` (real) frames."""
    return np.arange(sequence_length) < valid


def pad_sequence(frames_or_features: np.ndarray, sequence_length: int) -> np.ndarray:
    """Back-pad ``[n, ...]`` with zeros to ``[sequence_length, ...]``."""
    n = len(frames_or_features)
    padded = np.zeros((sequence_length, *frames_or_features.shape[1:]), frames_or_features.dtype)
    padded[:n] = frames_or_features
    return padded
