"""The dataset layout of the Keras example.

``DATA_DIR/train.csv`` and ``DATA_DIR/test.csv`` with columns
``video_name,tag``; the files under ``DATA_DIR/train/`` and ``DATA_DIR/test/``.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vclf.runtime.errors import BadInputError

SPLITS = ("train", "test")
COLUMNS = ("video_name", "tag")


@dataclass(frozen=True)
class Split:
    paths: list[Path]
    tags: list[str]

    def __len__(self) -> int:
        return len(self.paths)


def read_split(data_dir: str | Path, split: str) -> Split:
    """One split's clips and tags; a defect in the layout is a one-line BadInputError."""
    data_dir = Path(data_dir)
    table_path = data_dir / f"{split}.csv"
    if not table_path.is_file():
        raise BadInputError(f"{data_dir}: no {split}.csv (expected the layout train.csv, test.csv, train/, test/)")
    try:
        table = pd.read_csv(table_path, dtype=str)
    except (ValueError, pd.errors.ParserError) as exc:
        raise BadInputError(f"{table_path}: unreadable CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise BadInputError(f"{table_path}: missing column(s) {', '.join(missing)}")
    if table.empty:
        raise BadInputError(f"{table_path}: lists no clips")
    paths = [data_dir / split / name for name in table["video_name"]]
    absent = [p for p in paths if not p.is_file()]
    if absent:
        raise BadInputError(f"{absent[0]}: listed in {split}.csv but missing ({len(absent)} missing in all)")
    return Split(paths, table["tag"].tolist())


def class_names(split: Split) -> list[str]:
    """Class names in model output order: sorted, as the example's StringLookup builds them."""
    return sorted(set(split.tags))


def encode_tags(split: Split, labels: list[str], source: str) -> np.ndarray:
    """Tag strings as class indices into ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(split.tags) - index.keys())
    if unknown:
        raise BadInputError(f"{source}: tag(s) not in the training classes: {', '.join(unknown)}")
    return np.array([index[t] for t in split.tags], dtype=np.int64)
