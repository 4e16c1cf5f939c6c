"""The dataset layout of the Keras example, and the checks it must pass before any heavy work.

``DATA_DIR/train.csv`` and ``DATA_DIR/test.csv`` with columns
``video_name,tag``; the files under ``DATA_DIR/train/`` and ``DATA_DIR/test/``.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vclf.runtime.errors import BadInputError
from vclf.runtime.video import opened_video

SPLITS = ("train", "test")
COLUMNS = ("video_name", "tag")
LAYOUT = "expected the layout train.csv, test.csv, train/, test/"


@dataclass(frozen=True)
class Split:
    paths: list[Path]
    tags: list[str]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Row:
    line: int  # in the CSV file, the header being line 1
    video_name: str
    tag: str


@dataclass(frozen=True)
class Problem:
    file: Path
    cause: str
    line: int = 0  # the row at fault; 0 for the file as a whole

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.cause}" if self.line else f"{self.file}: {self.cause}"


class DatasetError(BadInputError):
    """Every problem found in a dataset, one per line after a summary line."""

    def __init__(self, data_dir: Path, problems: list[Problem]):
        self.problems = problems
        if len(problems) == 1:
            super().__init__(str(problems[0]))
        else:
            super().__init__(f"{data_dir}: {len(problems)} problems in the dataset, nothing done")
            self.details = tuple(f"  {p}" for p in problems)


def read_table(data_dir: Path, split: str) -> tuple[list[Row], list[Problem]]:
    """The rows of ``split.csv`` that can be read, and what is wrong with the file and its rows.

    Each line is decoded on its own, so one line with bytes that are not
    UTF-8 is reported by number while the other rows are still checked.
    """
    table = data_dir / f"{split}.csv"
    lines, problems = [], []
    for number, raw in enumerate(table.read_bytes().splitlines(), start=1):
        try:
            lines.append((number, raw.decode("utf-8-sig" if number == 1 else "utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(Problem(table, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})", number))
    records = [(number, fields) for (number, _), fields in zip(lines, csv.reader(text for _, text in lines))]
    records = [(number, fields) for number, fields in records if any(f.strip() for f in fields)]
    if not records:
        return [], [*problems, Problem(table, "lists no clips")]
    _, header = records[0]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [*problems, Problem(table, f"missing column(s) {', '.join(missing)}")]
    columns = [header.index(c) for c in COLUMNS]
    rows = []
    for number, fields in records[1:]:
        name, tag = (fields[i].strip() if i < len(fields) else "" for i in columns)
        if not name:
            problems.append(Problem(table, "no video_name", number))
        elif not tag:
            problems.append(Problem(table, f"{name}: empty tag (the clip has no class)", number))
        else:
            rows.append(Row(number, name, tag))
    if len(records) == 1:
        problems.append(Problem(table, "lists no clips"))
    return rows, problems


def check_rows(data_dir: Path, split: str, rows: list[Row], labels: list[str] | None) -> list[Problem]:
    """Duplicate rows, clips that are missing or do not open as video, tags outside ``labels``."""
    table = data_dir / f"{split}.csv"
    problems, first_seen = [], {}
    for row in rows:
        if row.video_name in first_seen:
            problems.append(Problem(table, f"{row.video_name}: duplicate of line {first_seen[row.video_name]}", row.line))
            continue
        first_seen[row.video_name] = row.line
        cause = video_problem(data_dir / split / row.video_name)
        if cause:
            problems.append(Problem(table, f"{split}/{row.video_name}: {cause}", row.line))
        if labels is not None and row.tag not in labels:
            problems.append(Problem(table, f"{row.video_name}: tag {row.tag!r} is not a training class ({', '.join(labels)})", row.line))
    return problems


def video_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as a clip, or None: it exists, opens and yields a frame."""
    if not path.is_file():
        return "no such file"
    try:
        with opened_video(path) as capture:
            return None if capture.grab() else "video has no frames"
    except BadInputError:
        return "not a video OpenCV can decode"


def check_dataset(data_dir: str | Path, splits: tuple[str, ...] = SPLITS, labels: list[str] | None = None) -> dict[str, Split]:
    """The checked splits; any problem in any of them raises one DatasetError listing them all.

    ``labels`` are the known classes (a bundle's); without them they are the
    training split's, when it is among ``splits``. A folder without the CSV
    files is not the layout at all: that alone is reported.
    """
    data_dir = Path(data_dir)
    absent = [f"{split}.csv" for split in splits if not (data_dir / f"{split}.csv").is_file()]
    if absent:
        raise BadInputError(f"{data_dir}: no {', '.join(absent)} ({LAYOUT})")
    tables, row_problems = {}, {}
    for split in splits:
        tables[split], row_problems[split] = read_table(data_dir, split)
    from_training = labels is None
    if from_training and "train" in tables:
        labels = sorted({row.tag for row in tables["train"]})
    problems = []
    for split in splits:
        known = None if from_training and split == "train" else labels
        found = row_problems[split] + check_rows(data_dir, split, tables[split], known)
        problems += sorted(found, key=lambda p: p.line)
    if problems:
        raise DatasetError(data_dir, problems)
    return {split: Split([data_dir / split / r.video_name for r in rows], [r.tag for r in rows]) for split, rows in tables.items()}


def read_split(data_dir: str | Path, split: str) -> Split:
    """One split, checked on its own (its tags are not compared with training's)."""
    return check_dataset(data_dir, (split,))[split]


def class_names(split: Split) -> list[str]:
    """Class names in model output order: sorted, as the example's StringLookup builds them."""
    return sorted(set(split.tags))


def encode_tags(split: Split, labels: list[str]) -> np.ndarray:
    """Tag strings as class indices into ``labels`` (checked to hold them all)."""
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index[t] for t in split.tags], dtype=np.int64)
