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
    x, m, y = live_windows(features, mask, labels, np.random.default_rng(0), per_clip=4)
    count = len(labels)
    assert np.array_equal(x[:count], features) and np.array_equal(m[:count], mask)
    assert np.array_equal(y, np.tile(labels, 5))
    kinds = {"opening": 0, "continuation": 0, "switch": 0}
    for k, (window, valid) in enumerate(zip(x[count:], m[count:])):
        i, n = k % count, int(valid.sum())
        assert np.array_equal(valid, frame_mask(n, LENGTH)) and not window[n:].any(), "left-aligned, padding zero"
        start = max(t for t in range(n) if tuple(window[t, :2]) == (i, 0))
        assert np.array_equal(window[start:n], features[i, : n - start]), "ends with the clip's opening frames"
        if start == 0:
            kinds["opening"] += 1
            continue
        before, other = window[:start], int(window[0, 0])
        assert np.array_equal(before, features[other, mask[other].sum() - start : mask[other].sum()]), "another clip's last frames"
        if labels[other] == labels[i]:
            kinds["continuation"] += 1
        else:
            kinds["switch"] += 1
            assert n - start >= MIN_NEW_SHARE * LENGTH, "a switch is labelled with the new action once it fills a share"
    assert all(kinds.values()), kinds


def test_the_windows_are_a_function_of_the_generator_seed():
    features, mask = clips([20, 14, 20, 9])
    labels = np.array([0, 1, 2, 3])
    first = live_windows(features, mask, labels, np.random.default_rng([3, 7, 1]))
    again = live_windows(features, mask, labels, np.random.default_rng([3, 7, 1]))
    other = live_windows(features, mask, labels, np.random.default_rng([3, 8, 1]))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
