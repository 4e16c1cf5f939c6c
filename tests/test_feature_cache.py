"""The feature cache: a clip is extracted once per content and extractor, whatever the run."""

import os
import shutil

import keras
import numpy as np
import pytest

from vclf.runtime.sampling import ClipSampling
from vclf.train.cache import FeatureCache
from vclf.train.features import build_feature_extractor, extract_features, extractor_identity

SIZE = 75  # InceptionV3's smallest input keeps these tests quick
LENGTH = 20


def random_extractor(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_feature_extractor(None, SIZE)


@pytest.fixture(scope="module")
def extractor() -> keras.Model:
    return random_extractor(0)


@pytest.fixture
def clips(tiny_dataset, tmp_path):
    """A private copy of the tiny training clips, free to touch and rewrite."""
    folder = shutil.copytree(tiny_dataset / "train", tmp_path / "clips")
    return sorted(folder.glob("*.avi"))


def settings(extractor, sampler: str = "uniform") -> dict:
    return {"sampler": sampler, "sequence_length": LENGTH, "image_size": SIZE, **extractor_identity(extractor)}


def extract(extractor, clips, folder):
    cache = FeatureCache(folder, settings(extractor))
    return extract_features(extractor, clips, ClipSampling("uniform", LENGTH, SIZE), cache=cache), cache


def test_a_second_extraction_reads_every_clip_from_the_cache(extractor, clips, tmp_path):
    first, _ = extract(extractor, clips, tmp_path / "cache")
    again, _ = extract(extractor, clips, tmp_path / "cache")
    assert (first.from_cache, first.extracted) == (0, len(clips))
    assert (again.from_cache, again.extracted) == (len(clips), 0)
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.masks, first.masks)
    assert not first.masks.all(), "short clips keep their mask through the cache"


def test_a_touched_or_rewritten_clip_alone_is_extracted_again(extractor, clips, tmp_path):
    first, _ = extract(extractor, clips, tmp_path / "cache")
    os.utime(clips[0])  # same bytes, new modification time
    shutil.copy(clips[2], clips[1])  # new bytes
    again, _ = extract(extractor, clips, tmp_path / "cache")
    assert (again.from_cache, again.extracted) == (len(clips) - 2, 2)
    # Extracted in other batches than before: equal to float rounding.
    np.testing.assert_allclose(again.features[1], first.features[2], rtol=1e-4, atol=1e-6)


def test_a_truncated_or_damaged_entry_is_recomputed(extractor, clips, tmp_path):
    first, cache = extract(extractor, clips, tmp_path / "cache")
    truncated, damaged = (cache.entry(cache.key(clip)) for clip in clips[:2])
    truncated.write_bytes(truncated.read_bytes()[:300])
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    again, cache = extract(extractor, clips, tmp_path / "cache")
    assert (again.from_cache, again.extracted, cache.recomputed) == (len(clips) - 2, 2, 2)
    np.testing.assert_allclose(again.features, first.features, rtol=1e-4, atol=1e-6)
    third, cache = extract(extractor, clips, tmp_path / "cache")
    assert (third.extracted, cache.recomputed) == (0, 0), "the recomputed entries were stored whole"


def test_entries_leave_no_scratch_files(extractor, clips, tmp_path):
    extract(extractor, clips, tmp_path / "cache")
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == len(clips) and all(p.suffix == ".npz" and not p.name.startswith(".") for p in files)


def test_random_weights_under_another_seed_are_another_extractor(extractor):
    assert extractor_identity(random_extractor(0)) == extractor_identity(extractor), "same seed, same weights"
    assert extractor_identity(random_extractor(1)) != extractor_identity(extractor)
    assert extractor_identity(extractor)["backbone"] == "inception_v3"


def test_another_extractor_or_sampler_does_not_read_the_entries(extractor, clips, tmp_path):
    _, cache = extract(extractor, clips[:1], tmp_path / "cache")
    assert cache.load(cache.key(clips[0])) is not None
    other_weights = {**settings(extractor), "weights_sha256": "0" * 64}
    for other in (other_weights, settings(extractor, sampler="first")):
        elsewhere = FeatureCache(tmp_path / "cache", other)
        assert elsewhere.load(elsewhere.key(clips[0])) is None
