"""Writing frames to a video file with OpenCV: the synthetic training set's clips, and the clips tests replay."""

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

FPS = 25.0  # the frame rate of the synthetic clips
FOURCC = "MJPG"


def write_video(
    path: Path, frames: Iterable[np.ndarray], fps: float = FPS, size: tuple[int, int] | None = None, fourcc: str = FOURCC
) -> Path:
    """Write BGR frames to ``path`` with OpenCV (Motion-JPEG in AVI unless ``fourcc`` says otherwise).

    ``size`` (width, height) defaults to the frames' own; give it to write a
    video with no frames at all. ``frames`` may be any iterable when ``size`` is given.
    """
    if size is None:
        frames = list(frames)
        height, width = frames[0].shape[:2]
        size = (width, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write {fourcc} video")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path
