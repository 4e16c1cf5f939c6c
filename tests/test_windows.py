"""Training on live windows: each window is what a live run would show the head."""

import numpy as np

from vclf.runtime.sampling import frame_mask
from vclf.train.windows import MIN_NEW_SHARE, live_windows

LENGTH, WIDTH = 20, 3


def clips(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Clip ``c``'s frame ``j`` has features ``(c, j, 1)``, so every window says where it came from."""
    features = np.zeros((len(lengths), LENGTH, WIDTH), np.float32)
    for c, n in enumerate(lengths):
        features[c, :n] = [(c, j, 1) for j in range(n)]
    return features, np.stack([frame_mask(n, LENGTH) for n in lengths])


def test_each_clip_is_kept_and_followed_by_one_window_of_its_own_label():
    features, mask = clips([20, 12, 17, 20, 5, 20])
    labels = np.array([0, 0, 1, 1, 2, 2])
    x, m, y = live_windows(features, mask, labels, np.random.default_rng(0))
    assert np.array_equal(x[:6], features) and np.array_equal(m[:6], mask) and np.array_equal(y, np.tile(labels, 2))
    openings = switches = 0
    for i, (window, valid) in enumerate(zip(x[6:], m[6:])):
        n = int(valid.sum())
        assert np.array_equal(valid, frame_mask(n, LENGTH)) and not window[n:].any(), "left-aligned, padding zero"
        sources = window[:n, 0].astype(int)
        own = np.flatnonzero(sources == i)
        assert own.size and np.array_equal(window[own, 1], np.arange(own.size)), "ends with the clip's opening frames"
        if own.size == n:
            openings += 1
            continue
        switches += 1
        before = window[: own[0]]
        other = int(before[0, 0])
        assert labels[other] != labels[i] and own[0] + own.size == n, "another class's frames, then this clip's"
        assert np.array_equal(before[:, 1], np.arange(mask[other].sum() - len(before), mask[other].sum())), "its last frames"
        assert own.size >= MIN_NEW_SHARE * LENGTH
    assert openings and switches


def test_the_windows_are_a_function_of_the_generator_seed():
    features, mask = clips([20, 14, 20, 9])
    labels = np.array([0, 1, 2, 3])
    first = live_windows(features, mask, labels, np.random.default_rng([3, 7, 1]))
    again = live_windows(features, mask, labels, np.random.default_rng([3, 7, 1]))
    other = live_windows(features, mask, labels, np.random.default_rng([3, 8, 1]))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
