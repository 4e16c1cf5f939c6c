"""``vclf-run --json``: the exact keys and types of each kind of line, as DESIGN's "JSON output" states them.

Real commands on the session's bundle: a clip, a folder, a live replay of a
clip and the same replay with ``--events``. A key added, renamed or dropped
fails here, so a change to the lines is a change made on purpose.
"""

import json
import shutil
from pathlib import Path

import pytest
from support.commands import run_command

from vclf.runtime.engine import CPU

PREDICTION = {"label": str, "prob": float}
CLIP = {"source": str, "predictions": list, "frames_used": int, "frame_count": int, "provider": str}
LIVE = {
    "source": str,
    "predictions": list,
    "provider": str,
    "frame_index": int,
    "timestamp": float,
    "latency_ms": float,
    "dropped": int,
}
EVENT = {
    "event": str,
    "source": str,
    "label": str,
    "start": float,
    "end": float,
    "start_frame": int,
    "end_frame": int,
    "duration": float,
    "peak": float,
    "mean": float,
}
UNTIL_THE_END = ("end", "end_frame", "duration")  # null on a start line: the action has not ended yet


def assert_shape(line: dict, keys: dict[str, type], nullable: tuple[str, ...] = ()) -> None:
    """Exactly ``keys``, each of its type (an int is not a bool; a float key holds a JSON number with a point)."""
    assert set(line) == set(keys), sorted(set(line) ^ set(keys))
    for key, kind in keys.items():
        if key in nullable:
            assert line[key] is None, key
        else:
            assert type(line[key]) is kind, (key, line[key])


def assert_predictions(line: dict, labels: list[str]) -> None:
    for prediction in line["predictions"]:
        assert_shape(prediction, PREDICTION)
    assert sorted(p["label"] for p in line["predictions"]) == sorted(labels)
    probabilities = [p["prob"] for p in line["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)


def json_lines(*args) -> list[dict]:
    return [json.loads(line) for line in run_command("vclf-run", *args, "--json").stdout.splitlines()]


@pytest.fixture(scope="module")
def labels(bundle) -> list[str]:
    return json.loads((bundle / "bundle.json").read_text())["labels"]


@pytest.fixture(scope="module")
def clip(dataset) -> Path:
    return dataset / "test" / "grow_000.avi"


def test_a_clip_is_one_line_of_source_predictions_frames_and_provider(bundle, clip, labels):
    (line,) = json_lines(clip, "--model", bundle)
    assert_shape(line, CLIP)
    assert_predictions(line, labels)
    assert line["source"] == str(clip) and line["provider"] == CPU
    assert 0 < line["frames_used"] <= 20 and line["frames_used"] <= line["frame_count"]


def test_a_folder_is_a_clip_line_per_file(bundle, dataset, labels, tmp_path):
    for name in ("blink_001.avi", "spin_002.avi"):
        shutil.copy(dataset / "test" / name, tmp_path / name)
    lines = json_lines(tmp_path, "--model", bundle)
    assert sorted(line["source"] for line in lines) == [str(tmp_path / "blink_001.avi"), str(tmp_path / "spin_002.avi")]
    for line in lines:
        assert_shape(line, CLIP)
        assert_predictions(line, labels)


def test_a_live_replay_is_a_line_per_prediction_with_frame_time_latency_and_drops(bundle, clip, labels):
    lines = json_lines(clip, "--model", bundle, "--live", "--no-display")
    assert len(lines) >= 2
    for line in lines:
        assert_shape(line, LIVE)
        assert_predictions(line, labels)
        assert line["source"] == str(clip) and line["dropped"] >= 0
    assert [line["frame_index"] for line in lines] == sorted({line["frame_index"] for line in lines})


def test_live_events_are_start_and_end_lines(bundle, clip, labels):
    # --on 0.25: of four labels the top one always reaches it, so an action starts at once and ends with the replay.
    events = ("--events", "--on", "0.25", "--off", "0.2", "--min-duration", "0", "--min-gap", "0")
    lines = json_lines(clip, "--model", bundle, "--live", "--no-display", *events)
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "end"
    for line in lines:
        assert line["event"] in ("start", "end") and line["source"] == str(clip) and line["label"] in labels
        assert_shape(line, EVENT, nullable=UNTIL_THE_END if line["event"] == "start" else ())
        if line["event"] == "end":
            assert line["end"] >= line["start"] and line["end_frame"] >= line["start_frame"]
