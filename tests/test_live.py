"""``vclf-run`` live: file replays, MJPEG over HTTP, RTSP, slow inference, reconnects, the window.

The replayed clip is a grow clip followed by a shrink clip, rendered as the
training clips are. Whatever carries it (a file replayed with ``--live``, an
HTTP server, an RTSP server), each live prediction is what the clip path
computes for the same window of sampled frames: the ring buffer, the stride
and the transport add nothing and lose nothing. Whether the label follows
the switch depends on the model: ``make live-switch`` (tests/switch_live.py)
checks it on one fitted for live use.
"""

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.clips import action_replay, counting_frames, replay_fps
from support.commands import BackgroundCommand, run_command
from support.streaming import MjpegServer, RtspServer

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.errors import BadInputError
from vclf.runtime.live.capture import BUFFER_FRAMES, LiveCapture
from vclf.runtime.live.loop import LoopSettings, run_live
from vclf.runtime.live.overlay import BAR
from vclf.runtime.preprocess import prepare_frame
from vclf.runtime.sampling import frame_mask, pad_sequence
from vclf.runtime.sources import resolve_source
from vclf.runtime.video_writer import write_video

CLIP_FRAMES = 40  # inside the training clips' 12-47
LABELS = ("grow", "shrink")
LIVE_KEYS = {"source", "predictions", "provider", "frame_index", "timestamp", "latency_ms", "dropped"}


@pytest.fixture(scope="module")
def engine(bundle) -> Engine:
    return Engine(load_bundle(bundle), "cpu")


@pytest.fixture(scope="module")
def switch_clip(tmp_path_factory, engine) -> Path:
    """A grow clip then a shrink clip, each like a training clip, in one video.

    The comparison below needs windows without dropped frames (dropping is
    tested on its own), so it plays at a rate this machine keeps up with.
    """
    return action_replay(tmp_path_factory.mktemp("switch") / "switch.avi", LABELS, 2026, CLIP_FRAMES, replay_fps(engine))


@pytest.fixture(scope="module")
def clip_path_probabilities(engine, switch_clip) -> np.ndarray:
    """``[sampled frames, C]``: the head on each sliding window of sampled frames (window k
    ends at sampled frame k), from one batched extractor call, as the clip path computes a clip."""
    bundle = engine.bundle
    capture = cv2.VideoCapture(str(switch_clip))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    features = engine.extract(np.stack([prepare_frame(f, bundle.image_size) for f in frames[:: bundle.live_stride]]))
    length = bundle.sequence_length
    windows = [features[max(0, k + 1 - length) : k + 1] for k in range(len(features))]
    padded = np.stack([pad_sequence(w, length) for w in windows])
    masks = np.stack([frame_mask(len(w), length) for w in windows])
    return engine.classify(padded, masks)


def live_records(stdout: str | list[str]) -> list[dict]:
    lines = stdout.splitlines() if isinstance(stdout, str) else stdout
    return [json.loads(line) for line in lines]


def probabilities(record: dict, labels: list[str]) -> np.ndarray:
    by_label = {p["label"]: p["prob"] for p in record["predictions"]}
    return np.array([by_label[label] for label in labels])


def assert_windows_match_the_clip_path(
    records: list[dict], engine: Engine, expected: np.ndarray, largest: float, mean: float, at_least: int
) -> None:
    """Every stride-th frame is classified, in order, and the predictions whose windows hold
    the same sampled frames as a clip-path window (no frame dropped in it), ``at_least``
    of them, differ from the clip path's probabilities by at most ``largest``, on average
    by at most ``mean``."""
    bundle = engine.bundle
    stride, length = bundle.live_stride, bundle.sequence_length
    assert records and all(set(r) >= LIVE_KEYS for r in records)
    indices = [r["frame_index"] for r in records]
    assert indices == sorted(indices) and all(i % stride == 0 for i in indices)
    differences = []
    for j, record in enumerate(records):
        k = record["frame_index"] // stride
        if indices[max(0, j + 1 - length) : j + 1] == [stride * i for i in range(max(0, k + 1 - length), k + 1)]:
            differences.append(np.abs(probabilities(record, bundle.labels) - expected[k]).max())
    assert len(differences) >= at_least, f"too few windows without a dropped frame: {indices}"
    assert max(differences) <= largest and np.mean(differences) <= mean, differences


def test_live_replay_of_a_file_classifies_each_window_as_the_clip_path(engine, bundle, switch_clip, clip_path_probabilities, tmp_path):
    gif = tmp_path / "last.gif"
    result = run_command("vclf-run", switch_clip, "--model", bundle, "--live", "--no-display", "--json", "--gif", gif)
    records = live_records(result.stdout)
    assert_windows_match_the_clip_path(records, engine, clip_path_probabilities, largest=1e-4, mean=1e-4, at_least=10)
    summary = result.stderr.strip().splitlines()[-1]
    assert f"{CLIP_FRAMES * len(LABELS)} frames read" in summary and "latency p50" in summary

    ok, animation = cv2.imreadanimation(str(gif))
    assert ok and len(animation.frames) == engine.bundle.sequence_length, "the window's frames behind the last prediction"
    assert animation.frames[-1][-20:].max() > 200, "the last prediction's label is drawn on the frames"


def test_live_over_mjpeg_http_classifies_each_window_as_the_clip_path(engine, bundle, switch_clip, clip_path_probabilities):
    server = MjpegServer(switch_clip).start()
    try:
        result = run_command("vclf-run", server.url, "--model", bundle, "--no-display", "--json", "--reconnect", "0", check=False)
    finally:
        server.stop()
    records = live_records(result.stdout)
    assert_windows_match_the_clip_path(records, engine, clip_path_probabilities, largest=1e-4, mean=1e-4, at_least=10)
    assert f"{CLIP_FRAMES * len(LABELS)} frames read" in result.stderr
    assert result.returncode == 5, "a stream that ends with no reconnect allowed is a source lost"
    assert server.url in result.stderr.strip().splitlines()[-1]


def test_live_over_rtsp_classifies_each_window_as_the_clip_path(engine, bundle, switch_clip, clip_path_probabilities):
    with RtspServer(switch_clip) as server:
        result = run_command("vclf-run", server.url, "--model", bundle, "--no-display", "--json", "--reconnect", "0", check=False)
    # RTP/JPEG carries the frames encoded again (quality 100), so pixels and probabilities move a little;
    # FFmpeg reads ahead while opening the stream, and those frames come at once (some dropped).
    records = live_records(result.stdout)
    assert_windows_match_the_clip_path(records, engine, clip_path_probabilities, largest=0.5, mean=0.05, at_least=5)
    assert f"{CLIP_FRAMES * len(LABELS)} frames read" in result.stderr
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
    summary = run_live(resolve_source(str(clip)), engine, LoopSettings(stride=1), emit=predictions.append, report=reports.append)

    latencies = [p.latency_ms / 1e3 for p in predictions]
    ceiling = (BUFFER_FRAMES + 1) * max(steps) + 0.1
    assert max(latencies) <= ceiling, (max(latencies), ceiling)
    kept_every_frame = 75 * np.median(steps) - 75 / 25.0  # the last frame's wait in an unbounded queue
    assert max(latencies) < kept_every_frame / 4
    dropped = [p.dropped for p in predictions]
    assert dropped == sorted(dropped) and dropped[-1] > dropped[0]
    assert summary.dropped == 75 - len(predictions), "every frame is either classified or dropped"
    assert summary.frames_read == 75 and "75 frames read" in reports[-1]


def test_an_error_in_the_capture_thread_ends_the_run_with_that_error(engine, tmp_path, monkeypatch):
    clip = write_video(tmp_path / "clip.avi", counting_frames(30), fps=50.0)
    hand_on = LiveCapture._hand_on

    def fails_at_frame_10(self, image):
        if self.frames_read == 10:
            raise BadInputError(f"{self.source.text}: frame 10 cannot be used")
        hand_on(self, image)

    monkeypatch.setattr(LiveCapture, "_hand_on", fails_at_frame_10)
    predictions, reports = [], []
    with pytest.raises(BadInputError, match="frame 10 cannot be used"):
        run_live(resolve_source(str(clip)), engine, LoopSettings(stride=1), emit=predictions.append, report=reports.append)
    assert 0 < len(predictions) <= 10 and "10 frames read" in reports[-1]


def test_sigterm_stops_a_live_run_as_sigint_does(bundle, switch_clip):
    run = BackgroundCommand("vclf-run", switch_clip, "--model", bundle, "--live", "--no-display", "--json")
    run.wait_for_lines(1, timeout=60)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout=15) == 0
    assert "frames read" in run.stderr[-1] and not any("Traceback" in line for line in run.stderr)


def test_http_stream_that_freezes_or_restarts_is_reopened_and_exit_5_once_it_is_gone(bundle, dataset):
    server = MjpegServer(dataset / "test" / "spin_000.avi", loop=True).start()
    run = BackgroundCommand("vclf-run", server.url, "--model", bundle, "--no-display", "--json", "--reconnect", "3")
    try:
        run.wait_for_lines(3, timeout=60)
        server.freeze_streams()
        run.wait_for_stderr("reconnecting", timeout=15)  # the read times out
        run.wait_for_lines(len(run.stdout) + 3, timeout=30)
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
    assert len(reconnects) >= 5 and all(server.url in line for line in reconnects)
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


@contextmanager
def virtual_display() -> Iterator[str]:
    """A virtual X display on a free display number; yields its DISPLAY value."""
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        number = server.stdout.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def screenshot_bar_rows(bundle, switch_clip, shot: Path) -> tuple[np.ndarray, list[str]]:
    """``vclf-run --display`` on a fresh virtual display, on a looping stream (so the window
    stays up however late a loaded machine maps and paints it), screenshot until the bars
    show, for at most 60 s. Returns the rows' counts of bar pixels in the last screenshot
    and what vclf-run said on stderr."""
    with virtual_display() as display:
        env = {**os.environ, "DISPLAY": display}
        server = MjpegServer(switch_clip, loop=True).start()
        run = BackgroundCommand("vclf-run", server.url, "--model", bundle, "--json", "--top-k", "3", "--display", env=env)
        bar_rows = np.zeros(0, int)
        try:
            run.wait_for_lines(5, timeout=60)
            deadline = time.monotonic() + 60
            while run.process.poll() is None and time.monotonic() < deadline:
                subprocess.run(["scrot", "--overwrite", str(shot)], env=env, check=True, timeout=20)
                bar_rows = np.all(cv2.imread(str(shot)) == BAR, axis=2).sum(axis=1)
                if (bar_rows > 10).sum() >= 10:
                    break
                time.sleep(0.5)
            run.process.send_signal(signal.SIGTERM)
            assert run.finish(timeout=20) == 0
        finally:
            run.finish(timeout=5)
            server.stop()
    return bar_rows, run.stderr


def test_window_shows_the_overlay_on_a_virtual_display(bundle, switch_clip, tmp_path):
    # In two full parallel runs of the suite the screen stayed black for 60 s while vclf-run
    # went on predicting; alone, beside the Ray tests or on a loaded machine it never did.
    # Until that is understood, a fresh display and run get one more try.
    said = []
    for attempt in range(2):
        bar_rows, stderr = screenshot_bar_rows(bundle, switch_clip, tmp_path / f"live-overlay-{attempt}.png")
        said.append(stderr[-5:])
        if (bar_rows > 10).sum() >= 10:
            break
    assert (bar_rows > 10).sum() >= 10, f"probability bars are on the screen; vclf-run said: {said}"
    assert "frames read" in stderr[-1]
