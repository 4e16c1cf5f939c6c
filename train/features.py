"""Frame features: InceptionV3, built as the Keras example builds it, run over every clip."""

from collections.abc import Sequence
from pathlib import Path

import click
import keras
import numpy as np

from vclf.runtime.errors import BadInputError, BadModelError, SourceUnavailableError
from vclf.runtime.sampling import frame_mask
from vclf.runtime.video import read_clip

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


def extract_features(
    extractor: keras.Model,
    paths: Sequence[Path],
    sampler: str,
    sequence_length: int,
    image_size: int,
    label: str = "Extracting features",
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[n, T, F]`` and mask ``[n, T]`` for every clip, frames batched across clips."""
    features = np.zeros((len(paths), sequence_length, FEATURE_SIZE), np.float32)
    masks = np.zeros((len(paths), sequence_length), bool)
    queue: list[tuple[int, int, np.ndarray]] = []  # (clip index, position in clip, frame)

    def run_batch(size: int) -> None:
        # Fixed-size batches: one traced graph serves the whole extraction.
        batch, rest = queue[:size], queue[size:]
        out = np.asarray(extractor.predict_on_batch(np.stack([f for _, _, f in batch]).astype(np.float32)))
        for (clip_index, position, _), feature in zip(batch, out):
            features[clip_index, position] = feature
        queue[:] = rest

    with click.progressbar(paths, label=label, file=click.get_text_stream("stderr"), show_pos=True) as bar:
        for clip_index, path in enumerate(bar):
            clip = read_clip(path, sampler, sequence_length, image_size)
            masks[clip_index] = frame_mask(len(clip.frames), sequence_length)
            queue.extend((clip_index, position, frame) for position, frame in enumerate(clip.frames))
            while len(queue) >= EXTRACT_BATCH:
                run_batch(EXTRACT_BATCH)
        if queue:
            run_batch(len(queue))
    return features, masks
