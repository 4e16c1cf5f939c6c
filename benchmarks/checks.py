"""What counts as the right answer for each variant: Keras's output, within the variant's parity tolerance.

fp32 graphs keep export's parity limits (features relative to the largest
one, probabilities absolute); reduced-precision variants keep the precision
guard's limits (feature cosine per frame, the same top-1 class).
"""

from collections.abc import Callable

import numpy as np

from vclf.export.guard import RAW_MIN_COSINE, feature_cosines
from vclf.export.parity import EXTRACTOR_TOLERANCE, HEAD_TOLERANCE, relative_difference

CLIP_TOLERANCE = 1e-4  # probabilities after both graphs: the extractor's 1e-4 carried through the head


class WrongOutput(AssertionError):
    """A variant's output is not Keras's within its tolerance."""


def same_features(expected: np.ndarray, precision: str, min_cosine: float = RAW_MIN_COSINE) -> Callable[[np.ndarray], None]:
    """fp32: largest difference within export's extractor limit; reduced precision: every frame's cosine at
    ``min_cosine`` (the guard's limit on raw features unless a row measured its own)."""

    def check(features: np.ndarray) -> None:
        features = np.asarray(features).reshape(expected.shape)
        if precision == "fp32":
            difference = relative_difference(expected, features)
            if not difference <= EXTRACTOR_TOLERANCE:
                raise WrongOutput(f"features differ from Keras by {difference:.2e} of the largest (limit {EXTRACTOR_TOLERANCE:.0e})")
        else:
            cosine = float(feature_cosines(expected, features).min())
            if not cosine >= min_cosine:
                raise WrongOutput(f"{precision} features: lowest cosine with Keras {cosine:.5f} (limit {min_cosine})")

    return check


def same_probabilities(expected: np.ndarray, precision: str, tolerance: float = HEAD_TOLERANCE) -> Callable[[np.ndarray], None]:
    """fp32: every probability within ``tolerance`` of Keras; reduced precision: the same top-1 class."""

    def check(probabilities: np.ndarray) -> None:
        probabilities = np.asarray(probabilities).reshape(expected.shape)
        if precision == "fp32":
            difference = float(np.abs(expected - probabilities).max())
            if not difference <= tolerance:
                raise WrongOutput(f"probabilities differ from Keras by {difference:.2e} (limit {tolerance:.0e})")
        elif np.argmax(probabilities, -1).tolist() != np.argmax(expected, -1).tolist():
            raise WrongOutput(f"{precision} top-1 {np.argmax(probabilities, -1)} is not Keras's {np.argmax(expected, -1)}")

    return check


def each_clip_matches(expected: dict[str, np.ndarray], precision: str) -> Callable[[dict[str, np.ndarray]], None]:
    """Per clip (source → probabilities), as ``same_probabilities`` after both graphs; every clip answered."""

    def check(results: dict[str, np.ndarray]) -> None:
        if sorted(results) != sorted(expected):
            raise WrongOutput(f"answers for {sorted(results)}, not for {sorted(expected)}")
        for source, probabilities in results.items():
            same_probabilities(expected[source], precision, CLIP_TOLERANCE)(probabilities)

    return check
