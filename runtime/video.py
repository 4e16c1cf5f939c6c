"""Reading clips from video files with OpenCV.

Decoding streams: frames are grabbed one by one and only the sampled ones are
decoded, preprocessed and kept, so memory holds at most ``sequence_length``
model-sized frames whatever the clip's length.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import BadInputError
from .preprocess import IMAGE_SIZE, prepare_frame
from .sampling import get_sampler

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class Clip:
    """The sampled frames of one video: RGB uint8 ``[n, size, size, 3]``, in clip order."""

    source: str
    frames: np.ndarray
    indices: np.ndarray
    frame_count: int


def open_video(path: str | Path) -> cv2.VideoCapture:
    """An opened capture for a video file, or a one-line BadInputError naming it."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if not path.is_file():
        raise BadInputError(f"{path}: not a file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise BadInputError(f"{path}: not a video OpenCV can decode")
    return capture


def count_frames(path: str | Path) -> int:
    """Frames in the file: the container's count, or a full grab pass when it has none."""
    capture = open_video(path)
    try:
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if reported > 0:
            return reported
        counted = 0
        while capture.grab():
            counted += 1
        return counted
    finally:
        capture.release()


def _decode_at(path: Path, indices: np.ndarray, size: int) -> list[np.ndarray]:
    """Prepared frames at ``indices`` (increasing); stops early if the file ends."""
    wanted = set(indices.tolist())
    last = int(indices[-1]) if len(indices) else -1
    frames: list[np.ndarray] = []
    capture = open_video(path)
    try:
        for position in range(last + 1):
            if not capture.grab():
                break
            if position in wanted:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                frames.append(prepare_frame(frame, size))
    finally:
        capture.release()
    return frames


def read_clip(
    path: str | Path,
    sampler: str,
    sequence_length: int,
    size: int = IMAGE_SIZE,
) -> Clip:
    """Decode the frames ``sampler`` picks from the video at ``path``.

    Some containers over-report their frame count; when the file ends before
    the last sampled frame, the clip is sampled again from the frames it
    really has.
    """
    path = Path(path)
    policy = get_sampler(sampler)
    frame_count = count_frames(path)
    while True:
        if frame_count == 0:
            raise BadInputError(f"{path}: video has no frames")
        indices = policy.indices(frame_count, sequence_length)
        frames = _decode_at(path, indices, size)
        if len(frames) == len(indices):
            break
        frame_count = _frames_before_end(path, frame_count)
    return Clip(str(path), np.stack(frames), indices, frame_count)


def _frames_before_end(path: Path, reported: int) -> int:
    """How many frames really decode, for a file whose count was ``reported``."""
    capture = open_video(path)
    try:
        decoded = 0
        while decoded < reported and capture.read()[0]:
            decoded += 1
        return decoded if decoded < reported else reported - 1
    finally:
        capture.release()


def list_videos(folder: Path) -> list[Path]:
    """Video files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
