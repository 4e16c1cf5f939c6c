"""The parts of the live path on their own: stride from training, feature window, smoothing, overlay."""

import cv2
import numpy as np
import pytest

from vclf.runtime.classify import Prediction
from vclf.runtime.live import overlay
from vclf.runtime.live.display import display_usable
from vclf.runtime.live.feature_ring import FeatureRing, Smoother
from vclf.runtime.live.overlay import OverlayStats, draw_caption, draw_overlay
from vclf.runtime.sampling import live_stride


@pytest.mark.parametrize(
    ("sampler", "median", "expected"),
    [("uniform", 30, 2), ("uniform", 20, 1), ("uniform", 100, 5), ("uniform", 8, 1), ("first", 100, 1)],
)
def test_live_stride_is_the_training_frame_spacing(sampler, median, expected):
    assert live_stride(sampler, median, 20) == expected


def test_window_presents_a_filling_buffer_back_padded_and_masked():
    window = FeatureRing(4, 2)
    for value in (1, 2):
        window.push(np.full(2, value, np.float32))
    features, mask = window.head_inputs()
    assert features.shape == (1, 4, 2) and mask.shape == (1, 4)
    assert features[0, :, 0].tolist() == [1, 2, 0, 0]
    assert mask[0].tolist() == [True, True, False, False]


def test_window_keeps_the_newest_features_oldest_first():
    window = FeatureRing(4, 2)
    for value in range(1, 8):
        window.push(np.full(2, value, np.float32))
    features, mask = window.head_inputs()
    assert features[0, :, 1].tolist() == [4, 5, 6, 7]
    assert mask.all() and len(window) == 4


def test_cleared_window_starts_filling_again():
    window = FeatureRing(3, 1)
    for value in range(5):
        window.push(np.array([value], np.float32))
    window.clear()
    window.push(np.array([9], np.float32))
    features, mask = window.head_inputs()
    assert features[0, :, 0].tolist() == [9, 0, 0] and mask[0].tolist() == [True, False, False]


def test_smoother_averages_the_last_n_probability_vectors():
    smoother = Smoother(2)
    assert smoother.add(np.array([1.0, 0.0])).tolist() == [1.0, 0.0]
    assert smoother.add(np.array([0.0, 1.0])).tolist() == [0.5, 0.5]
    assert smoother.add(np.array([0.0, 1.0])).tolist() == [0.0, 1.0]
    assert Smoother(1).add(np.array([0.2, 0.8])).tolist() == [0.2, 0.8]


PREDICTIONS = [Prediction("grow", 0.75), Prediction("shrink", 0.2), Prediction("spin", 0.05)]


def bar_lengths(canvas: np.ndarray, rows: int) -> list[int]:
    """Pixels of the bar colour along the middle of each row of the panel."""
    middle = [overlay.PAD + row * overlay.ROW + overlay.BAR_HEIGHT // 2 for row in range(rows)]
    return [int(np.all(canvas[y] == overlay.BAR, axis=1).sum()) for y in middle]


def test_overlay_draws_a_bar_per_label_as_long_as_its_probability():
    frame = np.full((120, 160, 3), 128, np.uint8)
    drawn = draw_overlay(frame, PREDICTIONS, OverlayStats(fps=12.5, latency_ms=40))
    assert bar_lengths(drawn, 3) == [round(p.prob * overlay.BAR_MAX) for p in PREDICTIONS]


def test_overlay_enlarges_small_frames_shades_the_panel_and_leaves_the_rest():
    frame = np.full((120, 160, 3), 128, np.uint8)
    frame[:, 80:] = (0, 0, 200)
    before = frame.copy()
    drawn = draw_overlay(frame, PREDICTIONS, OverlayStats(fps=12.5, latency_ms=40))
    assert np.array_equal(frame, before), "the input frame is not drawn on"
    assert drawn.shape == (360, 480, 3)
    enlarged = cv2.resize(frame, (480, 360))
    panel_bottom = overlay.PAD + overlay.ROW * (len(PREDICTIONS) + 1)
    assert np.array_equal(drawn[panel_bottom:], enlarged[panel_bottom:])
    assert drawn[panel_bottom - 2, 2].max() < 128 * overlay.SHADE + 1, "the panel is shaded"


def test_overlay_writes_the_status_line():
    frame = np.zeros((480, 640, 3), np.uint8)
    fast = draw_overlay(frame, PREDICTIONS[:1], OverlayStats(fps=12.5, latency_ms=40))
    slow = draw_overlay(frame, PREDICTIONS[:1], OverlayStats(fps=3.0, latency_ms=900))
    status_rows = slice(overlay.PAD + overlay.ROW, overlay.PAD + 2 * overlay.ROW)
    assert fast[status_rows].max() > 200 and not np.array_equal(fast[status_rows], slow[status_rows])
    assert np.array_equal(fast[: overlay.PAD + overlay.ROW], slow[: overlay.PAD + overlay.ROW])


def test_caption_is_drawn_along_the_bottom_only():
    frame = np.full((224, 224, 3), 100, np.uint8)
    captioned = draw_caption(frame, "grow 91%")
    assert np.array_equal(captioned[: -overlay.ROW], frame[: -overlay.ROW])
    strip = captioned[-overlay.ROW :]
    assert strip.max() > 200 and strip.min() < 100 * overlay.SHADE + 1


@pytest.mark.parametrize("value", [None, "", ":97", "nonsense"])
def test_no_display_is_usable_without_a_reachable_x_server(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", value)  # nothing listens on :97 here
    assert not display_usable()
