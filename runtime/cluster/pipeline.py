"""``vclf-run --engine ray``: a folder's clips decoded by Ray tasks and classified by actors that each hold the bundle's sessions.

The same steps as ``FolderPipeline`` (``read_clip``, the extractor, the head,
``rank``), the same outcomes in the same order; only where they run differs.
"""

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np

from ..bundle import Bundle
from ..classify import Classifier, ClipResult
from ..clips.folder import Outcome
from ..engine import EXTRACT_BATCH
from ..errors import VclfError
from ..video import Clip
from .ray_engine import ClusterMap


def without_pixels(clip: Clip) -> Clip:
    """The clip with frames of no pixels (``[n, 0, 0, 3]``): what a result reports of it, without sending frames back."""
    return replace(clip, frames=clip.frames[:, :0, :0])


class BundleWorker:
    """In a Ray actor: the bundle's ONNX Runtime sessions; per decoded clip, its probabilities."""

    def __init__(self, bundle_dir: str, device: str):
        self.classifier = Classifier.from_folder(bundle_dir, device)

    def __call__(self, clips: list[Clip]) -> list[tuple[np.ndarray, Clip, str]]:
        """Each clip's probabilities, the clip without its pixels and the provider; the clips share extractor batches."""
        provider = self.classifier.engine.provider
        return [(p, without_pixels(clip), provider) for p, clip in zip(self.classifier.probabilities_of(clips), clips)]


class ClusterPipeline:
    """``FolderPipeline`` on a Ray cluster: an Outcome per file, in input order. Close it (or use ``with``) to free the actors."""

    def __init__(self, bundle: Bundle, files: Sequence[Path], device: str = "auto", top_k: int | None = None, workers: int | None = None):
        self.bundle, self.files, self.top_k = bundle, list(files), top_k
        per_call = max(1, EXTRACT_BATCH // bundle.sequence_length)  # as many clips as the local pipeline batches
        self.map = ClusterMap(self.files, bundle.sampling, BundleWorker, (str(bundle.path), device), workers, per_call)

    def __enter__(self) -> "ClusterPipeline":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.map.close()

    def outcomes(self) -> Iterator[Outcome]:
        for position, answer in self.map.results():
            path = self.files[position]
            if isinstance(answer, VclfError):
                yield Outcome(path, error=answer)
                continue
            probabilities, clip, provider = cast(tuple[np.ndarray, Clip, str], answer)
            yield Outcome(path, result=ClipResult.ranked(path, probabilities, self.bundle.labels, clip, provider, self.top_k))
