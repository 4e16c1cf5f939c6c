"""The live feature ring: the last T frames' features, each computed once.

A ring buffer of ``[T, F]`` features. The head reads it oldest first,
back-padded and masked while it is still filling, exactly as a clip shorter
than T is presented in training (``pad_sequence``, ``frame_mask``).
"""

from collections import deque

import numpy as np

from ..sampling import frame_mask, pad_sequence


class FeatureRing:
    """The newest ``length`` feature vectors of size ``feature_size``."""

    def __init__(self, length: int, feature_size: int):
        self.length = length
        self._ring = np.zeros((length, feature_size), np.float32)
        self._count = 0  # vectors pushed since the last clear

    def push(self, features: np.ndarray) -> None:
        """Add one frame's features ``[F]``, overwriting the oldest when full."""
        self._ring[self._count % self.length] = features
        self._count += 1

    def clear(self) -> None:
        self._count = 0

    def __len__(self) -> int:
        return min(self._count, self.length)

    def head_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """Features ``[1, T, F]`` oldest first, back-padded with zeros, and their mask ``[1, T]``."""
        valid = len(self)
        start = self._count % self.length if self._count >= self.length else 0
        order = (start + np.arange(valid)) % self.length
        return pad_sequence(self._ring[order], self.length)[None], frame_mask(valid, self.length)[None]


class Smoother:
    """The mean of the last ``count`` probability vectors (``count`` 1: the newest as is)."""

    def __init__(self, count: int = 1):
        self._recent: deque[np.ndarray] = deque(maxlen=count)

    def add(self, probabilities: np.ndarray) -> np.ndarray:
        self._recent.append(probabilities)
        return np.mean(self._recent, axis=0)

    def clear(self) -> None:
        self._recent.clear()
