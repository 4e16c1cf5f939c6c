"""The epoch loop: resumable after a hard kill, with the same result as an uninterrupted run.

Each epoch's randomness (the order of the training clips, the dropout masks)
is a function of ``(seed, epoch)`` alone, drawn afresh at the epoch's start,
so it does not depend on what the process ran before. After every epoch the
model and optimizer weights and the loop's state (epochs done, best
val_loss, epochs without improvement, history) go to ``backup/``: the
weights under a new name, then ``state.json`` naming them, each written
atomically (``history.csv`` and ``best.weights.h5`` before them: an epoch a
kill cuts short is run again and writes them again). A kill at any point leaves a state and the weights it names;
``--resume`` continues from there and early stopping's patience with it.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import numpy as np
import pandas as pd

from vclf.runtime.files import atomic_write

from .keras_import import keras
from .run import BACKUP, BEST_WEIGHTS, HISTORY, write_json
from .windows import WINDOWS_PER_CLIP, LiveViews, live_windows

STATE = "state.json"


@dataclass
class LoopState:
    epoch: int = 0  # epochs done
    weights: str | None = None  # file in backup/ holding the model and optimizer after ``epoch``
    best_val_loss: float | None = None
    wait: int = 0  # epochs since val_loss last improved
    history: list[dict] = field(default_factory=list)


def epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def reseed(model: keras.Model, seed: int, epoch: int) -> None:
    """Set every random source an epoch uses from ``(seed, epoch)``: global seeds and dropout's seed states."""
    value = epoch_seed(seed, epoch)
    keras.utils.set_random_seed(value)
    for index, variable in enumerate(v for v in model.variables if v.name == "seed_generator_state"):
        variable.assign(np.array([value + index, 0], dtype=variable.dtype))


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order the training clips are seen in during ``epoch``."""
    return np.random.default_rng([seed, epoch]).permutation(count)


def batch_means(step, inputs: list[np.ndarray], labels: np.ndarray, batch_size: int, prefix: str = "") -> dict:
    """Run ``step`` (``train_on_batch`` or ``test_on_batch``) over the samples in order, in batches.

    Returns loss and metrics averaged over samples, as ``fit`` logs them.
    Batches go straight to the traced step: ``fit`` called once per epoch
    would rebuild its data pipeline every epoch.
    """
    totals: dict[str, float] = {}
    for start in range(0, len(labels), batch_size):
        batch = slice(start, start + batch_size)
        logs = step([x[batch] for x in inputs], labels[batch], return_dict=True)
        for name, value in logs.items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(labels[batch])
    return {f"{prefix}{name}": total / len(labels) for name, total in totals.items()}


def restore(model: keras.Model, backup: Path) -> LoopState:
    """The loop's state from ``backup`` with the model and optimizer weights it names, or a fresh state."""
    state_file = backup / STATE
    if not state_file.is_file():
        return LoopState()
    state = LoopState(**json.loads(state_file.read_text()))
    model.optimizer.build(model.trainable_variables)
    model.load_weights(backup / state.weights)
    return state


def save(model: keras.Model, backup: Path, state: LoopState) -> None:
    """Weights under a new name, then the state naming them; then the previous weights go."""
    backup.mkdir(exist_ok=True)
    previous, state.weights = state.weights, f"epoch-{state.epoch}.weights.h5"
    atomic_write(backup / state.weights, model.save_weights)
    write_json(backup / STATE, asdict(state))
    if previous and previous != state.weights:
        (backup / previous).unlink(missing_ok=True)


def fit_epochs(
    model: keras.Model,
    run_dir: Path,
    train: tuple[list[np.ndarray], np.ndarray],
    validation: tuple[list[np.ndarray], np.ndarray],
    epochs: int,
    batch_size: int,
    patience: int | None,
    seed: int,
    views: LiveViews | None = None,
) -> LoopState:
    """Train until ``epochs`` or until val_loss has not improved for ``patience`` epochs.

    With ``views`` (how a live run sees each training clip), each epoch adds
    ``WINDOWS_PER_CLIP`` live windows per training clip (see ``windows.py``);
    ``validation`` is taken as given.

    The best weights by val_loss go to ``best.weights.h5`` and every epoch's
    figures to ``history.csv``. Continues from ``run_dir/backup`` when it holds a state.
    """
    backup = run_dir / BACKUP
    state = restore(model, backup)
    if state.epoch:
        click.echo(
            f"Resuming after epoch {state.epoch} (best val_loss {state.best_val_loss:.4f}, {state.wait} epoch(s) without improvement)",
            err=True,
        )
    (inputs, labels), (val_inputs, val_labels) = train, validation
    while state.epoch < epochs and not (patience and state.wait >= patience):
        epoch = state.epoch
        reseed(model, seed, epoch)
        order = epoch_order(len(labels), seed, epoch)
        features, mask, epoch_labels = inputs[0][order], inputs[1][order], labels[order]
        if views:
            features, mask, epoch_labels = live_windows(
                features, mask, epoch_labels, views.subset(order), np.random.default_rng([seed, epoch, 1]), WINDOWS_PER_CLIP
            )
            shuffled = np.random.default_rng([seed, epoch, 2]).permutation(len(epoch_labels))
            features, mask, epoch_labels = features[shuffled], mask[shuffled], epoch_labels[shuffled]
        logs = {
            **batch_means(model.train_on_batch, [features, mask], epoch_labels, batch_size),
            **batch_means(model.test_on_batch, val_inputs, val_labels, batch_size, prefix="val_"),
        }
        row = {"epoch": epoch, **dict(sorted(logs.items()))}
        if state.best_val_loss is None or row["val_loss"] < state.best_val_loss:
            atomic_write(run_dir / BEST_WEIGHTS, model.save_weights)
            state.best_val_loss, state.wait = row["val_loss"], 0
        else:
            state.wait += 1
        state.epoch, state.history = epoch + 1, [*state.history, row]
        atomic_write(run_dir / HISTORY, lambda tmp: pd.DataFrame(state.history).to_csv(tmp, index=False))
        save(model, backup, state)
        figures = " - ".join(f"{name}: {value:.4f}" for name, value in row.items() if name != "epoch")
        click.echo(f"Epoch {epoch + 1}/{epochs} - {figures}")
    return state
