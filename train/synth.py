"""A synthetic action dataset in the Keras example's layout, written as real videos.

Four classes of moving shapes on a noisy background:

- ``grow``: a disc that grows from small to large;
- ``shrink``: the very frames of a ``grow`` clip in reverse order, so only a
  model that sees frame order can tell the two apart;
- ``spin``: a bar turning about the centre, either way round;
- ``blink``: a square switching on and off.

Clips vary in length (some shorter than the model's 20 frames), frame size and
aspect ratio. The object stays inside the centre square that preprocessing
crops. Everything is a function of ``--seed``.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from vclf.runtime.video_writer import write_video

CLASSES = ("blink", "grow", "shrink", "spin")
FRAME_SIZES = ((160, 120), (128, 128), (120, 160), (176, 112), (144, 96))  # width, height
LENGTH_RANGE = (12, 48)


@dataclass(frozen=True)
class ClipSpec:
    """Everything that decides a clip's pixels."""

    label: str
    width: int
    height: int
    length: int
    background: tuple[int, int, int]
    colour: tuple[int, int, int]
    offset: tuple[float, float]  # object centre, as a fraction of the centre square's side
    phase: int  # spin direction (+1/-1) or blink period in frames
    noise_seed: int


def random_spec(label: str, rng: np.random.Generator) -> ClipSpec:
    width, height = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
    background = tuple(int(v) for v in rng.integers(0, 90, 3))
    colour = tuple(int(v) for v in rng.integers(140, 256, 3))
    phase = int(rng.choice([-1, 1])) if label == "spin" else int(rng.integers(2, 6))
    return ClipSpec(
        label=label,
        width=int(width),
        height=int(height),
        length=int(rng.integers(*LENGTH_RANGE)),
        background=background,
        colour=colour,
        offset=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08))),
        phase=phase,
        noise_seed=int(rng.integers(2**31)),
    )


def render_clip(spec: ClipSpec) -> list[np.ndarray]:
    """The clip's BGR frames, in order."""
    if spec.label == "shrink":
        return render_clip(replace(spec, label="grow"))[::-1]
    noise = np.random.default_rng(spec.noise_seed)
    side = min(spec.width, spec.height)
    centre = (
        int(spec.width / 2 + spec.offset[0] * side),
        int(spec.height / 2 + spec.offset[1] * side),
    )
    frames = []
    for t in range(spec.length):
        progress = t / max(spec.length - 1, 1)
        frame = np.empty((spec.height, spec.width, 3), np.uint8)
        frame[:] = spec.background
        _draw(frame, spec, t, progress, centre, side)
        grain = noise.normal(0, 6, frame.shape)
        frames.append(np.clip(frame + grain, 0, 255).astype(np.uint8))
    return frames


def action_stream(
    labels: tuple[str, ...], clips: int, rng: np.random.Generator, length: int = 40, size: tuple[int, int] = (160, 120)
) -> list[np.ndarray]:
    """What a camera sees while the action changes: ``clips`` clips of each of ``labels`` in
    turn, ``length`` frames of ``size`` (width, height) each, every clip a new scene
    rendered as the training clips are."""
    frames = []
    for label in labels:
        for _ in range(clips):
            frames += render_clip(replace(random_spec(label, rng), width=size[0], height=size[1], length=length))
    return frames


def _draw(frame: np.ndarray, spec: ClipSpec, t: int, progress: float, centre: tuple[int, int], side: int) -> None:
    if spec.label == "grow":
        radius = int(side * (0.06 + 0.34 * progress))
        cv2.circle(frame, centre, radius, spec.colour, -1, cv2.LINE_AA)
    elif spec.label == "spin":
        angle = spec.phase * 2 * np.pi * t / 24
        half = side * 0.35
        dx, dy = half * np.cos(angle), half * np.sin(angle)
        start = (int(centre[0] - dx), int(centre[1] - dy))
        end = (int(centre[0] + dx), int(centre[1] + dy))
        cv2.line(frame, start, end, spec.colour, max(2, side // 14), cv2.LINE_AA)
    elif spec.label == "blink":
        if (t // spec.phase) % 2 == 0:
            half = int(side * 0.22)
            cv2.rectangle(frame, (centre[0] - half, centre[1] - half), (centre[0] + half, centre[1] + half), spec.colour, -1)
    else:
        raise ValueError(f"unknown class {spec.label!r}")


def clip_name(label: str, index: int) -> str:
    return f"{label}_{index:03d}.avi"


def default_test_per_class(videos_per_class: int) -> int:
    return max(2, videos_per_class // 3)


def write_dataset(
    out_dir: Path,
    seed: int = 0,
    videos_per_class: int = 24,
    test_per_class: int | None = None,
    progress=None,
) -> dict[str, pd.DataFrame]:
    """Write ``train/``, ``test/``, ``train.csv`` and ``test.csv`` under ``out_dir``.

    ``videos_per_class`` training clips per class, ``test_per_class`` (default
    a third as many, at least 2) test clips. ``progress`` is called once per clip.
    """
    out_dir = Path(out_dir)
    test_per_class = test_per_class or default_test_per_class(videos_per_class)
    tables = {}
    for split_index, (split, count) in enumerate((("train", videos_per_class), ("test", test_per_class))):
        (out_dir / split).mkdir(parents=True, exist_ok=True)
        rows = []
        for class_index, label in enumerate(CLASSES):
            for i in range(count):
                rng = np.random.default_rng([seed, split_index, class_index, i])
                name = clip_name(label, i)
                write_video(out_dir / split / name, render_clip(random_spec(label, rng)))
                rows.append({"video_name": name, "tag": label})
                if progress:
                    progress()
        tables[split] = pd.DataFrame(rows, columns=["video_name", "tag"])
        tables[split].to_csv(out_dir / f"{split}.csv", index=False)
    return tables
