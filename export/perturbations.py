"""Frames as cameras spoil them: brighter, blurred, JPEG-compressed. The precision guard also judges these."""

from collections.abc import Callable

import cv2
import numpy as np

BRIGHTNESS_GAIN = 1.3
BLUR_SIGMA = 1.5
JPEG_QUALITY = 30


def brighter(frame: np.ndarray) -> np.ndarray:
    """An overexposed camera: pixels times 1.3, clipped."""
    return np.clip(frame.astype(np.float32) * BRIGHTNESS_GAIN, 0, 255).astype(np.uint8)


def blurred(frame: np.ndarray) -> np.ndarray:
    """An out-of-focus camera: Gaussian blur, sigma 1.5 px."""
    return cv2.GaussianBlur(frame, (0, 0), BLUR_SIGMA)


def jpeg(frame: np.ndarray) -> np.ndarray:
    """A stream camera's compression: JPEG at quality 30 and back."""
    ok, encoded = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"brightness": brighter, "blur": blurred, "jpeg": jpeg}


def perturb_clip(frames: np.ndarray, kind: str) -> np.ndarray:
    """Every RGB uint8 frame ``[T, S, S, 3]`` of a clip spoiled the same way."""
    return np.stack([PERTURBATIONS[kind](frame) for frame in frames])
