"""Reading clips from video files with OpenCV.

Decoding streams: frames are grabbed one by one and only the sampled ones are
decoded, preprocessed and kept, so memory holds at most ``sequence_length``
model-sized frames whatever the clip's length.
"""

from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def opened_video(path: str | Path) -> Iterator[cv2.VideoCapture]:
    """``open_video`` as a context that releases the capture."""
    capture = open_video(path)
    try:
        yield capture
    finally:
        capture.release()


def count_frames(path: str | Path) -> int:
    """Frames in the file: the container's count, or a grab pass when it reports none."""
    with opened_video(path) as capture:
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return reported if reported > 0 else _grab_all(capture)


def count_decodable_frames(path: str | Path) -> int:
    """Frames that really decode, whatever the container claims."""
    with opened_video(path) as capture:
        return _grab_all(capture)


def _grab_all(capture: cv2.VideoCapture) -> int:
    grabbed = 0
    while capture.grab():
        grabbed += 1
    return grabbed


def _decode_at(capture: cv2.VideoCapture, indices: np.ndarray, size: int) -> list[np.ndarray]:
    """Prepared frames at ``indices`` (increasing) from a fresh capture; stops early if the file ends."""
    wanted = set(indices.tolist())
    last = int(indices[-1]) if len(indices) else -1
    frames: list[np.ndarray] = []
    for position in range(last + 1):
        if not capture.grab():
            break
        if position in wanted:
            ok, frame = capture.retrieve()
            if not ok:
                break
            frames.append(prepare_frame(frame, size))
    return frames


def read_clip(
    path: str | Path,
    sampler: str,
    sequence_length: int,
    size: int = IMAGE_SIZE,
) -> Clip:
    """Decode the frames ``sampler`` picks from the video at ``path``.

    The file is opened once when its container's frame count is right. A
    container may report no count, or claim more frames than it holds (a
    truncated file, say); then the frames that really decode are counted and
    the clip is sampled again from those.
    """
    path = Path(path)
    policy = get_sampler(sampler)
    with opened_video(path) as capture:
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        indices = policy.indices(max(frame_count, 0), sequence_length)
        frames = _decode_at(capture, indices, size)
    if frame_count <= 0 or len(frames) < len(indices):
        frame_count = count_decodable_frames(path)
        indices = policy.indices(frame_count, sequence_length)
        with opened_video(path) as capture:
            frames = _decode_at(capture, indices, size)
        if len(frames) < len(indices):
            raise BadInputError(f"{path}: frames fail to decode")
    if frame_count == 0:
        raise BadInputError(f"{path}: video has no frames")
    return Clip(str(path), np.stack(frames), indices, frame_count)


def list_videos(folder: Path) -> list[Path]:
    """Video files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
