"""Several live sources in one ``vclf-run``: batched, each as if alone, isolated from the others' faults.

The sources replay the live tests' grow-then-shrink clip: two files with
``--live``, the MJPEG server and the RTSP server. Each source's predictions
are compared with the same source run alone (the single-source loop, on the
same frames replayed as fast as one source is kept up with) on the windows
that hold the same sampled frames in both runs (a frame dropped in
one run and not the other changes a window, and dropping is tested on its own).
"""

import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from support.clips import action_replay, replay_fps
from support.commands import BackgroundCommand, run_command
from support.streaming import MjpegServer, RtspServer

from vclf.runtime.bundle import load_bundle
from vclf.runtime.cli.main import main
from vclf.runtime.engine import Engine
from vclf.runtime.errors import SourceUnavailableError
from vclf.runtime.live import multi_source
from vclf.runtime.live.capture import CapturedFrame, FrameBuffer
from vclf.runtime.live.events import EventSettings, EventTracker
from vclf.runtime.live.feature_ring import FeatureRing, Smoother
from vclf.runtime.live.loop import LivePrediction, LoopSettings, run_live
from vclf.runtime.live.multi_source import TILE, run_sources, tile
from vclf.runtime.providers import CPU
from vclf.runtime.sources import Source, resolve_source

CLIP_FRAMES = 40
SOURCES = 4


@pytest.fixture(scope="module")
def engine(bundle) -> Engine:
    return Engine(load_bundle(bundle), "cpu")


def switch_replay(path: Path, fps: float) -> Path:
    """Grow then shrink: the same frames whatever ``fps``."""
    return action_replay(path, ("grow", "shrink"), 2026, CLIP_FRAMES, fps)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, engine):
    """Grow then shrink, at a rate this machine keeps up with for four sources at once (a window
    compared with the source alone needs the same frames in both runs: none dropped in either)."""
    return switch_replay(tmp_path_factory.mktemp("multi") / "switch.avi", replay_fps(engine) / SOURCES)


class CountingEngine:
    """The engine, with each extractor and head call's batch size recorded."""

    def __init__(self, engine: Engine):
        self.engine, self.bundle, self.provider = engine, engine.bundle, engine.provider
        self.extract_sizes: list[int] = []
        self.head_sizes: list[int] = []

    def extract(self, frames: np.ndarray) -> np.ndarray:
        self.extract_sizes.append(len(frames))
        return self.engine.extract(frames)

    def classify(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.head_sizes.append(len(features))
        return self.engine.classify(features, mask)


@contextmanager
def four_sources(replay: Path, folder: Path) -> Iterator[list[tuple[str, Source]]]:
    """The replay as four live sources: two files with ``--live``, the MJPEG server and the RTSP server."""
    second = folder / f"second-{replay.name}"
    second.write_bytes(replay.read_bytes())
    http = MjpegServer(replay).start()
    try:
        with RtspServer(replay) as rtsp:
            yield [
                (name, resolve_source(str(text)))
                for name, text in (("file-a", replay), ("file-b", second), ("http", http.url), ("rtsp", rtsp.url))
            ]
    finally:
        http.stop()


def alone(source: Source, engine: Engine, stride: int) -> list[LivePrediction]:
    """The source run by itself through the single-source loop."""
    predictions: list[LivePrediction] = []
    try:
        run_live(source, engine, LoopSettings(stride, reconnect=0), predictions.append, lambda line: None)
    except SourceUnavailableError:
        pass  # a stream that ends with no reconnect allowed: its predictions are what counts here
    return predictions


def by_window(predictions: list[LivePrediction], labels: list[str], length: int) -> dict[tuple[int, ...], np.ndarray]:
    """The frame indices each prediction's window holds → its probabilities in label order."""
    out = {}
    for position, prediction in enumerate(predictions):
        frames = tuple(p.frame_index for p in predictions[max(0, position + 1 - length) : position + 1])
        by_label = {p.label: p.prob for p in prediction.predictions}
        out[frames] = np.array([by_label[label] for label in labels])
    return out


def test_four_sources_at_once_predict_as_each_alone_with_one_extractor_call_per_step(engine, clip, tmp_path):
    """One step at a time (one worker, as on a GPU's one device or a one-core machine): each step's one
    extractor call holds every source's frame that came while the step before ran. (On two CPU workers
    a step takes its share of the waiting frames, tested on its own below.)"""
    bundle = engine.bundle
    counting = CountingEngine(engine)
    together: list[LivePrediction] = []
    reports: list[str] = []
    with four_sources(clip, tmp_path) as named:
        summary = run_sources(named, counting, LoopSettings(bundle.live_stride, reconnect=0), together.append, reports.append, workers=1)
    # Alone, each source replays the same frames at the rate one source keeps up with: four times the clip's.
    with four_sources(switch_replay(tmp_path / "alone.avi", replay_fps(engine)), tmp_path) as named_alone:
        alone_runs = {name: alone(source, engine, bundle.live_stride) for name, source in named_alone}

    warm_up = SOURCES  # one call per batch size 1..N before the sources start
    extract, head = counting.extract_sizes[warm_up:], counting.head_sizes[warm_up:]
    assert len(extract) == len(head) == summary.steps, "one extractor and one head call per step"
    assert Counter(extract) == Counter(head) == summary.batch_sizes, "on the step's due frames and their windows"
    assert sum(extract) == len(together)
    assert 1 < max(extract) <= SOURCES and summary.steps < len(together), "steps batch sources"
    sizes = [summary.batch_sizes[size] for size in range(1, SOURCES + 1)]
    print(f"\n{len(together)} predictions in {summary.steps} steps, steps of 1..{SOURCES} frames: {sizes}")
    for name, _ in named:
        mine = by_window([p for p in together if p.source == name], bundle.labels, bundle.sequence_length)
        theirs = by_window(alone_runs[name], bundle.labels, bundle.sequence_length)
        shared = mine.keys() & theirs.keys()
        assert len(shared) >= 5, f"{name}: {len(shared)} windows hold the same frames alone and together"
        largest = max(np.abs(mine[w] - theirs[w]).max() for w in shared)
        print(f"{name}: {len(shared)} of {len(mine)} windows as alone, largest difference {largest:.2e}")
        assert largest <= 1e-4, name
    lost = [line for line in reports if line.startswith("error: ")]
    streams = [source.text for name, source in named if name in ("http", "rtsp")]
    assert sorted(lost) == sorted(f"error: {url}: source lost; no frames after 0 reconnect attempts" for url in streams)
    assert {line.split(":")[0] for line in reports if "frames read" in line} == {name for name, _ in named}


def test_two_steps_run_at_once_each_on_sources_of_its_own_and_every_frame_keeps_its_order(engine, tmp_path, monkeypatch):
    """Steps slower than each source's frames come: the second worker takes the other sources' frames that
    come meanwhile, never a frame of a source whose step is running.

    Two sources run on another clock than the other two. Four replays on one clock that start together stay in
    step: one worker takes all four each time and the other never has a free source, which is right but shows
    nothing. On two clocks the slow pair's frames fall due while the fast pair's step runs.
    """
    # At stride 2 a fast source has a due frame every 0.1 s and a slow one every 0.29 s; a step takes 0.15 s.
    fast = action_replay(tmp_path / "fast.avi", ("grow",), 7, 40, 20.0)
    slow = action_replay(tmp_path / "slow.avi", ("grow",), 7, 16, 7.0)
    steps: list[tuple[float, float, list[str]]] = []  # (start, end, the step's sources)
    real_step = multi_source.step

    def slow_step(engine, due):
        start = time.monotonic()
        time.sleep(0.15)
        results = real_step(engine, due)
        steps.append((start, time.monotonic(), [state.name for state, _ in due]))
        return results

    monkeypatch.setattr(multi_source, "step", slow_step)
    files = [tmp_path / f"{name}.avi" for name in "abcd"]
    for file, clip in zip(files, (fast, fast, slow, slow)):
        file.write_bytes(clip.read_bytes())
    predictions: list[LivePrediction] = []
    summary = run_sources(
        [(file.stem, resolve_source(str(file))) for file in files],
        engine,
        LoopSettings(2),
        predictions.append,
        lambda line: None,
        workers=2,
    )
    overlapping = [(a, b) for i, a in enumerate(steps) for b in steps[i + 1 :] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "two steps ran at once"
    assert all(not set(a[2]) & set(b[2]) for a, b in overlapping), "a source is in one running step at most"
    assert all(len(overlapping_at(steps, moment)) <= 2 for moment, _, _ in steps), "no more steps at once than workers"
    assert len(predictions) == sum(len(names) for _, _, names in steps) == sum(summary.batch_sizes.elements())
    for file in files:
        indices = [p.frame_index for p in predictions if p.source == file.stem]
        assert indices and indices == sorted(set(indices)), f"{file.stem}: each frame once, in order"


@pytest.mark.parametrize(("provider", "workers", "takes"), [(CPU, 2, [2, 1, 1]), (CPU, 1, [4]), ("CUDAExecutionProvider", 2, [4])])
def test_on_the_cpu_each_step_takes_a_workers_share_of_the_waiting_frames(engine, provider, workers, takes):
    """Four sources' frames waiting and two workers: the first step takes two (taking every frame, it would
    step on all four on its share of the cores while the other worker idled) and wakes the other worker;
    the next takes one of the two left, its share as if every worker were free, and leaves the last for
    the first worker to free (taking both, it would make the second wait for the first). One worker, or a
    GPU's one device, takes all four in one call."""
    states = []
    for name in "abcd":
        capture = SimpleNamespace(frames=FrameBuffer(), error=None)
        capture.frames.put(CapturedFrame(0, np.zeros((8, 8, 3), np.uint8), time.monotonic(), time.time(), 0))
        states.append(multi_source.SourceState(name, capture, FeatureRing(1, 1), Smoother(1), None))
    summary = multi_source.MultiSummary({}, {}, {})
    on_provider = SimpleNamespace(bundle=engine.bundle, provider=provider)
    arrived, nothing = threading.Event(), lambda *args: None
    steps = multi_source.Steps(
        states, on_provider, workers, LoopSettings(1), summary, arrived, threading.Event(), None, nothing, nothing, nothing, None, None
    )
    taken = []
    for position, count in enumerate(takes):
        arrived.clear()
        taken.append(steps.take())
        frames_left = position < len(takes) - 1
        assert len(taken[-1]) == count and arrived.is_set() == frames_left, "frames left wake a worker"
    assert sorted(state.name for due in taken for state, _ in due) == list("abcd"), "each source's frame in one step"
    assert steps.take() == [], "every source with a frame is in a step"
    if provider != CPU or workers == 1:
        assert steps.cpus is None, "only several workers on the CPU are pinned to CPUs of their own"


@pytest.mark.skipif(multi_source.worker_cpus(2) is None, reason="pinning a thread to CPUs needs Linux and two CPUs")
def test_on_the_cpu_each_step_worker_steps_on_cpus_of_its_own_and_the_loops_thread_gets_its_cpus_back(engine, tmp_path, monkeypatch):
    """Each worker stays on its own core, where its caches are warm, and two steps never share a core
    while the other idles (docs/live.md, "Several sources")."""
    replay = action_replay(tmp_path / "replay.avi", ("grow",), 7, 24, 20.0)
    files = [tmp_path / f"{name}.avi" for name in "ab"]
    for file in files:
        file.write_bytes(replay.read_bytes())
    stepped_on: dict[int, set[frozenset[int]]] = defaultdict(set)  # worker thread → the CPUs it stepped on
    real_step = multi_source.step

    def watched_step(engine, due):
        stepped_on[threading.get_ident()].add(frozenset(os.sched_getaffinity(0)))
        time.sleep(0.15)  # slower than each source's frames come (every 0.1 s): the other worker takes the other's
        return real_step(engine, due)

    monkeypatch.setattr(multi_source, "step", watched_step)
    before = os.sched_getaffinity(0)
    named = [(file.stem, resolve_source(str(file))) for file in files]
    run_sources(named, engine, LoopSettings(2), lambda prediction: None, lambda line: None, workers=2)
    assert os.sched_getaffinity(0) == before, "the loop's own thread has its CPUs back"
    assert len(stepped_on) == 2, "both workers stepped"
    assert all(len(cpus) == 1 for cpus in stepped_on.values()), "each worker on one set of CPUs throughout"
    mine = sorted(sorted(next(iter(cpus))) for cpus in stepped_on.values())
    assert mine == sorted(sorted(cpus) for cpus in multi_source.worker_cpus(2)), "each on its own share of the CPUs"


def overlapping_at(steps: list[tuple[float, float, list[str]]], moment: float) -> list:
    """The steps running at ``moment``."""
    return [step for step in steps if step[0] <= moment < step[1]]


def rate(records: list[dict], source: str, since: float, until: float) -> float:
    """Predictions per second of ``source`` between two wall-clock times."""
    times = [r["timestamp"] for r in records if r["source"] == source and since <= r["timestamp"] < until]
    return len(times) / (until - since)


def test_one_of_four_http_sources_lost_for_good_is_reported_once_while_the_others_keep_their_rate(bundle, clip, tmp_path):
    servers = [MjpegServer(clip, loop=True).start() for _ in range(SOURCES)]
    listing = tmp_path / "cams.streams"
    listing.write_text("# four cameras\n" + "".join(f"cam{i}={s.url}\n" for i, s in enumerate(servers)))
    run = BackgroundCommand("vclf-run", listing, "--model", bundle, "--no-display", "--json", "--reconnect", "1")
    try:
        run.wait_for_lines(8 * SOURCES, timeout=90)
        started = time.time()
        time.sleep(6)
        stopped = time.time()
        servers[2].stop()
        run.wait_for_stderr("source lost", timeout=30)
        lost = time.time()
        time.sleep(6)
        ended = time.time()
        run.process.send_signal(signal.SIGINT)
        assert run.finish(timeout=30) == 0, "the other sources were still live: a user's stop"
    finally:
        run.finish(timeout=5)
        for server in servers[:2] + servers[3:]:
            server.stop()
    records = [json.loads(line) for line in run.stdout]
    assert {r["source"] for r in records} == {f"cam{i}" for i in range(SOURCES)}, "names from the listing"
    for other in ("cam0", "cam1", "cam3"):
        before, after = rate(records, other, started, stopped), rate(records, other, lost, ended)
        print(f"{other}: {before:.2f} predictions/s before cam2 was lost, {after:.2f} after")
        assert before > 0 and after >= 0.8 * before, (other, before, after)
    assert rate(records, "cam2", lost, ended) == 0
    losses = [line for line in run.stderr if "source lost" in line]
    assert len(losses) == 1 and servers[2].url in losses[0] and losses[0].startswith("vclf-run: error: "), run.stderr
    summaries = [line for line in run.stderr if "frames read" in line]
    assert sorted(line.split(":")[1].strip() for line in summaries) == [f"cam{i}" for i in range(SOURCES)]
    assert "Traceback" not in "\n".join(run.stderr)


def test_all_sources_lost_is_exit_5(bundle, clip):
    servers = [MjpegServer(clip).start() for _ in range(2)]  # each plays the clip once, then the stream ends
    try:
        result = run_command(
            "vclf-run", *(s.url for s in servers), "--model", bundle, "--no-display", "--json", "--reconnect", "0", check=False
        )
    finally:
        for server in servers:
            server.stop()
    assert result.returncode == 5, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "vclf-run: error: all 2 sources are lost"
    assert {json.loads(line)["source"] for line in result.stdout.splitlines()} == {s.url for s in servers}


def test_vclf_run_gives_each_step_worker_its_share_of_the_cores(bundle, clip, tmp_path, monkeypatch):
    """The command's engine is made with ``STEP_THREADS`` intra-op threads, so two steps at once ask for
    no more threads than there are cores (ONNX Runtime's default is every core for each session)."""
    threads: list[tuple[int, int]] = []
    real = multi_source.run_sources

    def recording(named, engine, *args, **kwargs):
        threads.append(
            (engine.extractor.get_session_options().intra_op_num_threads, engine.head.get_session_options().intra_op_num_threads)
        )
        return real(named, engine, *args, **kwargs)

    monkeypatch.setattr(multi_source, "run_sources", recording)
    other = tmp_path / "other.avi"
    other.write_bytes(clip.read_bytes())
    result = CliRunner().invoke(main, [str(clip), str(other), "--model", str(bundle), "--live", "--no-display", "--json"])
    assert result.exit_code == 0, result.output
    assert threads == [(multi_source.STEP_THREADS, multi_source.STEP_THREADS)]
    assert {json.loads(line)["source"] for line in result.stdout.splitlines()} == {str(clip), str(other)}


def test_several_files_need_live_and_event_options_need_events(bundle, clip):
    several = run_command("vclf-run", clip, clip, "--model", bundle, check=False)
    assert several.returncode == 2 and "live sources" in several.stderr
    threshold = run_command("vclf-run", clip, "--model", bundle, "--live", "--on", "0.7", check=False)
    assert threshold.returncode == 2 and "--on applies with --events" in threshold.stderr


EVENT_KEYS = {"event", "source", "label", "start", "end", "start_frame", "end_frame", "duration", "peak", "mean"}


def test_events_are_the_state_machine_over_the_live_predictions(engine, clip):
    predictions, events = [], []
    settings = EventSettings(on=0.0, off=0.0, min_duration=0.3, min_gap=0.3)  # every change of top label, whatever the model
    run_sources(
        [("replay", resolve_source(str(clip)))],
        engine,
        LoopSettings(engine.bundle.live_stride),
        predictions.append,
        lambda line: None,
        events=settings,
        emit_event=lambda name, event: events.append(event),
    )
    tracker = EventTracker(engine.bundle.labels, settings)
    expected = []
    for p in predictions:
        by_label = {q.label: q.prob for q in p.predictions}
        expected += tracker.update(p.timestamp, np.array([by_label[label] for label in engine.bundle.labels]), p.frame_index)
    expected += tracker.finish()
    assert events and events == [replace(e, peak=pytest.approx(e.peak), mean=pytest.approx(e.mean)) for e in expected]


def test_events_print_one_json_line_per_start_and_end_and_the_summary_counts_them(bundle, clip):
    result = run_command(
        "vclf-run",
        clip,
        "--model",
        bundle,
        "--live",
        "--no-display",
        "--json",
        "--events",
        "--on",
        "0",
        "--off",
        "0",
        "--min-duration",
        "0.3",
    )
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events and all(set(e) == EVENT_KEYS and e["source"] == str(clip) for e in events)
    assert [e["event"] for e in events] == ["start", "end"] * (len(events) // 2), "each action starts, then ends"
    for start, end in zip(events[::2], events[1::2]):
        assert start["label"] == end["label"] and start["start"] == end["start"] and start["end"] is None
        assert end["end"] >= end["start"] and end["duration"] == pytest.approx(end["end"] - end["start"], abs=1e-5)
    started = len(events) // 2
    assert result.stderr.strip().splitlines()[-1].endswith(f", {started} event{'' if started == 1 else 's'}")


def test_window_tiles_the_sources_overlays_in_a_grid_with_their_names():
    red, green = np.zeros((120, 160, 3), np.uint8), np.zeros((240, 320, 3), np.uint8)
    red[..., 2], green[..., 1] = 200, 200
    canvas = tile([red, green, None], ["door", "yard", "gate"])
    width, height = TILE
    assert canvas.shape == (2 * height, 2 * width, 3), "three sources: two columns, two rows"
    assert canvas[height // 2, width // 2].tolist() == [0, 0, 200] and canvas[height // 2, width + width // 2].tolist() == [0, 200, 0]
    assert canvas[height + 10 : 2 * height - 30, :width].max() == 0, "no prediction yet: a blank tile"
    assert canvas[2 * height - 20 : 2 * height, :width].max() > 200, "its name is written along the bottom"
    assert canvas[height:, width:].max() == 0, "the grid's empty cell"
