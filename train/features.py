"""Frame features: InceptionV3, built as the Keras example builds it, run over every clip."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
import keras
import numpy as np

from vclf.runtime.errors import BadInputError, BadModelError, SourceUnavailableError
from vclf.runtime.sampling import frame_mask
from vclf.runtime.video import read_clip

if TYPE_CHECKING:
    from .cache import FeatureCache

BACKBONE = "inception_v3"
FEATURE_SIZE = 2048
EXTRACT_BATCH = 32
IMAGENET_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def resolve_weights(weights: str) -> str | None:
    """``imagenet``, ``none`` or a local ``.h5`` file, as ``keras.applications`` takes it."""
    if weights == "imagenet":
        return "imagenet"
    if weights == "none":
        return None
    path = Path(weights)
    if not path.is_file():
        raise BadInputError(f"{weights}: no such weights file (use imagenet, none or a path to an .h5 file)")
    return str(path)


def build_feature_extractor(weights: str | None, image_size: int) -> keras.Model:
    """Float RGB frames in [0, 255] → 2048 average-pooled InceptionV3 features.

    Exactly the example's extractor: ``preprocess_input`` (scale to [-1, 1])
    inside the model, then InceptionV3 without its top, average pooling.
    """
    try:
        backbone = keras.applications.InceptionV3(
            weights=weights,
            include_top=False,
            pooling="avg",
            input_shape=(image_size, image_size, 3),
        )
    except Exception as exc:
        raise _weights_error(weights, exc) from None
    inputs = keras.Input((image_size, image_size, 3))
    preprocessed = keras.applications.inception_v3.preprocess_input(inputs)
    outputs = backbone(preprocessed)
    return keras.Model(inputs, outputs, name="feature_extractor")


def load_extractor(weights_file: Path, image_size: int) -> keras.Model:
    """The extractor with weights a run saved (``extractor.weights.h5``)."""
    extractor = build_feature_extractor(None, image_size)
    extractor.load_weights(weights_file)
    return extractor


def _weights_error(weights: str | None, exc: Exception) -> Exception:
    cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if weights == "imagenet":
        return SourceUnavailableError(
            f"imagenet: could not download the InceptionV3 weights ({cause}). Offline, copy {IMAGENET_FILE} "
            f"onto this machine and pass --weights PATH, or put it in ~/.keras/models/"
        )
    return BadModelError(f"{weights}: not InceptionV3 (no top) weights ({cause})")


@dataclass
class ExtractedFeatures:
    """Features ``[n, T, F]`` and mask ``[n, T]`` for a list of clips, and where they came from."""

    features: np.ndarray
    masks: np.ndarray
    from_cache: int = 0
    extracted: int = 0


def extractor_identity(extractor: keras.Model) -> dict:
    """The backbone and a sha256 over its weights' values: what decides the features besides the frames."""
    digest = hashlib.sha256()
    for variable in extractor.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
    return {"backbone": BACKBONE, "weights_sha256": digest.hexdigest()}


def extract_features(
    extractor: keras.Model,
    paths: Sequence[Path],
    sampler: str,
    sequence_length: int,
    image_size: int,
    label: str = "Extracting features",
    cache: "FeatureCache | None" = None,
) -> ExtractedFeatures:
    """Features for every clip: from ``cache`` where it holds them, else extracted (and stored there).

    Frames are batched across clips; a clip's entry is stored as soon as its
    last frame is through the extractor, so a killed extraction keeps what it finished.
    """
    result = ExtractedFeatures(
        np.zeros((len(paths), sequence_length, FEATURE_SIZE), np.float32), np.zeros((len(paths), sequence_length), bool)
    )
    queue: list[tuple[int, int, np.ndarray]] = []  # (clip index, position in clip, frame)
    pending: dict[int, tuple[str | None, int]] = {}  # clip index -> (cache key, frames still to extract)

    def finish(clip_index: int) -> None:
        key, _ = pending.pop(clip_index)
        if cache is not None:
            cache.store(key, result.features[clip_index, : result.masks[clip_index].sum()])

    def run_batch(size: int) -> None:
        # Fixed-size batches: one traced graph serves the whole extraction.
        batch, rest = queue[:size], queue[size:]
        out = np.asarray(extractor.predict_on_batch(np.stack([f for _, _, f in batch]).astype(np.float32)))
        for (clip_index, position, _), feature in zip(batch, out):
            result.features[clip_index, position] = feature
            key, remaining = pending[clip_index]
            pending[clip_index] = (key, remaining - 1)
            if remaining == 1:
                finish(clip_index)
        queue[:] = rest

    with click.progressbar(paths, label=label, file=click.get_text_stream("stderr"), show_pos=True) as bar:
        for clip_index, path in enumerate(bar):
            key = cache.key(path) if cache is not None else None
            cached = cache.load(key) if cache is not None else None
            if cached is not None:
                result.features[clip_index, : len(cached)] = cached
                result.masks[clip_index] = frame_mask(len(cached), sequence_length)
                result.from_cache += 1
                continue
            clip = read_clip(path, sampler, sequence_length, image_size)
            result.masks[clip_index] = frame_mask(len(clip.frames), sequence_length)
            result.extracted += 1
            pending[clip_index] = (key, len(clip.frames))
            queue.extend((clip_index, position, frame) for position, frame in enumerate(clip.frames))
            while len(queue) >= EXTRACT_BATCH:
                run_batch(EXTRACT_BATCH)
        if queue:
            run_batch(len(queue))
    return result
