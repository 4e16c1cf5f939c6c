"""``vclf-run`` live: file replays, MJPEG over HTTP, RTSP, slow inference, reconnects, the window.

The label-switch clip is grow clips followed by shrink clips, rendered as the
training clips are; whatever carries it (a file replayed with ``--live``, an
HTTP server, an RTSP server), the predictions follow the switch within one
window of sampled frames.
"""

import json
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import BackgroundCommand, counting_frames, run_command
from streaming import MjpegServer, RtspServer
from vclf.runtime.bundle import load_bundle
from vclf.runtime.capture import BUFFER_FRAMES
from vclf.runtime.engine import Engine
from vclf.runtime.live import run_live
from vclf.runtime.overlay import BAR
from vclf.train.synth import random_spec, render_clip, write_video

CLIPS_PER_LABEL = 2
CLIP_FRAMES = 40  # inside the training clips' 12-47
SWITCH_FRAME = CLIPS_PER_LABEL * CLIP_FRAMES
REPLAY_FPS = 16.0  # the 160-frame replay takes 10 s; one core extracts a frame in well under 2 / 16 s
LIVE_KEYS = {"source", "predictions", "provider", "frame_index", "timestamp", "latency_ms", "dropped"}


@pytest.fixture(scope="module")
def switch_clip(tmp_path_factory) -> Path:
    """Grow clips then shrink clips, each like a training clip, one after the other in one video."""
    rng = np.random.default_rng(2026)
    frames = []
    for label in ["grow"] * CLIPS_PER_LABEL + ["shrink"] * CLIPS_PER_LABEL:
        spec = replace(random_spec(label, rng), width=160, height=120, length=CLIP_FRAMES)
        frames += render_clip(spec)
    return write_video(tmp_path_factory.mktemp("switch") / "switch.avi", frames, fps=REPLAY_FPS)


@pytest.fixture(scope="module")
def stride(bundle) -> int:
    return load_bundle(bundle).live_stride


def live_records(stdout: str | list[str]) -> list[dict]:
    lines = stdout.splitlines() if isinstance(stdout, str) else stdout
    return [json.loads(line) for line in lines]


def top_labels(records: list[dict]) -> list[str]:
    return [r["predictions"][0]["label"] for r in records]


def assert_follows_the_switch(records: list[dict], stride: int, sequence_length: int = 20) -> None:
    """Mostly grow before the switch; mostly shrink once a whole window lies after it."""
    before = [r for r in records if r["frame_index"] < SWITCH_FRAME]
    after = [r for r in records if r["frame_index"] >= SWITCH_FRAME + sequence_length * stride]
    assert len(before) >= SWITCH_FRAME // stride * 0.8 and len(after) >= 5, [r["frame_index"] for r in records]
    assert top_labels(before).count("grow") >= 0.7 * len(before), top_labels(before)
    assert top_labels(after).count("shrink") >= 0.7 * len(after), top_labels(after)


def test_live_replay_of_a_file_follows_the_label_switch(bundle, switch_clip, stride, tmp_path):
    gif = tmp_path / "last.gif"
    result = run_command("vclf-run", switch_clip, "--model", bundle, "--live", "--no-display", "--json", "--gif", gif)
    records = live_records(result.stdout)
    assert all(set(r) >= LIVE_KEYS for r in records)
    assert [r["frame_index"] for r in records] == sorted(r["frame_index"] for r in records)
    assert all(r["frame_index"] % stride == 0 for r in records), "every stride-th source frame"
    assert_follows_the_switch(records, stride)
    summary = result.stderr.strip().splitlines()[-1]
    assert f"{SWITCH_FRAME * 2} frames read" in summary and "latency p50" in summary

    ok, animation = cv2.imreadanimation(str(gif))
    assert ok and len(animation.frames) == 20, "the window's frames behind the last prediction"
    caption = animation.frames[-1][-20:]
    assert caption.max() > 200, "the last prediction's label is drawn on the frames"


def test_live_over_mjpeg_http_follows_the_label_switch(bundle, switch_clip, stride):
    server = MjpegServer(switch_clip).start()
    try:
        result = run_command("vclf-run", server.url, "--model", bundle, "--no-display", "--json", "--reconnect", "0", check=False)
    finally:
        server.stop()
    assert_follows_the_switch(live_records(result.stdout), stride)
    assert result.returncode == 5, "a stream that ends with no reconnect allowed is a source lost"
    assert server.url in result.stderr.strip().splitlines()[-1]


def test_live_over_rtsp_follows_the_label_switch(bundle, switch_clip, stride):
    with RtspServer(switch_clip) as server:
        result = run_command("vclf-run", server.url, "--model", bundle, "--no-display", "--json", "--reconnect", "0", check=False)
    assert_follows_the_switch(live_records(result.stdout), stride)
    assert result.returncode == 5, result.stderr


def test_slow_inference_drops_frames_and_keeps_latency_bounded(bundle, tmp_path):
    """Inference 4x slower than a 25 fps source: the buffer drops, latency stays within a few steps."""
    clip = write_video(tmp_path / "fast.avi", counting_frames(75), fps=25.0)
    engine = Engine(load_bundle(bundle), "cpu")
    extract, steps = engine.extract, []

    def slow_extract(frames: np.ndarray) -> np.ndarray:
        started = time.monotonic()
        time.sleep(0.16)
        features = extract(frames)
        steps.append(time.monotonic() - started)
        return features

    engine.extract = slow_extract
    predictions, reports = [], []
    summary = run_live(str(clip), engine, stride=1, emit=predictions.append, report=reports.append)

    latencies = [p.latency_ms / 1e3 for p in predictions]
    ceiling = (BUFFER_FRAMES + 1) * max(steps) + 0.1
    assert max(latencies) <= ceiling, (max(latencies), ceiling)
    assert max(latencies) < 2.0, "far below the ~9 s a queue that kept every frame would reach"
    dropped = [p.dropped for p in predictions]
    assert dropped == sorted(dropped) and dropped[-1] > dropped[0]
    assert summary.dropped == 75 - len(predictions), "every frame is either classified or dropped"
    assert summary.frames_read == 75 and "75 frames read" in reports[-1]


def test_http_stream_is_reopened_after_the_server_restarts_and_exit_5_once_it_is_gone(bundle, dataset):
    server = MjpegServer(dataset / "test" / "spin_000.avi", loop=True).start()
    run = BackgroundCommand("vclf-run", server.url, "--model", bundle, "--no-display", "--json", "--reconnect", "3")
    try:
        run.wait_for_lines(3, timeout=60)
        server.stop()
        time.sleep(1.0)
        before_restart = len(run.stdout)
        server.start()
        run.wait_for_lines(before_restart + 3, timeout=30)
        server.stop()
        assert run.finish(timeout=30) == 5
    finally:
        run.finish(timeout=5)
    frame_indices = [r["frame_index"] for r in live_records(run.stdout)]
    assert frame_indices == sorted(frame_indices), "frames keep their order across the reconnect"
    reconnects = [line for line in run.stderr if "reconnecting" in line]
    assert reconnects and all(server.url in line for line in reconnects)
    assert sum("attempt 3 of 3" in line for line in reconnects) == 1
    assert run.stderr[-1].startswith("vclf-run: error: ") and server.url in run.stderr[-1]


def test_sigint_stops_a_live_run_cleanly_with_a_summary(bundle, switch_clip):
    run = BackgroundCommand("vclf-run", switch_clip, "--model", bundle, "--live", "--no-display")
    run.wait_for_lines(2, timeout=60)
    run.process.send_signal(signal.SIGINT)
    assert run.finish(timeout=20) == 0
    assert all(line.startswith("frame ") for line in run.stdout)
    assert "frames read" in run.stderr[-1] and "latency p50" in run.stderr[-1]
    assert "Traceback" not in "\n".join(run.stderr)


def test_display_asked_for_without_a_usable_display_says_so_and_prints(bundle, dataset):
    env = {**os.environ, "DISPLAY": ":97"}  # no X server there
    clip = dataset / "test" / "blink_000.avi"
    result = run_command("vclf-run", clip, "--model", bundle, "--live", "--display", "--stride", "4", env=env)
    assert "no usable display" in result.stderr.splitlines()[0]
    assert result.stdout.splitlines()[0].startswith("frame      0  ")


@pytest.fixture
def xvfb():
    """A virtual X display on a free display number; yields its DISPLAY value."""
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    number = server.stdout.readline().strip()
    assert number.isdigit(), "Xvfb did not start"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def test_window_shows_the_overlay_on_a_virtual_display(bundle, switch_clip, xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb}
    run = BackgroundCommand("vclf-run", switch_clip, "--model", bundle, "--live", "--json", "--top-k", "3", env=env)
    try:
        run.wait_for_lines(30, timeout=60)
        shot = tmp_path / "live-overlay.png"
        subprocess.run(["scrot", "--overwrite", str(shot)], env=env, check=True, timeout=20)
        run.process.send_signal(signal.SIGTERM)
        assert run.finish(timeout=20) == 0
    finally:
        run.finish(timeout=5)
    screen = cv2.imread(str(shot))
    bar_rows = np.all(screen == BAR, axis=2).sum(axis=1)
    assert (bar_rows > 10).sum() >= 10, "probability bars are on the screen"
    assert "frames read" in run.stderr[-1]
