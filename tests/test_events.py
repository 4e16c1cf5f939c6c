"""The event state machine over (timestamp, probabilities), fed directly.

The streams here are the probability curves a live run gives on a replay
of clips with known action boundaries: each action's probability rises over
a few predictions after its clip begins (the window fills with its frames)
and falls as the next clip's frames push it out.
"""

import numpy as np
import pytest

from vclf.runtime.live.events import EventSettings, EventTracker

LABELS = ["grow", "shrink", "spin"]
STEP_S = 0.2  # one prediction per stride-th frame: 25 fps, stride 5
T = 5  # the window's sampled frames: how far behind the truth a boundary may come


def replay(segments: list[tuple[int, int]], ramp: int = 3, seed: int = 0) -> np.ndarray:
    """``[predictions, C]``: for each (label, predictions) segment, that label's probability
    rising linearly over ``ramp`` predictions from the previous label's, with a little noise."""
    rng = np.random.default_rng(seed)
    rows, previous = [], None
    for label, count in segments:
        for k in range(count):
            target = np.full(len(LABELS), 0.05)
            target[label] = 0.9
            if previous is not None and k < ramp:
                weight = (k + 1) / (ramp + 1)
                before = np.full(len(LABELS), 0.05)
                before[previous] = 0.9
                target = weight * target + (1 - weight) * before
            target = np.clip(target + rng.normal(0, 0.02, len(LABELS)), 0, 1)
            rows.append(target / target.sum())
        previous = label
    return np.array(rows)


def feed(tracker: EventTracker, probabilities: np.ndarray) -> list:
    events = []
    for index, row in enumerate(probabilities):
        events += tracker.update(index * STEP_S, row, frame=index)
    return events + tracker.finish()


def test_grow_shrink_grow_replay_gives_exactly_its_three_actions_in_order_with_boundaries_within_t():
    segments = [(0, 20), (1, 20), (0, 20)]  # 4 s each
    truth = [0, 20, 40, 60]
    events = feed(EventTracker(LABELS), replay(segments))

    kinds = [(e.kind, e.label) for e in events]
    assert kinds == [
        ("start", "grow"),
        ("end", "grow"),
        ("start", "shrink"),
        ("end", "shrink"),
        ("start", "grow"),
        ("end", "grow"),
    ]
    ends = [e for e in events if e.kind == "end"]
    for event, start, end in zip(ends, truth, truth[1:]):
        assert abs(event.start_frame - start) <= T and abs(event.end_frame - end) <= T, (event, start, end)
        assert event.duration == pytest.approx((event.end_frame - event.start_frame) * STEP_S)
        assert 0.8 < event.mean <= event.peak <= 1.0
    assert ends[-1].end_frame == 59, "the source's end closes the last action at its last prediction"


def test_a_single_prediction_below_off_inside_an_action_does_not_split_it():
    probabilities = replay([(1, 30)])
    probabilities[15] = [0.6, 0.3, 0.1]  # shrink flickers far below --off for one prediction
    events = feed(EventTracker(LABELS), probabilities)
    assert [(e.kind, e.label) for e in events] == [("start", "shrink"), ("end", "shrink")]
    assert events[-1].start_frame == 0 and events[-1].end_frame == 29
    assert events[-1].mean == pytest.approx(np.mean(probabilities[:29, 1])), "the dip belongs to the action"


def test_a_dip_below_off_longer_than_min_gap_ends_the_action_at_its_first_prediction_below():
    probabilities = replay([(1, 10)])
    quiet = np.full((10, 3), 1 / 3)  # no action at all
    events = feed(EventTracker(LABELS, EventSettings(min_duration=1.0, min_gap=0.5)), np.vstack([probabilities, quiet]))
    assert [(e.kind, e.label, e.end_frame) for e in events] == [("start", "shrink", None), ("end", "shrink", 10)]
    assert events[-1].peak == pytest.approx(probabilities[:, 1].max())


def test_a_spike_above_on_shorter_than_min_duration_starts_nothing():
    probabilities = np.full((20, 3), 1 / 3)
    probabilities[8:10] = [0.9, 0.05, 0.05]  # 0.4 s above --on, less than 0.5 s
    assert feed(EventTracker(LABELS, EventSettings(min_duration=0.5)), probabilities) == []


def test_an_action_starts_at_its_first_prediction_at_or_above_on_once_it_lasted_min_duration():
    probabilities = np.full((20, 3), 1 / 3)
    probabilities[5:] = [0.05, 0.05, 0.9]
    tracker = EventTracker(LABELS, EventSettings(min_duration=0.6))
    starts = [(index, e) for index, row in enumerate(probabilities) for e in tracker.update(index * STEP_S, row, index)]
    assert [(index, e.kind, e.label, e.start_frame) for index, e in starts] == [(8, "start", "spin", 5)]
    assert tracker.counts == {"start": 1, "end": 0}


SHRINK, SPIN, QUIET = [0.05, 0.9, 0.05], [0.05, 0.05, 0.9], [1 / 3] * 3


def starts_as_they_come(tracker: EventTracker, probabilities: np.ndarray) -> list[tuple[int, str, int]]:
    """(prediction that gave it, label, start_frame) of each start."""
    updates = [(index, e) for index, row in enumerate(probabilities) for e in tracker.update(index * STEP_S, np.asarray(row), index)]
    return [(index, e.label, e.start_frame) for index, e in updates if e.kind == "start"]


def test_a_flicker_while_an_action_builds_up_does_not_move_its_start():
    probabilities = np.tile(SHRINK, (30, 1))
    probabilities[3] = [0.9, 0.05, 0.05]  # grow for one prediction, before shrink has lasted --min-duration (5 predictions)
    starts = starts_as_they_come(EventTracker(LABELS, EventSettings(min_duration=1.0)), probabilities)
    assert starts == [(6, "shrink", 0)], "known one prediction later than without the flicker, starting where shrink did"


@pytest.mark.parametrize("dip, start", [(2, 2), (3, 8)])
def test_a_candidate_is_held_through_a_dip_shorter_than_its_lead_and_starts_over_after_one_as_long(dip, start):
    probabilities = np.tile(QUIET, (30, 1))
    probabilities[2:] = SPIN
    probabilities[5 : 5 + dip] = QUIET  # spin led 0.4 s (predictions 2 to 4), then nothing for `dip` predictions
    assert [s[1:] for s in starts_as_they_come(EventTracker(LABELS, EventSettings(min_duration=1.0)), probabilities)] == [("spin", start)]


def test_a_lone_prediction_of_another_label_does_not_join_a_later_misread_into_an_action():
    probabilities = np.tile(SHRINK, (40, 1))
    probabilities[10] = SPIN
    probabilities[12:16] = SPIN  # 0.6 s of spin: with the lone one before, 1 s from the first to the last
    events = feed(EventTracker(LABELS, EventSettings(min_duration=1.0)), probabilities)
    assert [(e.kind, e.label, e.start_frame, e.end_frame) for e in events] == [("start", "shrink", 0, None), ("end", "shrink", 0, 39)]


def test_a_start_is_known_at_most_min_duration_plus_min_gap_after_its_first_prediction():
    settings = EventSettings(min_duration=1.0, min_gap=0.6)
    rng = np.random.default_rng(0)
    starts = []
    for lead in np.linspace(0.3, 0.9, 13):  # spin the highest in this share of the predictions
        probabilities = np.where(rng.random((200, 1)) < lead, SPIN, QUIET)
        starts += starts_as_they_come(EventTracker(LABELS, settings), probabilities)
    lags = [(index - start_frame) * STEP_S for index, _, start_frame in starts]
    assert len(starts) > 10 and max(lags) <= settings.min_duration + settings.min_gap + 1e-9, sorted(lags)[-5:]
    assert max(lags) > settings.min_duration, "some starts were held through dips"


def test_another_action_starting_ends_the_current_one_at_its_start():
    probabilities = np.vstack([np.tile([0.9, 0.05, 0.05], (10, 1)), np.tile([0.3, 0.65, 0.05], (10, 1))])
    events = feed(EventTracker(LABELS, EventSettings(on=0.6, off=0.2, min_duration=1.0)), probabilities)  # grow never falls below --off
    assert [(e.kind, e.label) for e in events] == [("start", "grow"), ("end", "grow"), ("start", "shrink"), ("end", "shrink")]
    assert events[1].end_frame == events[2].start_frame == 10
    assert events[1].peak == pytest.approx(0.9), "the current action's figures stop where the next starts"


def test_finish_without_an_action_gives_no_event():
    tracker = EventTracker(LABELS)
    assert tracker.finish() == []
    tracker.update(0.0, np.array([0.5, 0.3, 0.2]))
    assert tracker.finish() == []


@pytest.mark.parametrize("settings", [{"on": 0.3, "off": 0.5}, {"min_gap": -1.0}, {"on": 1.2}])
def test_settings_out_of_range_are_refused(settings):
    with pytest.raises(ValueError):
        EventSettings(**settings)
