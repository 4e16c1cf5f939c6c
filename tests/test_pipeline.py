"""Folders and globs: decoding in worker processes, batches across clips, outcomes in input order."""

import shutil

import numpy as np
import pytest
from support.decoders import decode_or_abort

from vclf.runtime.classify import Classifier
from vclf.runtime.clips.folder import FolderPipeline, next_batch
from vclf.runtime.engine import EXTRACT_BATCH
from vclf.runtime.preprocess import IMAGE_SIZE
from vclf.runtime.sampling import ClipSampling
from vclf.runtime.video import count_frames, read_clip


@pytest.fixture(scope="module")
def classifier(bundle) -> Classifier:
    return Classifier.from_folder(bundle, "cpu")


@pytest.fixture(scope="module")
def clips(dataset) -> list:
    """The three shortest test clips: few frames to extract, each a different length under the sequence length."""
    by_length = {}
    for path in sorted((dataset / "test").glob("*.avi")):
        by_length.setdefault(count_frames(path), path)
    return [by_length[length] for length in sorted(by_length)[:3]]


@pytest.fixture(scope="module")
def alone(classifier, clips) -> dict:
    """Each clip classified on its own, through the single-file path."""
    return {path: classifier.classify_file(path) for path in clips}


def probabilities(result) -> dict[str, float]:
    return {p.label: p.prob for p in result.predictions}


def test_outcomes_come_in_input_order_and_match_classifying_each_clip_alone(classifier, clips, alone):
    files = clips[::-1]  # not the order they were chosen in
    with FolderPipeline(classifier.bundle, files, "cpu", workers=2) as pipeline:
        outcomes = list(pipeline.outcomes())
    assert [o.path for o in outcomes] == files
    for outcome in outcomes:
        expected = alone[outcome.path]
        assert outcome.error is None and outcome.result.source == expected.source
        assert [p.label for p in outcome.result.predictions] == [p.label for p in expected.predictions]
        np.testing.assert_allclose(list(probabilities(outcome.result).values()), list(probabilities(expected).values()), atol=1e-5)
        assert outcome.result.clip.frame_count == expected.clip.frame_count


def test_clips_of_different_lengths_classified_together_get_their_own_probabilities(classifier, clips, alone):
    decoded = [alone[path].clip for path in clips]
    assert len({len(clip.frames) for clip in decoded}) == len(decoded), "the batch mixes clip lengths"
    together = classifier.probabilities_of(decoded)
    labels = classifier.bundle.labels
    expected = [[probabilities(alone[path])[label] for label in labels] for path in clips]
    np.testing.assert_allclose(together, expected, atol=1e-5)


def test_a_file_that_kills_its_decoder_is_reported_for_that_file_and_the_run_goes_on(classifier, clips, tmp_path):
    crash = tmp_path / "crash.avi"
    shutil.copy(clips[0], crash)
    files = [clips[0], crash, clips[1]]
    with FolderPipeline(classifier.bundle, files, "cpu", workers=1, decode=decode_or_abort) as pipeline:
        outcomes = list(pipeline.outcomes())
    assert [o.path for o in outcomes] == files
    assert "crash.avi" in str(outcomes[1].error) and "decoder crashed" in str(outcomes[1].error)
    assert outcomes[1].error.exit_code == 3
    assert all(o.error is None for o in outcomes[:1] + outcomes[2:]), "the worker that died was replaced"


class ReadyClips:
    """Stands in for a DecoderPool whose workers have already decoded ``items``."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, block=True):
        return self.items.pop(0) if self.items else None


def test_a_batch_takes_the_earliest_decoded_clips_that_fit_an_extractor_batch_and_keeps_the_rest(clips):
    clip = read_clip(clips[0], ClipSampling("uniform", 20, IMAGE_SIZE))
    fit = EXTRACT_BATCH // len(clip.frames)
    decoded = [(position, clip) for position in (5, 3, 9, 0, 1, 7, 2, 8, 4, 6)]  # in finishing order
    waiting = []
    batch = next_batch(ReadyClips(decoded), waiting)
    assert [position for position, _ in batch] == list(range(fit))
    assert sorted(position for position, _ in waiting) == list(range(fit, 10))
