"""What the live window shows, drawn as pure functions of their inputs.

``draw_overlay`` puts the top-k labels with probability bars, the prediction
rate and the latency over a copy of the frame; ``draw_caption`` writes one line
under a frame (the ``--gif`` frames). Neither touches its input or any window.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from ..classify import Prediction

MIN_WIDTH = 480  # small frames are enlarged so the text stays readable
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.5
ROW = 24
PAD = 8
BAR_MAX = 160
BAR_HEIGHT = 14
BAR = (80, 200, 80)  # BGR
TEXT = (255, 255, 255)
SHADE = 0.35  # the panel keeps this much of the frame's brightness


@dataclass(frozen=True)
class OverlayStats:
    fps: float  # predictions per second, recently
    latency_ms: float  # capture to prediction, of the prediction shown


def enlarge(frame: np.ndarray, min_width: int = MIN_WIDTH) -> np.ndarray:
    """A copy at least ``min_width`` pixels wide, aspect ratio kept."""
    height, width = frame.shape[:2]
    if width >= min_width:
        return frame.copy()
    return cv2.resize(frame, (min_width, round(height * min_width / width)))


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0]


def draw_overlay(frame_bgr: np.ndarray, predictions: list[Prediction], stats: OverlayStats) -> np.ndarray:
    """The frame (enlarged when small) with a shaded panel at the top left: one row
    per prediction (label, a bar as long as its probability, the percent), then fps
    and latency."""
    canvas = enlarge(frame_bgr)
    label_width = max((_text_width(p.label) for p in predictions), default=0)
    bar_left = PAD + label_width + PAD
    right = bar_left + BAR_MAX + PAD + _text_width("100%") + PAD
    bottom = PAD + ROW * (len(predictions) + 1)
    panel = canvas[:bottom, :right]
    panel[:] = (panel * SHADE).astype(np.uint8)
    for row, prediction in enumerate(predictions):
        top = PAD + row * ROW
        baseline = top + BAR_HEIGHT - 2
        cv2.putText(canvas, prediction.label, (PAD, baseline), FONT, FONT_SCALE, TEXT, 1, cv2.LINE_AA)
        length = round(prediction.prob * BAR_MAX)
        if length:
            cv2.rectangle(canvas, (bar_left, top), (bar_left + length - 1, top + BAR_HEIGHT - 1), BAR, -1)
        percent = f"{prediction.prob * 100:.0f}%"
        cv2.putText(canvas, percent, (bar_left + BAR_MAX + PAD, baseline), FONT, FONT_SCALE, TEXT, 1, cv2.LINE_AA)
    status = f"{stats.fps:.1f} fps  {stats.latency_ms:.0f} ms"
    cv2.putText(canvas, status, (PAD, bottom - PAD - 4), FONT, FONT_SCALE, TEXT, 1, cv2.LINE_AA)
    return canvas


def draw_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of the frame (any channel order) with white ``text`` on a dark strip along its bottom."""
    canvas = frame.copy()
    strip = canvas[-ROW:]
    strip[:] = (strip * SHADE).astype(np.uint8)
    cv2.putText(canvas, text, (PAD // 2, canvas.shape[0] - PAD), FONT, FONT_SCALE, TEXT, 1, cv2.LINE_AA)
    return canvas
