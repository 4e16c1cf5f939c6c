"""Sampled frames as an animated GIF, as the Keras example's ``to_gif`` shows them."""

from pathlib import Path

import cv2
import numpy as np

from .errors import BadInputError

FRAME_MS = 100


def save_gif(frames_rgb: np.ndarray, path: str | Path, frame_ms: int = FRAME_MS) -> None:
    """Write RGB uint8 frames ``[n, H, W, 3]`` to ``path`` as a looping GIF."""
    animation = cv2.Animation()
    animation.frames = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames_rgb]
    animation.durations = [frame_ms] * len(frames_rgb)
    animation.loop_count = 0
    path = Path(path)
    partial = path.with_name(path.name + ".partial.gif")
    try:
        written = cv2.imwriteanimation(str(partial), animation)
    except cv2.error:
        written = False
    if not written:
        partial.unlink(missing_ok=True)
        raise BadInputError(f"{path}: OpenCV could not write a GIF there")
    partial.replace(path)
