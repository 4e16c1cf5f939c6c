"""``vclf-train fit --engine ray``: the feature cache filled on a Ray cluster, entry for entry as a local fit fills it.

The workers hold the run's own Keras extractor (``extractor.weights.h5``), the
extractor whose identity the cache keys carry, not an ONNX export of it: a
fit has no ONNX graph yet, and features from another runtime would differ
from a local fit's in their last bits under the same key. The one difference
left from a local fit is batching: a worker batches the frames of the clips of
one call, a local fit cuts the stream of all clips' frames into fixed
batches, which moves features by float32 rounding only (measured: at most
3.3e-9 on features of size ~4e-4).
"""

from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from vclf.runtime.cluster.ray_engine import Cluster, ClusterMap, ray_runtime
from vclf.runtime.errors import VclfError
from vclf.runtime.sampling import ClipSampling
from vclf.runtime.video import Clip

from .cache import FeatureCache
from .features import FIT_BATCH_FRAMES, load_extractor
from .keras_import import keras


class ExtractorWorker:
    """In a Ray actor: the run's extractor; per decoded clip, its features ``[n, F]``."""

    def __init__(self, weights_file: str, image_size: int, backbone: str):
        keras.utils.disable_interactive_logging()
        self.extractor = load_extractor(Path(weights_file), image_size, backbone)

    def __call__(self, clips: list[Clip]) -> list[np.ndarray]:
        """Each clip's features; the clips' frames go through the extractor as one batch."""
        frames = np.concatenate([clip.frames for clip in clips]).astype(np.float32)
        features = np.asarray(self.extractor.predict_on_batch(frames))
        return np.split(features, np.cumsum([len(clip.frames) for clip in clips])[:-1])


def fill_cache(
    cluster: Cluster,
    cache: FeatureCache | None,
    paths: Sequence[Path],
    sampling: ClipSampling,
    weights_file: Path,
    backbone: str,
) -> int:
    """Store in ``cache`` the features of every clip it lacks, computed on ``cluster``; returns how many.

    ``sampling`` is how the clips are read, as the cache's keys name it. A clip that fails stops the fit with its error, as locally.
    """
    if cache is None:
        raise VclfError("--engine ray fills the feature cache: it cannot run with --no-cache")
    keys = {path: cache.key(path) for path in paths}
    missing = [path for path in paths if cache.load(keys[path]) is None]
    if not missing:
        return 0
    with ray_runtime(cluster.address):
        worker = (str(Path(weights_file).resolve()), sampling.image_size, backbone)
        per_call = max(1, FIT_BATCH_FRAMES // sampling.sequence_length)  # a local fit's batch of frames
        work = ClusterMap(missing, sampling, ExtractorWorker, worker, cluster.workers, per_call)
        try:
            label = f"Clips on Ray ({len(work.actors)} workers)"
            with click.progressbar(work.results(), length=len(missing), label=label, file=click.get_text_stream("stderr")) as bar:
                for position, features in bar:
                    if isinstance(features, VclfError):
                        raise features
                    cache.store(keys[missing[position]], features)
        finally:
            work.close()
    return len(missing)
