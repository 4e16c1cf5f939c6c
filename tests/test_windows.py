"""Training on live windows: each window is what a live run would show the head."""

import numpy as np

from vclf.runtime.sampling import frame_mask, sample_indices
from vclf.train.windows import MIN_NEW_SHARE, LiveViews, live_windows

LENGTH, WIDTH = 20, 3


def clips(frame_counts: list[int]) -> tuple[np.ndarray, np.ndarray, LiveViews]:
    """Clip ``c``'s sampled frame ``j`` has features ``(c, j, 1)``, so every window says where it came from."""
    features = np.zeros((len(frame_counts), LENGTH, WIDTH), np.float32)
    for c, count in enumerate(frame_counts):
        n = min(count, LENGTH)
        features[c, :n] = [(c, j, 1) for j in range(n)]
    mask = np.stack([frame_mask(min(count, LENGTH), LENGTH) for count in frame_counts])
    return features, mask, LiveViews.of_clips(frame_counts, "uniform", LENGTH)


def test_a_live_view_takes_the_sampled_frame_nearest_each_frame_the_stride_picks():
    views = LiveViews.of_clips([12, 40, 48, 30, 33], "uniform", LENGTH)
    assert views.stride == 2, "the median clip, 33 frames in 20, is spaced 1.65 frames: stride 2"
    assert [v.tolist() for v in views.views[0]] == [list(range(0, 12, 2)), list(range(1, 12, 2))], "all 12 frames sampled"
    sampled = sample_indices("uniform", 48, LENGTH)
    for phase, view in enumerate(views.views[2]):
        picked = np.arange(phase, sampled[-1] + 1, 2)
        assert len(view) == len(picked) and np.all(np.diff(view) >= 0)
        assert np.abs(sampled[view] - picked).max() <= 48 / LENGTH / 2, "never further than half the sampled spacing"


def runs(window: np.ndarray) -> list[tuple[int, list[int]]]:
    """The window cut where the clip changes or its frames start again: (clip, its sampled frames) per run."""
    pieces: list[tuple[int, list[int]]] = []
    for clip, frame, _ in window.astype(int):
        if not pieces or pieces[-1][0] != clip or frame < pieces[-1][1][-1]:
            pieces.append((clip, []))
        pieces[-1][1].append(frame)
    return pieces


def is_part_of_a_view(views: LiveViews, clip: int, frames: list[int], start: bool = False, end: bool = False) -> bool:
    """``frames`` are consecutive frames of one of the clip's live views (its start, its end, as asked)."""
    for view in views.views[clip]:
        view = view.tolist()
        for a in range(len(view) - len(frames) + 1):
            if view[a : a + len(frames)] == frames and (not start or a == 0) and (not end or a + len(frames) == len(view)):
                return True
    return False


def test_each_clip_is_kept_and_followed_by_live_windows_ending_in_it():
    frame_counts = [40, 12, 17, 48, 5, 40, 30, 26]
    features, mask, views = clips(frame_counts)
    labels = np.array([0, 0, 1, 1, 2, 2, 1, 0])
    x, m, y = live_windows(features, mask, labels, views, np.random.default_rng(0), per_clip=12)
    count = len(labels)
    assert np.array_equal(x[:count], features) and np.array_equal(m[:count], mask) and np.array_equal(y[:count], labels)
    kinds = {"opening": 0, "part of one clip": 0, "continuation": 0, "switch": 0, "switch, old label": 0}
    for k, (window, valid, label) in enumerate(zip(x[count:], m[count:], y[count:])):
        i, n = k % count, int(valid.sum())
        assert np.array_equal(valid, frame_mask(n, LENGTH)) and not window[n:].any(), "left-aligned, padding zero"
        *earlier, (last, frames) = runs(window[:n])
        assert last == i, "the window ends in its own clip"
        if not earlier:
            assert is_part_of_a_view(views, i, frames), "the clip alone, as the stride sees it"
            assert label == labels[i]
            kinds["opening" if n < LENGTH else "part of one clip"] += 1
            continue
        assert n == LENGTH and is_part_of_a_view(views, i, frames, start=True), "a full window ending in the clip's opening"
        assert all(is_part_of_a_view(views, c, f, end=True) for c, f in earlier), "earlier clips' last live frames"
        assert all(is_part_of_a_view(views, c, f, start=True) for c, f in earlier[1:]), "whole clips between"
        old = {int(labels[c]) for c, _ in earlier}
        assert len(old) == 1, "one earlier action, repeated"
        if old == {labels[i]}:
            kinds["continuation"] += 1
            assert label == labels[i]
        elif len(frames) >= MIN_NEW_SHARE * LENGTH:
            kinds["switch"] += 1
            assert label == labels[i], "a switch is labelled with the new action once it fills a share"
        else:
            kinds["switch, old label"] += 1
            assert label in old, "until then, with the old one"
    assert all(kinds.values()), kinds


def test_the_windows_are_a_function_of_the_generator_seed():
    features, mask, views = clips([20, 14, 40, 9])
    labels = np.array([0, 1, 2, 3])
    first = live_windows(features, mask, labels, views, np.random.default_rng([3, 7, 1]))
    again = live_windows(features, mask, labels, views, np.random.default_rng([3, 7, 1]))
    other = live_windows(features, mask, labels, views, np.random.default_rng([3, 8, 1]))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
