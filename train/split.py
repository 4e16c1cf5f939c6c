"""Validation splits: which training clips the model is fitted on and which it is validated on."""

import re
from collections.abc import Sequence

import numpy as np

# UCF101 names its clips v_<Class>_g<group>_c<clip>; a group is one actor in one scene.
UCF101_NAME = re.compile(r"^v_(?P<cls>.+)_g(?P<group>\d+)_c\d+", re.IGNORECASE)


def clip_group(name: str) -> str:
    """The group a clip belongs to: ``<Class>_g<group>`` for UCF101 names, else the name itself."""
    match = UCF101_NAME.match(name)
    return f"{match['cls']}_g{int(match['group']):02d}" if match else name


def tail_split(count: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Keras' ``validation_split``: the last ``fraction`` of the samples, in table order."""
    boundary = int(count * (1 - fraction))
    return np.arange(boundary), np.arange(boundary, count)


def group_split(labels: np.ndarray, groups: Sequence[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices, about ``fraction`` of each class for validation, whole groups at a time.

    Per class, groups are taken for validation in a seeded random order until
    they hold ``round(fraction * clips)`` of the class's clips (at least one
    group), always leaving one group for training: a class with two groups
    or more is on both sides, a class with one group trains only. Where every
    clip is its own group this is a stratified random split.
    """
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    train, val = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        names = list(dict.fromkeys(groups[members]))  # in table order
        target = max(1, int(round(fraction * len(members))))
        taken, held = 0, set()
        for g in rng.permutation(len(names)):
            if taken >= target or len(held) == len(names) - 1:
                break
            held.add(names[g])
            taken += int(np.sum(groups[members] == names[g]))
        in_val = np.isin(groups[members], list(held))
        val.extend(members[in_val])
        train.extend(members[~in_val])
    return np.sort(np.array(train, np.int64)), np.sort(np.array(val, np.int64))
