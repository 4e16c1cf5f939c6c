"""The run dir that ``vclf-train fit`` writes and ``vclf-export`` reads.

``config.json`` (every setting that shaped the run), ``labels.json`` (class
names in model output order), ``extractor.weights.h5`` (the frame extractor the
features came from), ``best.weights.h5`` (the sequence model's best epoch by
val_loss), ``history.csv``, ``metrics.json`` (the evaluation report, written
last: its presence marks a finished run), ``history.png``,
``confusion_matrix.png``, ``features.npz`` (the run's features, reused by
``--resume``) and ``backup/`` while the fit is unfinished.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from vclf.runtime.errors import BadModelError
from vclf.runtime.files import atomic_write
from vclf.runtime.sampling import ClipSampling

from .backbones import DEFAULT_BACKBONE
from .features import load_extractor
from .keras_import import keras
from .model import build_sequence_model

CONFIG = "config.json"
LABELS = "labels.json"
EXTRACTOR_WEIGHTS = "extractor.weights.h5"
BEST_WEIGHTS = "best.weights.h5"
HISTORY = "history.csv"
METRICS = "metrics.json"
PLOT = "history.png"
CONFUSION_PLOT = "confusion_matrix.png"
FEATURES = "features.npz"
BACKUP = "backup"


def write_json(path: Path, value) -> None:
    """Write JSON atomically: a reader sees the old file or the whole new one."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2) + "\n"))


def config_backbone(config: dict) -> str:
    """The run's backbone; runs made before ``--backbone`` existed used InceptionV3."""
    return config.get("backbone", DEFAULT_BACKBONE)


def config_sampling(config: dict) -> ClipSampling:
    """How the run read its clips."""
    return ClipSampling(config["sampler"], config["sequence_length"], config["image_size"])


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    labels: list[str]

    def extractor(self) -> keras.Model:
        """The frame extractor exactly as the run used it."""
        return load_extractor(self.path / EXTRACTOR_WEIGHTS, self.config["image_size"], config_backbone(self.config))

    def metrics(self) -> dict:
        """The run's evaluation report (``metrics.json``)."""
        return json.loads((self.path / METRICS).read_text())

    def sequence_model(self) -> keras.Model:
        """The sequence model with its best weights."""
        model = build_sequence_model(
            len(self.labels),
            self.config["sequence_length"],
            self.config["feature_size"],
            self.config["standardize"],
        )
        model.load_weights(self.path / BEST_WEIGHTS)
        return model


def load_run(path: str | Path) -> Run:
    """A finished run dir; anything missing is a one-line BadModelError."""
    path = Path(path)
    if not path.is_dir():
        raise BadModelError(f"{path}: no such run dir")
    for name in (CONFIG, LABELS, EXTRACTOR_WEIGHTS, BEST_WEIGHTS, FEATURES, METRICS):
        if not (path / name).is_file():
            raise BadModelError(f"{path}: not a finished run (no {name}); run vclf-train fit first")
    try:
        config = json.loads((path / CONFIG).read_text())
        labels = json.loads((path / LABELS).read_text())
    except ValueError as exc:
        raise BadModelError(f"{path}: unreadable run files ({exc})") from None
    return Run(path, config, labels)
