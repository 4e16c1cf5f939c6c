"""Fit the sequence model on a dataset and write a run dir.

Two presets:

- ``seed`` reproduces the Keras example as written: the first 20 frames of
  each clip, 10 epochs, Keras' ``validation_split=0.3`` (the last 30% of the
  training table, unshuffled), raw features.
- ``default`` keeps the model and adds what makes it learn: frames sampled
  across the whole clip, a validation split stratified by class that keeps
  each UCF101 group (actor and scene) on one side, per-feature
  standardisation before the GRU, early stopping on val_loss.

Either can also train on the windows a live run classifies (a filling
window, the end of one action running into the next: ``windows.py``).

Both keep the best weights by val_loss and back up every epoch, so a fit
killed at any point continues with ``--resume`` to the result an
uninterrupted fit gives.
"""

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd

from vclf.runtime.cluster.ray_engine import Cluster
from vclf.runtime.errors import BadInputError, VclfError
from vclf.runtime.files import atomic_write
from vclf.runtime.preprocess import IMAGE_SIZE
from vclf.runtime.sampling import SEQUENCE_LENGTH
from vclf.runtime.video import count_frames

from . import run as rd
from .backbones import DEFAULT_BACKBONE, check_backbone_settings
from .cache import FeatureCache
from .cluster_features import fill_cache
from .dataset import check_dataset, class_names, encode_tags
from .epochs import fit_epochs
from .features import (
    build_feature_extractor,
    extract_features,
    extractor_identity,
    load_extractor,
    resolve_weights,
)
from .keras_import import keras
from .model import build_sequence_model, feature_statistics
from .report import evaluation_report, format_table, write_report
from .split import clip_group, group_split, tail_split
from .windows import VALIDATION_WINDOWS, LiveViews, live_windows


@dataclass(frozen=True)
class Preset:
    name: str
    sampler: str
    epochs: int
    validation: str  # "tail": Keras validation_split; "group": per class, whole groups, shuffled
    validation_fraction: float
    standardize: bool
    patience: int | None  # early stopping on val_loss; None trains every epoch
    batch_size: int = 32


PRESETS = {
    "seed": Preset("seed", "first", 10, "tail", 0.3, standardize=False, patience=None),
    "default": Preset("default", "uniform", 300, "group", 0.25, standardize=True, patience=25, batch_size=8),
}


class RunExistsError(VclfError):
    exit_code = 2


@dataclass(frozen=True)
class ExtractorSettings:
    """What ``--backbone``, ``--image-size`` and ``--seq-len`` choose: the frames and features the head sees."""

    backbone: str = DEFAULT_BACKBONE
    image_size: int = IMAGE_SIZE
    sequence_length: int = SEQUENCE_LENGTH


def new_config(
    data_dir: Path,
    preset: Preset,
    weights: str,
    epochs: int | None,
    seed: int,
    extractor_settings: ExtractorSettings = ExtractorSettings(),
    live_windows: bool = False,
) -> dict:
    spec = check_backbone_settings(extractor_settings.backbone, extractor_settings.image_size, extractor_settings.sequence_length)
    return {
        "data_dir": str(data_dir.resolve()),
        "preset": preset.name,
        "weights": weights,
        "seed": seed,
        "backbone": spec.name,
        "image_size": extractor_settings.image_size,
        "sequence_length": extractor_settings.sequence_length,
        "feature_size": spec.feature_size,
        **{k: v for k, v in asdict(preset).items() if k != "name"},
        "epochs": epochs or preset.epochs,
        "live_windows": live_windows,
    }


def fit(
    data_dir: str | Path,
    run_dir: str | Path,
    preset: str = "default",
    weights: str = "imagenet",
    epochs: int | None = None,
    resume: bool = False,
    seed: int = 0,
    cache_dir: Path | None = None,
    extractor_settings: ExtractorSettings = ExtractorSettings(),
    live_windows: bool = False,
    cluster: Cluster | None = None,
) -> dict:
    """Train and evaluate; returns the metrics written to ``metrics.json``.

    ``cache_dir`` holds the feature cache; None extracts every clip afresh.
    ``extractor_settings`` chooses the backbone, the side of the square frames it
    takes and the frames per clip (ignored on ``resume``: the run's own hold);
    ``live_windows`` also trains on live windows (``windows.py``);
    ``cluster`` fills the feature cache on Ray first (``cluster_features.py``).
    """
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    splits = check_dataset(data_dir)
    labels = class_names(splits["train"])
    y_train, y_test = encode_tags(splits["train"], labels), encode_tags(splits["test"], labels)

    config = _start_run(data_dir, run_dir, PRESETS[preset], weights, epochs, seed, resume, extractor_settings, live_windows)
    keras.utils.set_random_seed(config["seed"])
    rd.write_json(run_dir / rd.LABELS, labels)

    (x_train, m_train), (x_test, m_test) = _features(run_dir, config, splits, resume, cache_dir, cluster)

    groups = [clip_group(p.name) for p in splits["train"].paths]
    views = None
    if config.get("live_windows"):
        frame_counts = [count_frames(p) for p in splits["train"].paths]
        views = LiveViews.of_clips(frame_counts, config["sampler"], config["sequence_length"])
    model = train_head(run_dir, config, x_train, m_train, y_train, len(labels), groups, views)
    probabilities = model.predict([x_test, m_test], verbose=0)
    test_clips = [p.name for p in splits["test"].paths]
    report = evaluation_report(probabilities, y_test, labels, test_clips, "test")
    metrics = {
        "test_accuracy": report["accuracy"],
        "test_loss": float(model.evaluate([x_test, m_test], y_test, verbose=0)[0]),
        **report,
    }
    save_history_plot(run_dir)
    write_report(run_dir, metrics)
    shutil.rmtree(run_dir / rd.BACKUP, ignore_errors=True)
    click.echo(format_table(report))
    return metrics


def validation_split(config: dict, labels: np.ndarray, groups: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fit and validation indices as the preset says."""
    if config["validation"] == "tail":
        return tail_split(len(labels), config["validation_fraction"])
    return group_split(labels, groups, config["validation_fraction"], config["seed"])


def train_head(
    run_dir: Path,
    config: dict,
    features: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    groups: list[str],
    views: LiveViews | None = None,
) -> keras.Model:
    """Fit the sequence model on extracted features; returns it with its best weights.

    ``views`` (how a live run sees each clip) adds live windows (``windows.py``).

    Checkpoints, history and the epoch backup go to ``run_dir``; a backup
    there is continued. Seeded from the config, so the result does not
    depend on what ran before.
    """
    keras.utils.set_random_seed(config["seed"])
    fit_idx, val_idx = validation_split(config, labels, groups)
    if len(val_idx) == 0:
        raise BadInputError(f"{config['data_dir']}: too few training clips to hold any out for validation")

    model = build_sequence_model(num_classes, config["sequence_length"], config["feature_size"], config["standardize"])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    if config["standardize"]:
        model.get_layer("standardize").set_statistics(*feature_statistics(features[fit_idx], mask[fit_idx]))
    validation = features[val_idx], mask[val_idx], labels[val_idx]
    if views:
        rng = np.random.default_rng([config["seed"], 1])
        validation = live_windows(*validation, views.subset(val_idx), rng, VALIDATION_WINDOWS)
    fit_epochs(
        model,
        run_dir,
        ([features[fit_idx], mask[fit_idx]], labels[fit_idx]),
        ([validation[0], validation[1]], validation[2]),
        config["epochs"],
        config["batch_size"],
        config["patience"],
        config["seed"],
        views.subset(fit_idx) if views else None,
    )
    model.load_weights(run_dir / rd.BEST_WEIGHTS)
    return model


def _start_run(
    data_dir: Path,
    run_dir: Path,
    preset: Preset,
    weights: str,
    epochs: int | None,
    seed: int,
    resume: bool,
    extractor_settings: ExtractorSettings,
    live_windows: bool,
) -> dict:
    """Create the run dir and its config, or reopen an unfinished one for ``resume``."""
    config_path = run_dir / rd.CONFIG
    if resume:
        if not config_path.is_file():
            raise RunExistsError(f"{run_dir}: nothing to resume (no {rd.CONFIG})")
        if (run_dir / rd.METRICS).is_file():
            raise RunExistsError(f"{run_dir}: run already finished; nothing to resume")
        config = json.loads(config_path.read_text())
        if epochs:
            config["epochs"] = epochs
            rd.write_json(config_path, config)
        return config
    if config_path.exists():
        raise RunExistsError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    resolve_weights(weights)
    config = new_config(data_dir, preset, weights, epochs, seed, extractor_settings, live_windows)
    run_dir.mkdir(parents=True, exist_ok=True)
    rd.write_json(config_path, config)
    return config


def _features(run_dir: Path, config: dict, splits: dict, resume: bool, cache_dir: Path | None, cluster: Cluster | None):
    """Features for both splits: the run's own on resume, else from the shared cache or extracted.

    The run keeps its features in ``features.npz`` (export's parity check reads them).
    """
    features_file = run_dir / rd.FEATURES
    if resume and features_file.is_file():
        with np.load(features_file) as saved:
            return (saved["x_train"], saved["m_train"]), (saved["x_test"], saved["m_test"])
    extractor_weights = run_dir / rd.EXTRACTOR_WEIGHTS
    backbone = rd.config_backbone(config)
    if resume and extractor_weights.is_file():
        extractor = load_extractor(extractor_weights, config["image_size"], backbone)
    else:
        extractor = build_feature_extractor(resolve_weights(config["weights"]), config["image_size"], backbone)
        atomic_write(extractor_weights, lambda tmp: extractor.save_weights(tmp))
    sampling = rd.config_sampling(config)
    cache = None
    if cache_dir is not None:
        cache = FeatureCache(cache_dir, {**asdict(sampling), **extractor_identity(extractor)})
    if cluster is not None:
        fill_cache(cluster, cache, [*splits["train"].paths, *splits["test"].paths], sampling, extractor_weights, backbone)
    train = extract_features(extractor, splits["train"].paths, sampling, label="Train clips", cache=cache)
    test = extract_features(extractor, splits["test"].paths, sampling, label="Test clips ", cache=cache)
    from_cache, extracted = train.from_cache + test.from_cache, train.extracted + test.extracted
    damaged = f" ({cache.recomputed} damaged cache entries recomputed)" if cache and cache.recomputed else ""
    click.echo(f"features: {from_cache} clips from cache, {extracted} extracted{damaged}", err=True)
    atomic_write(
        features_file,
        lambda tmp: np.savez(tmp, x_train=train.features, m_train=train.masks, x_test=test.features, m_test=test.masks),
    )
    return (train.features, train.masks), (test.features, test.masks)


def save_history_plot(run_dir: Path) -> None:
    """``history.png``: loss and accuracy per epoch, training and validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = pd.read_csv(run_dir / rd.HISTORY)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(history["epoch"] + 1, history[metric], label="train")
        axis.plot(history["epoch"] + 1, history[f"val_{metric}"], label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.legend()
    figure.tight_layout()
    atomic_write(run_dir / rd.PLOT, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
