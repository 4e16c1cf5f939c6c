"""Frame features: a backbone (InceptionV3 as the Keras example builds it, by default), run over every clip."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from vclf.runtime.errors import BadInputError, BadModelError, SourceUnavailableError, first_line
from vclf.runtime.sampling import ClipSampling, frame_mask
from vclf.runtime.video import read_clip

from .backbones import BACKBONES, DEFAULT_BACKBONE, Backbone
from .keras_import import keras

if TYPE_CHECKING:
    from .cache import FeatureCache

FIT_BATCH_FRAMES = 32  # frames per Keras extractor call in a fit: fixed, so one traced graph serves them all


def resolve_weights(weights: str) -> str | None:
    """``imagenet``, ``none`` or a local weights file (``.h5``, or ``.pth`` for a backbone that reads one)."""
    if weights == "imagenet":
        return "imagenet"
    if weights == "none":
        return None
    path = Path(weights)
    if not path.is_file():
        raise BadInputError(f"{weights}: no such weights file (use imagenet, none or a path to an .h5 or .pth file)")
    return str(path)


def build_feature_extractor(weights: str | None, image_size: int, backbone: str = DEFAULT_BACKBONE) -> keras.Model:
    """Float RGB frames in [0, 255] → average-pooled backbone features ``[N, F]``.

    For InceptionV3 exactly the example's extractor: ``preprocess_input``
    (scale to [-1, 1]) inside the model, then InceptionV3 without its top,
    average pooling. Other backbones: their own ``preprocess_input`` (see ``backbones``).
    """
    spec = BACKBONES[backbone]
    model = spec.build(image_size)
    if weights is not None:
        load_backbone_weights(spec, model, weights)
    inputs = keras.Input((image_size, image_size, 3))
    # In a layer, the constants of ``preprocess_input`` are made as the graph is traced, so export sees them.
    preprocessed = keras.layers.Lambda(spec.preprocess_input, name="preprocess_input")(inputs)
    outputs = model(preprocessed)
    return keras.Model(inputs, outputs, name="feature_extractor")


def load_backbone_weights(spec: Backbone, model: keras.Model, weights: str) -> None:
    """``imagenet`` (Keras' download, or its copy in ``~/.keras/models/``; or the backbone's installed
    checkpoint) or a weights file (Keras ``.h5``; a ``.pth`` where the backbone reads one), into ``model``.

    A file named as the ImageNet file is taken for it: the offline error tells users to pass that file.
    """
    if weights == "imagenet" and spec.imagenet_checkpoint:
        weights = str(spec.imagenet_checkpoint())
    if Path(weights).suffix == ".pth":
        if spec.load_pth is None:
            raise BadModelError(f"{weights}: a PyTorch checkpoint, which {spec.name} does not read (pass Keras .h5 weights)")
        spec.load_pth(model, Path(weights))
        return
    if weights == "imagenet":
        try:
            weights = keras.utils.get_file(spec.imagenet_file, spec.imagenet_url, cache_subdir="models", file_hash=spec.imagenet_md5)
        except Exception as exc:
            raise SourceUnavailableError(
                f"imagenet: could not download the {spec.name} weights ({first_line(exc)}). Offline, copy "
                f"{spec.imagenet_file} onto this machine and pass --weights PATH, or put it in ~/.keras/models/"
            ) from None
    try:
        model.load_weights(weights)
    except Exception as exc:
        raise BadModelError(f"{weights}: not {spec.name} (no top) weights ({first_line(exc)})") from None
    if spec.after_imagenet_weights and Path(weights).name == spec.imagenet_file:
        spec.after_imagenet_weights(model)


def load_extractor(weights_file: Path, image_size: int, backbone: str = DEFAULT_BACKBONE) -> keras.Model:
    """The extractor with weights a run saved (``extractor.weights.h5``)."""
    extractor = build_feature_extractor(None, image_size, backbone)
    extractor.load_weights(weights_file)
    return extractor


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
    return {"backbone": backbone_name(extractor), "weights_sha256": digest.hexdigest()}


def backbone_name(extractor: keras.Model) -> str:
    """The backbone inside an extractor from ``build_feature_extractor`` (its nested model, named after it)."""
    return next(layer.name for layer in extractor.layers if isinstance(layer, keras.Model))


def extract_features(
    extractor: keras.Model,
    paths: Sequence[Path],
    sampling: ClipSampling,
    label: str = "Extracting features",
    cache: "FeatureCache | None" = None,
) -> ExtractedFeatures:
    """Features for every clip: from ``cache`` where it holds them, else extracted (and stored there).

    Frames are batched across clips; a clip's entry is stored as soon as its
    last frame is through the extractor, so a killed extraction keeps what it finished.
    """
    sequence_length = sampling.sequence_length
    result = ExtractedFeatures(
        np.zeros((len(paths), sequence_length, extractor.output_shape[-1]), np.float32), np.zeros((len(paths), sequence_length), bool)
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
            clip = read_clip(path, sampling)
            result.masks[clip_index] = frame_mask(len(clip.frames), sequence_length)
            result.extracted += 1
            pending[clip_index] = (key, len(clip.frames))
            queue.extend((clip_index, position, frame) for position, frame in enumerate(clip.frames))
            while len(queue) >= FIT_BATCH_FRAMES:
                run_batch(FIT_BATCH_FRAMES)
        if queue:
            run_batch(len(queue))
    return result
