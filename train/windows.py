"""Live windows made from whole training clips: what ``vclf-run --live`` shows the head.

A clip classified whole is one action from its first frame to its last,
sampled across its length. A live run instead classifies the last T frames
of a stream taken every ``live_stride`` frames: while the window fills, the
opening frames of an action alone; later, a part of one long action, or the
end of one action running into the start of the next, where the user wants
the label of what the camera sees now. A head trained on whole clips only
has seen none of these, and it lags or errs on them.

So each epoch adds live windows to the whole training clips, cut from a
stream of training clips as a live run at the bundle's stride would see it.
No extra extraction: each clip is seen at the live stride (``LiveViews``) by
taking, for every frame a live run would sample, the nearest of the clip's
uniformly sampled frames. A window ends at a random live frame of its clip
and is one of:

- an opening: the stream starts with this clip (a window still filling, or
  a part of a clip longer than the window);
- a continuation: clips of the same class came before (the same action,
  repeated); without such windows the jump from one repetition to the next
  reads as another action;
- a switch: clips of another class came before, and the label follows the
  new action once it fills at least ``MIN_NEW_SHARE`` of the window (before,
  the window is labelled with the old one).

Validation gets windows too, drawn once, so that early stopping keeps the
weights that serve both. Windows are left-aligned and masked as
``pad_sequence`` and ``frame_mask`` lay out a window that is still filling.
"""

from dataclasses import dataclass

import numpy as np

from vclf.runtime.sampling import live_stride, sample_indices

OPENING_SHARE = 0.3  # of the windows
CONTINUATION_SHARE = 0.35  # of the windows; the others are switches
MIN_NEW_SHARE = 0.25  # of the window the new action fills before the label follows it
WINDOWS_PER_CLIP = 2  # per training clip and epoch
VALIDATION_WINDOWS = 2  # per validation clip, drawn once


@dataclass(frozen=True)
class LiveViews:
    """How a live run at ``stride`` sees each clip: per clip and phase (the stream's
    offset into the clip, 0 to stride - 1), indices into the clip's sampled features."""

    stride: int
    views: list[list[np.ndarray]]

    @classmethod
    def of_clips(cls, frame_counts: list[int], sampler: str, sequence_length: int) -> "LiveViews":
        """Clips of ``frame_counts`` frames, sampled by ``sampler``, seen at the live stride a
        bundle of them gets (the spacing of the median clip)."""
        stride = live_stride(sampler, float(np.median(frame_counts)), sequence_length)
        views = []
        for count in frame_counts:
            sampled = sample_indices(sampler, count, sequence_length)
            views.append([nearest(sampled, np.arange(phase, sampled[-1] + 1, stride)) for phase in range(stride)])
        return cls(stride, views)

    def subset(self, indices) -> "LiveViews":
        return LiveViews(self.stride, [self.views[i] for i in indices])

    def sequence(self, features: np.ndarray, clip: int, rng: np.random.Generator) -> np.ndarray:
        """Clip ``clip``'s features as a live run samples it, from a random phase."""
        phases = self.views[clip]
        return features[clip, phases[rng.integers(len(phases))]]


def nearest(sampled: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each frame position, the index of the nearest sampled frame (at least one)."""
    if not positions.size:
        positions = sampled[:1]
    return np.abs(sampled[None, :] - positions[:, None]).argmin(axis=1)


def live_windows(
    features: np.ndarray,
    mask: np.ndarray,
    labels: np.ndarray,
    views: LiveViews,
    rng: np.random.Generator,
    per_clip: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clips (``features [N, T, F]``, ``mask [N, T]``, ``labels [N]``, ``views`` of
    those N clips) followed by ``per_clip`` live windows ending in each.

    A continuation or switch with no clip of the class it needs is an opening.
    """
    count, length = mask.shape
    windows = np.zeros((per_clip * count, *features.shape[1:]), features.dtype)
    window_mask = np.zeros((per_clip * count, length), mask.dtype)
    window_labels = np.tile(labels, per_clip)
    for k in range(per_clip * count):
        i = k % count
        draw = rng.random()
        continuation = draw < OPENING_SHARE + CONTINUATION_SHARE
        before = np.flatnonzero((labels == labels[i]) if continuation else (labels != labels[i]))
        sequence = views.sequence(features, i, rng)
        end = int(rng.integers(1, len(sequence) + 1))
        window = sequence[max(0, end - length) : end]
        if draw >= OPENING_SHARE and before.size:
            earlier = rng.choice(before)
            if not continuation and end < MIN_NEW_SHARE * length:
                window_labels[k] = labels[earlier]
            same = np.flatnonzero(labels == labels[earlier])
            while len(window) < length:  # the earlier action repeated until the window is full
                previous = views.sequence(features, earlier, rng)
                window = np.concatenate([previous[max(0, len(previous) + len(window) - length) :], window])
                earlier = rng.choice(same)
        windows[k, : len(window)] = window
        window_mask[k] = np.arange(length) < len(window)
    return np.concatenate([features, windows]), np.concatenate([mask, window_mask]), np.concatenate([labels, window_labels])
