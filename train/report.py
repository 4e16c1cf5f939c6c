"""The evaluation report ``fit`` and ``evaluate`` both write: JSON, a confusion-matrix plot and a table.

Per class: precision (of the clips predicted as the class, the share that
are), recall (of the class's clips, the share found) and F1; overall
accuracy; the confusion matrix (rows: true class, columns: predicted); and
every misclassified clip with its three most probable classes.
"""

from pathlib import Path

import numpy as np

from vclf.runtime.classify import prediction_records, rank
from vclf.runtime.files import atomic_write

from .run import CONFUSION_PLOT, METRICS, write_json

TOP_K = 3


def evaluation_report(probabilities: np.ndarray, y_true: np.ndarray, labels: list[str], clips: list[str], split: str) -> dict:
    """The report for class probabilities ``[n, C]`` of ``clips`` whose true classes are ``y_true``."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(confusion, (y_true, predicted), 1)
    per_class = {}
    for i, label in enumerate(labels):
        hits, support, claimed = int(confusion[i, i]), int(confusion[i].sum()), int(confusion[:, i].sum())
        precision = hits / claimed if claimed else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    misclassified = [
        {
            "clip": clips[k],
            "tag": labels[y_true[k]],
            f"top{TOP_K}": prediction_records(rank(probabilities[k], labels, TOP_K)),
        }
        for k in np.flatnonzero(predicted != y_true)
    ]
    return {
        "split": split,
        "accuracy": float((predicted == y_true).mean()),
        "clips": int(len(y_true)),
        "labels": labels,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "misclassified": misclassified,
    }


def format_table(report: dict) -> str:
    """Per-class precision, recall, F1 and clip count, then the overall accuracy."""
    width = max(len("class"), *(len(label) for label in report["labels"]))
    lines = [f"{'class':<{width}}  precision  recall     f1  clips"]
    for label, figures in report["per_class"].items():
        lines.append(
            f"{label:<{width}}  {figures['precision']:9.3f}  {figures['recall']:6.3f}  {figures['f1']:5.3f}  {figures['support']:5d}"
        )
    lines.append(f"{'accuracy':<{width}}  {report['accuracy']:24.3f}  {report['clips']:5d}")
    return "\n".join(lines)


def save_confusion_plot(report: dict, path: Path) -> None:
    """The confusion matrix as a PNG, counts in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion, labels = np.array(report["confusion_matrix"]), report["labels"]
    side = 2 + 0.6 * len(labels)
    figure, axis = plt.subplots(figsize=(side + 1, side))
    image = axis.imshow(confusion, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{report['split']}: accuracy {report['accuracy'] * 100:.1f}% over {report['clips']} clips")
    threshold = confusion.max() / 2
    for (row, column), count in np.ndenumerate(confusion):
        axis.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    figure.colorbar(image, ax=axis)
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


def write_report(folder: Path, report: dict) -> None:
    """``confusion_matrix.png`` then ``metrics.json`` (written last: its presence marks a finished report)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_confusion_plot(report, folder / CONFUSION_PLOT)
    write_json(folder / METRICS, report)
