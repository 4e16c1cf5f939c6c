"""Live windows made from whole training clips: what ``vclf-run --live`` shows the head.

A clip classified whole is one action from its first frame to its last. A
live run instead classifies the last T sampled frames of a stream: while
the window fills, the opening frames of an action alone; later, a full
window that may hold the end of one action and the start of the next, where
the user wants the label of what the camera sees now. A head trained on
whole clips only has seen neither, and it lags or errs on them.

So each epoch adds to the whole training clips two windows per clip, cut
from the clips' own sampled features (no extra extraction: a clip's
uniformly sampled frames are spaced as the live stride spaces them), each
ending with the clip's first frames:

- an opening: the first ``e`` sampled frames of a clip, ``e`` from 1 to all;
- a continuation: the last frames of a clip of the same class (the same
  action, repeated) followed by the first frames of this one; a live window
  in the middle of a stretch of one action mostly looks like this, and
  without such windows the jump from one repetition to the next reads as
  another action;
- a switch: the last frames of a clip of another class followed by the
  first frames of this one, labelled with this one once it fills at least
  ``MIN_NEW_SHARE`` of the window.

Validation gets two such windows per clip too, drawn once, so that early
stopping keeps the weights that serve both. Windows are left-aligned and
masked as ``pad_sequence`` and ``frame_mask`` lay out a window that is still
filling.
"""

import numpy as np

OPENING_SHARE = 0.3  # of the windows
CONTINUATION_SHARE = 0.35  # of the windows; the others are switches
MIN_NEW_SHARE = 0.25  # of the window the new action fills before the label follows it
WINDOWS_PER_CLIP = 2  # per training clip and epoch
VALIDATION_WINDOWS = 2  # per validation clip, drawn once


def live_windows(
    features: np.ndarray, mask: np.ndarray, labels: np.ndarray, rng: np.random.Generator, per_clip: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clips (``features [N, T, F]``, ``mask [N, T]``, ``labels [N]``) followed by
    ``per_clip`` live windows cut from each, labelled with that clip's label.

    A continuation or switch window with no clip of the class it needs is an opening.
    """
    count, length = mask.shape
    lengths = mask.sum(axis=1).astype(int)
    windows = np.zeros((per_clip * count, *features.shape[1:]), features.dtype)
    window_mask = np.zeros((per_clip * count, length), mask.dtype)
    for k in range(per_clip * count):
        i = k % count
        draw = rng.random()
        continuation = draw < OPENING_SHARE + CONTINUATION_SHARE
        before = np.flatnonzero((labels == labels[i]) if continuation else (labels != labels[i]))
        if draw < OPENING_SHARE or not before.size:
            window = features[i, : rng.integers(1, lengths[i] + 1)]
        else:
            other = rng.choice(before)
            fewest = 1 if continuation else int(np.ceil(MIN_NEW_SHARE * length))
            new = min(rng.integers(fewest, length), lengths[i])
            old = min(length - new, lengths[other])
            window = np.concatenate([features[other, lengths[other] - old : lengths[other]], features[i, :new]])
        windows[k, : len(window)] = window
        window_mask[k] = np.arange(length) < len(window)
    return (
        np.concatenate([features, windows]),
        np.concatenate([mask, window_mask]),
        np.concatenate([labels, np.tile(labels, per_clip)]),
    )
