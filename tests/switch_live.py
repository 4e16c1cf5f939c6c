"""Label switch (``make live-switch``, not part of ``make test``): a live run's label follows
a change of action, replayed from a file, over MJPEG-over-HTTP and over RTSP; with
``--events``, grow, shrink, grow again is exactly three actions with their boundaries,
on this replay and on each of ``benchmarks/event_thresholds.py``'s.

The replay is six grow clips followed by six shrink clips, each a new scene
rendered as the training clips are. Before the switch the predictions are
mostly ``grow``; once T sampled frames have passed since the switch (the
window holds shrink frames only) they are mostly ``shrink``.

The model reads real features: ``--backbone efficientnet_lite0 --weights
imagenet``, fitted with ``--live-windows`` on 30 synthetic clips per class
(as many as the test suite's run) at 160 px: half the extraction of the 224
px default, and as many of ``benchmarks/live_switch.py``'s 11 replays pass
(10; README, "Live"). Fit and export take about six minutes on two loaded
cores, which is why this is not in ``make test``; there, on the session's
random-weight run, every transport is checked to classify each window
exactly as the clip path does. The events' defaults were measured on this
model (``benchmarks/event_thresholds.py``; README, "Events").
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.clips import replay_fps
from support.commands import REPO, run_command
from support.fixtures import built
from support.streaming import MjpegServer, RtspServer

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.live.events import MIN_DURATION_S, MIN_GAP_S, OFF_DEFAULT, ON_DEFAULT
from vclf.runtime.video_writer import FPS, write_video
from vclf.train.synth import action_stream

CLIPS_PER_ACTION = 6  # one scene can fool the head; six seldom all do
IMAGE_SIZE = 160  # half of 224's extraction cost
CLIP_FRAMES = 40
SWITCH_FRAME = CLIPS_PER_ACTION * CLIP_FRAMES
MOSTLY = 0.5


def live_bundle(tmp_path_factory, name: str, seed: str, clips_per_class: str, *fit_options: str) -> Path:
    """``vclf-train synth --seed SEED`` → ``fit --live-windows`` with ``fit_options`` → ``vclf-export``, once."""

    def build(out: Path) -> None:
        work = out.parent / f"{name}-work"
        shutil.rmtree(work, ignore_errors=True)
        synth = ("--seed", seed, "--videos-per-class", clips_per_class, "--test-per-class", "10")
        run_command("vclf-train", "synth", work / "data", *synth)
        run_command("vclf-train", "fit", work / "data", "--out", work / "run", "--live-windows", *fit_options, "--cache", work / "cache")
        run_command("vclf-export", work / "run", "--out", out)

    return built(tmp_path_factory, name, build)


@pytest.fixture(scope="module")
def switch_bundle(tmp_path_factory) -> Path:
    """30 clips per class, ImageNet EfficientNet-Lite0 features at 160 px."""
    options = ("--backbone", "efficientnet_lite0", "--weights", "imagenet", "--image-size", str(IMAGE_SIZE))
    return live_bundle(tmp_path_factory, "switch-bundle-lite0", "0", "30", *options)  # the set of make test's run


@pytest.fixture(scope="module")
def engine(switch_bundle) -> Engine:
    return Engine(load_bundle(switch_bundle), "cpu")


@pytest.fixture(scope="module")
def switch_clip(tmp_path_factory, engine) -> Path:
    frames = action_stream(("grow", "shrink"), CLIPS_PER_ACTION, np.random.default_rng(2026), CLIP_FRAMES)
    return write_video(tmp_path_factory.mktemp("switch") / "switch.avi", frames, fps=replay_fps(engine))


def assert_label_follows_the_switch(result: subprocess.CompletedProcess, engine: Engine) -> None:
    """Every frame of the replay read, and the top label mostly grow before the switch and
    mostly shrink from T sampled frames after it."""
    assert f"{2 * SWITCH_FRAME} frames read" in result.stderr, result.stderr[-2000:]
    stride, length = engine.bundle.live_stride, engine.bundle.sequence_length
    top = [(r["frame_index"], r["predictions"][0]["label"]) for r in map(json.loads, result.stdout.splitlines())]
    before = [label == "grow" for index, label in top if index < SWITCH_FRAME]
    after = [label == "shrink" for index, label in top if index >= SWITCH_FRAME + length * stride]
    assert before and after, [index for index, _ in top]
    shares = f"grow before the switch {np.mean(before):.2f}, shrink after {np.mean(after):.2f}"
    print(f"\n{shares} ({len(top)} predictions, stride {stride})")
    assert np.mean(before) > MOSTLY and np.mean(after) > MOSTLY, f"{shares}: {top}"


def test_a_file_replayed_live_follows_the_switch(engine, switch_bundle, switch_clip):
    result = run_command("vclf-run", switch_clip, "--model", switch_bundle, "--live", "--no-display", "--json")
    assert_label_follows_the_switch(result, engine)


def test_mjpeg_over_http_follows_the_switch(engine, switch_bundle, switch_clip):
    server = MjpegServer(switch_clip).start()
    try:
        result = run_command("vclf-run", server.url, "--model", switch_bundle, "--no-display", "--json", "--reconnect", "0", check=False)
    finally:
        server.stop()
    assert_label_follows_the_switch(result, engine)


def test_rtsp_follows_the_switch(engine, switch_bundle, switch_clip):
    with RtspServer(switch_clip) as server:
        result = run_command("vclf-run", server.url, "--model", switch_bundle, "--no-display", "--json", "--reconnect", "0", check=False)
    assert_label_follows_the_switch(result, engine)


def test_events_on_grow_shrink_grow_are_exactly_its_three_actions_with_boundaries_within_t(engine, switch_bundle, tmp_path):
    frames = action_stream(("grow", "shrink"), CLIPS_PER_ACTION, np.random.default_rng(2026), CLIP_FRAMES)
    frames += action_stream(("grow",), CLIPS_PER_ACTION, np.random.default_rng(2027), CLIP_FRAMES)
    fps = replay_fps(engine)
    clip = write_video(tmp_path / "grow-shrink-grow.avi", frames, fps=fps)
    # The defaults were measured at the synthetic set's 25 fps; a slower replay stretches every misread scene in time.
    durations = [f"{seconds * FPS / fps:.3f}" for seconds in (MIN_DURATION_S, MIN_GAP_S)]
    result = run_command(
        "vclf-run",
        clip,
        "--model",
        switch_bundle,
        "--live",
        "--no-display",
        "--json",
        "--events",
        "--min-duration",
        durations[0],
        "--min-gap",
        durations[1],
    )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    print(f"\n{[(e['event'], e['label'], e['start_frame'], e['end_frame']) for e in events]}")
    assert [(e["event"], e["label"]) for e in events] == [
        ("start", "grow"),
        ("end", "grow"),
        ("start", "shrink"),
        ("end", "shrink"),
        ("start", "grow"),
        ("end", "grow"),
    ]
    bundle = engine.bundle
    tolerance = bundle.sequence_length * bundle.live_stride  # T sampled frames, in source frames
    truth = [0, SWITCH_FRAME, 2 * SWITCH_FRAME, len(frames)]
    for event, start, end in zip([e for e in events if e["event"] == "end"], truth, truth[1:]):
        assert abs(event["start_frame"] - start) <= tolerance and abs(event["end_frame"] - end) <= tolerance, (event, start, end)
        assert event["duration"] == pytest.approx(event["end"] - event["start"], abs=1e-5)
        assert 0 < event["mean"] <= event["peak"] <= 1
    assert result.stderr.strip().splitlines()[-1].endswith(", 3 events")


def test_the_default_events_are_exact_on_the_threshold_benchmarks_first_eleven_replays(switch_bundle):
    """The measurement the defaults come from, at the defaults, on its first 11 replays (those the old
    defaults were chosen on; of all 22, 21): each exactly grow, shrink, grow with every boundary within
    T sampled frames, and no flicker put into an action splitting it."""
    assert MIN_DURATION_S == MIN_GAP_S, "the benchmark compares one duration for both"
    settings = ("--replays", 11, "--on-values", ON_DEFAULT, "--off-values", OFF_DEFAULT, "--seconds-values", MIN_DURATION_S)
    command = [sys.executable, REPO / "benchmarks" / "event_thresholds.py", switch_bundle, *settings]
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"\n{result.stdout}")
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("--on")]
    assert "exact 11/11" in line and "flickers put in 0/33 split one" in line and ", 0 ended one" in line, line
