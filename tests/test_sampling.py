import numpy as np
import pytest

from vclf.runtime.sampling import SAMPLERS, frame_mask, get_sampler, pad_sequence, sample_indices

T = 20


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("count", [1, 7, 19, 20, 21, 47, 300, 10_000])
def test_indices_are_in_range_strictly_increasing_and_at_most_t(name, count):
    indices = sample_indices(name, count, T)
    assert len(indices) == min(count, T)
    assert indices.min() >= 0 and indices.max() < count
    assert np.all(np.diff(indices) > 0)


@pytest.mark.parametrize("count", [20, 35, 300])
def test_first_sampler_takes_the_first_n_frames(count):
    assert sample_indices("first", count, T).tolist() == list(range(T))


@pytest.mark.parametrize("count", [21, 47, 300, 10_000])
def test_uniform_sampler_spreads_frames_across_whole_clip(count):
    indices = sample_indices("uniform", count, T)
    segment = count / T
    assert indices[0] < segment, "the opening of the clip is represented"
    assert indices[-1] >= count - segment, "the end of the clip is represented"
    gaps = np.diff(indices)
    assert gaps.max() - gaps.min() <= 1, "frames are evenly spaced"


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_short_clip_yields_every_frame_and_a_mask_for_the_rest(name):
    indices = sample_indices(name, 7, T)
    assert indices.tolist() == list(range(7))
    mask = frame_mask(len(indices), T)
    assert mask.tolist() == [True] * 7 + [False] * 13


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_empty_clip_yields_no_indices(name):
    assert len(sample_indices(name, 0, T)) == 0


def test_pad_sequence_back_pads_with_zeros():
    padded = pad_sequence(np.ones((3, 4), np.float32), 5)
    assert padded.shape == (5, 4)
    assert padded[:3].tolist() == [[1.0] * 4] * 3 and not padded[3:].any()


def test_unknown_sampler_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="first, uniform"):
        get_sampler("random")
