"""Fit the sequence model on a dataset and write a run dir.

Two presets:

- ``seed`` reproduces the Keras example as written: the first 20 frames of
  each clip, 10 epochs, Keras' ``validation_split=0.3`` (the last 30% of the
  training table, unshuffled), raw features.
- ``default`` keeps the model and adds what makes it learn: frames sampled
  across the whole clip, a shuffled validation split stratified by class,
  per-feature standardisation before the GRU, early stopping on val_loss.

Both keep the best weights by val_loss (ModelCheckpoint) and back up every
epoch, so an interrupted fit continues with ``--resume``.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import keras
import numpy as np
import pandas as pd

from vclf.runtime.errors import BadInputError, VclfError
from vclf.runtime.preprocess import IMAGE_SIZE
from vclf.runtime.sampling import SEQUENCE_LENGTH

from . import run as rd
from .dataset import class_names, encode_tags, read_split
from .features import FEATURE_SIZE, build_feature_extractor, extract_features, load_extractor, resolve_weights
from .model import build_sequence_model, feature_statistics


@dataclass(frozen=True)
class Preset:
    name: str
    sampler: str
    epochs: int
    validation: str  # "tail": Keras validation_split; "stratified": shuffled per class
    validation_fraction: float
    standardize: bool
    patience: int | None  # early stopping on val_loss; None trains every epoch
    batch_size: int = 32


PRESETS = {
    "seed": Preset("seed", "first", 10, "tail", 0.3, standardize=False, patience=None),
    "default": Preset("default", "uniform", 300, "stratified", 0.25, standardize=True, patience=25, batch_size=8),
}


class RunExistsError(VclfError):
    exit_code = 2


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: ``fraction`` of each class, chosen at random, for validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(fraction * len(members))) if len(members) > 1 else 0
        val.extend(members[:count])
        train.extend(members[count:])
    return rng.permutation(train), np.sort(val)


def tail_split(count: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Keras' ``validation_split``: the last ``fraction`` of the samples, in table order."""
    boundary = int(count * (1 - fraction))
    return np.arange(boundary), np.arange(boundary, count)


def new_config(data_dir: Path, preset: Preset, weights: str, epochs: int | None, seed: int) -> dict:
    return {
        "data_dir": str(data_dir.resolve()),
        "preset": preset.name,
        "weights": weights,
        "seed": seed,
        "image_size": IMAGE_SIZE,
        "sequence_length": SEQUENCE_LENGTH,
        "feature_size": FEATURE_SIZE,
        **{k: v for k, v in asdict(preset).items() if k != "name"},
        "epochs": epochs or preset.epochs,
    }


def fit(
    data_dir: str | Path,
    run_dir: str | Path,
    preset: str = "default",
    weights: str = "imagenet",
    epochs: int | None = None,
    resume: bool = False,
    seed: int = 0,
) -> dict:
    """Train and evaluate; returns the metrics written to ``metrics.json``."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    train_split, test_split = read_split(data_dir, "train"), read_split(data_dir, "test")
    labels = class_names(train_split)
    y_train = encode_tags(train_split, labels, str(data_dir / "train.csv"))
    y_test = encode_tags(test_split, labels, str(data_dir / "test.csv"))

    config = _start_run(data_dir, run_dir, PRESETS[preset], weights, epochs, seed, resume)
    keras.utils.set_random_seed(config["seed"])
    rd.write_json(run_dir / rd.LABELS, labels)

    (x_train, m_train), (x_test, m_test) = _features(run_dir, config, train_split.paths, test_split.paths, resume)

    model = train_head(run_dir, config, x_train, m_train, y_train, len(labels), resume)
    probabilities = model.predict([x_test, m_test], verbose=0)
    metrics = evaluation_metrics(probabilities, y_test, labels)
    metrics["test_loss"] = float(model.evaluate([x_test, m_test], y_test, verbose=0)[0])
    save_history_plot(run_dir)
    rd.write_json(run_dir / rd.METRICS, metrics)
    return metrics


def train_head(
    run_dir: Path,
    config: dict,
    features: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    resume: bool = False,
) -> keras.Model:
    """Fit the sequence model on extracted features; returns it with its best weights.

    Checkpoints, history and the epoch backup go to ``run_dir``. Seeded from
    the config, so the result does not depend on what ran before.
    """
    keras.utils.set_random_seed(config["seed"])
    if config["validation"] == "tail":
        fit_idx, val_idx = tail_split(len(labels), config["validation_fraction"])
    else:
        fit_idx, val_idx = stratified_split(labels, config["validation_fraction"], config["seed"])
    if len(val_idx) == 0:
        raise BadInputError(f"{config['data_dir']}: too few training clips to hold any out for validation")

    model = build_sequence_model(num_classes, config["sequence_length"], config["feature_size"], config["standardize"])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    if config["standardize"]:
        model.get_layer("standardize").set_statistics(*feature_statistics(features[fit_idx], mask[fit_idx]))

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            run_dir / rd.BEST_WEIGHTS,
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=_best_val_loss(run_dir) if resume else None,
        ),
        keras.callbacks.CSVLogger(run_dir / rd.HISTORY, append=resume),
        keras.callbacks.BackupAndRestore(run_dir / rd.BACKUP),
    ]
    if config["patience"]:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config["patience"]))
    model.fit(
        [features[fit_idx], mask[fit_idx]],
        labels[fit_idx],
        validation_data=([features[val_idx], mask[val_idx]], labels[val_idx]),
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        callbacks=callbacks,
        verbose=2,
    )
    model.load_weights(run_dir / rd.BEST_WEIGHTS)
    return model


def _best_val_loss(run_dir: Path) -> float | None:
    """The lowest val_loss logged so far, so a resumed fit keeps a better checkpoint."""
    history = run_dir / rd.HISTORY
    if not history.is_file() or not (run_dir / rd.BEST_WEIGHTS).is_file():
        return None
    losses = pd.read_csv(history)["val_loss"]
    return float(losses.min()) if len(losses) else None


def _start_run(data_dir: Path, run_dir: Path, preset: Preset, weights: str, epochs: int | None, seed: int, resume: bool) -> dict:
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
    run_dir.mkdir(parents=True, exist_ok=True)
    config = new_config(data_dir, preset, weights, epochs, seed)
    rd.write_json(config_path, config)
    return config


def _features(run_dir: Path, config: dict, train_paths, test_paths, resume: bool):
    """Features for both splits: from the run's cache on resume, else extracted and cached."""
    cache = run_dir / rd.FEATURES
    if resume and cache.is_file():
        with np.load(cache) as saved:
            return (saved["x_train"], saved["m_train"]), (saved["x_test"], saved["m_test"])
    extractor_weights = run_dir / rd.EXTRACTOR_WEIGHTS
    if resume and extractor_weights.is_file():
        extractor = load_extractor(extractor_weights, config["image_size"])
    else:
        extractor = build_feature_extractor(resolve_weights(config["weights"]), config["image_size"])
        rd.atomic_write(extractor_weights, lambda tmp: extractor.save_weights(tmp))
    args = (config["sampler"], config["sequence_length"], config["image_size"])
    x_train, m_train = extract_features(extractor, train_paths, *args, label="Train clips")
    x_test, m_test = extract_features(extractor, test_paths, *args, label="Test clips ")
    rd.atomic_write(cache, lambda tmp: np.savez(tmp, x_train=x_train, m_train=m_train, x_test=x_test, m_test=m_test))
    return (x_train, m_train), (x_test, m_test)


def evaluation_metrics(probabilities: np.ndarray, y_true: np.ndarray, labels: list[str]) -> dict:
    """Test accuracy overall and per class, and the confusion matrix (rows: true class)."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(confusion, (y_true, predicted), 1)
    per_class = {
        label: float(confusion[i, i] / confusion[i].sum()) for i, label in enumerate(labels) if confusion[i].sum()
    }
    return {
        "test_accuracy": float((predicted == y_true).mean()),
        "test_clips": int(len(y_true)),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
        "labels": labels,
    }


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
    rd.atomic_write(run_dir / rd.PLOT, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
