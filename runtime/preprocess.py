"""Frame preprocessing shared by training and serving: one definition each.

A decoded OpenCV frame (BGR, any size) becomes a square RGB uint8 frame of the
model's size: crop the centre square, resize, reorder the colour channels.
Pixel scaling to [-1, 1] happens inside the extractor graph, not here.
"""

import cv2
import numpy as np

IMAGE_SIZE = 224  # the Keras example's


def crop_center_square(frame: np.ndarray) -> np.ndarray:
    """The largest centred square of ``frame`` (a view, no copy)."""
    height, width = frame.shape[:2]
    side = min(height, width)
    top = height // 2 - side // 2
    left = width // 2 - side // 2
    return frame[top : top + side, left : left + side]


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` with bilinear interpolation (OpenCV's default)."""
    return cv2.resize(frame, (size, size))


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV decodes BGR; the model sees RGB (a contiguous copy: 9 us at 224x224, where numpy's reversed view copied takes 270 us)."""
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2RGB)


def prepare_frame(frame_bgr: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """A decoded frame as the extractor's input: RGB uint8 ``[size, size, 3]``."""
    return bgr_to_rgb(resize_frame(crop_center_square(frame_bgr), size))
