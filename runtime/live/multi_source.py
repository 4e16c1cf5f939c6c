"""Several live sources in one loop, their due frames batched into one extractor call per step.

    source 1 ──► LiveCapture ──┐                      ┌──► FeatureRing 1 ──┐
    source 2 ──► LiveCapture ──┼─► gather (one frame  ├──► FeatureRing 2 ──┼─► head (one call
    source N ──► LiveCapture ──┘   per ready source)  └──► FeatureRing N ──┘   on B windows)
             ──► prepare_frame ×B ──► extractor (one call on B frames)
             ──► Smoother, EventTracker per source ──► JSON lines / tiled window

Each step takes the newest buffered frame of every free source that has
one (each source's buffer is the single-source one, bounded and dropping
the oldest; a step also drops, and counts, a source's older buffered
frame, which is only there when the loop is behind), so a step's batch
holds at most one frame per source: a fast source never starves the
others. A step runs on the frames there are, waiting for none, so a slow
or stalled source never holds the others back. On the CPU a step takes
only its share of the waiting frames, as if every worker were free: one
worker stepping on every frame with its share of the cores while the
other had no free source left a core idle, and a worker that took every
frame waiting while the other was busy made the last of them wait for
the whole batch, though the other worker was free again before long.

Up to ``STEP_WORKERS`` workers step at once (the loop's own thread and
helpers, ``Steps``), each on sources of its own: a source whose step is
running is not free, so its frames keep their order. A frame that comes
while one step runs is taken at once by a free worker instead of waiting
for that step to end (an engine made with ``threads=STEP_THREADS`` gives
each worker's calls its share of the cores, and on the CPU each worker
runs pinned to that share: ``Steps.pinned``). Each worker gathers, steps
and publishes by itself, with no hand-over between threads; an idle
worker waits on one event that any source's new frame, a source's end or
a finished step sets. While every worker is busy the others' frames
gather for the next call, so the more the loop is behind, the larger its
batches.

A source lost for good is reported once and leaves the loop; the others go
on. The run ends when every source has ended (a replay played through, a
stream lost) or a stop is asked for.
"""

import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..classify import rank
from ..engine import Engine
from ..errors import SourceUnavailableError, VclfError
from ..preprocess import prepare_frame
from ..providers import CPU
from ..signals import stop_requests
from ..sources import Source
from .capture import CapturedFrame, LiveCapture
from .display import Window
from .events import Event, EventSettings, EventTracker
from .feature_ring import FeatureRing, Smoother
from .loop import FPS_PREDICTIONS, LivePrediction, LiveSummary, LoopSettings, overlay_stats
from .overlay import draw_caption, draw_overlay


def usable_cpus() -> list[int]:
    """The CPUs this process may run on: its affinity where the system tells it (Linux), else every CPU."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def worker_cpus(workers: int) -> list[set[int]] | None:
    """Each step worker's own CPUs, the usable ones split into ``workers`` runs; None where a thread cannot
    be pinned (not Linux) or there are fewer CPUs than workers."""
    cpus = usable_cpus()
    if not hasattr(os, "sched_setaffinity") or workers < 2 or len(cpus) < workers:
        return None
    share = len(cpus) // workers
    return [set(cpus[n * share : (n + 1) * share]) for n in range(workers)]


# The longest wait for a frame when no source has one; any source's new frame (or end) ends it at once.
# A step never waits for more frames: waiting 5 ms for other sources' frames cost p95
# (mobilenet_v3_small int8, 8 sources: 14.2 ms against 5.4 ms for 8 processes).
IDLE_S = 0.1
# Workers stepping at once, one per core up to two: a frame that comes while a step runs starts on the
# other worker. Measured on 2 cores, the tests' int8 bundle, 8 MJPEG sources with clocks of their own,
# 12 s each: p95 9.8 ms with two workers against 12.4 ms with one (docs/live.md, "Several sources").
STEP_WORKERS = min(2, len(usable_cpus()))
# Each worker's share of the cores: the sessions' intra-op threads, so two steps at once ask for no more
# threads than there are cores. Measured on a 2-core AVX-512 Xeon, 8 sources, MobileNetV3 int8, p95 (p50)
# ms with one thread against two: 1.93-3.19 (1.53-1.65) against 2.84-3.26 (1.73-1.93). On a 2-core AVX2
# EPYC a lone frame is faster on two threads (the tests' int8 bundle: 12.7 ms against 18.7), but steps on
# two threads each, or a lone frame on both cores while the others wait, gave p95 at 8 sources of 37-125
# ms against 28-72 with one thread and the frames split between the workers (``Steps``).
STEP_THREADS = max(1, len(usable_cpus()) // STEP_WORKERS)
TILE = (480, 360)  # width, height of each source's tile in the window


class Watcher(Protocol):
    """What looks on from beside the loop (``--serve``): told, never asked; each call returns at once."""

    def opened(self, states: list["SourceState"]) -> None: ...
    def stepped(self, batch_size: int) -> None: ...
    def predicted(self, name: str, frame: CapturedFrame, prediction: LivePrediction) -> None: ...


@dataclass
class SourceState:
    """One source's own parts: capture, feature ring, smoother, events, counts."""

    name: str
    capture: LiveCapture
    ring: FeatureRing
    smoother: Smoother
    events: EventTracker | None
    summary: LiveSummary = field(default_factory=LiveSummary)
    connection: int = 0
    ended: bool = False
    recent: deque = field(default_factory=lambda: deque(maxlen=FPS_PREDICTIONS))
    shown: np.ndarray | None = None  # the last overlay, for the tiled window

    def take(self) -> CapturedFrame | None:
        """The newest buffered frame, without waiting (older ones are dropped); None when there is none now."""
        return self.capture.frames.newest()


@dataclass
class MultiSummary:
    """What the loop did, per source and in all: the steps, and how many had each batch size."""

    sources: dict[str, LiveSummary]
    events: dict[str, int]  # events started, per source
    lost: dict[str, SourceUnavailableError]
    steps: int = 0
    batch_sizes: Counter = field(default_factory=Counter)  # frames in a step → steps with that many
    stopped: bool = False  # a stop was asked for (rather than every source ending)


def open_sources(
    named: list[tuple[str, Source]],
    engine: Engine,
    settings: LoopSettings,
    report: Callable[[str], None],
    events: EventSettings | None,
    arrived: threading.Event,
) -> tuple[list[SourceState], dict[str, SourceUnavailableError]]:
    """A state per source that opens; a camera or stream that does not is reported and left out.
    Every source's buffer sets ``arrived`` when it takes a frame or ends.
    Any other failure (a file that is not a video) releases the sources opened so far and is raised."""
    bundle = engine.bundle
    states: list[SourceState] = []
    lost: dict[str, SourceUnavailableError] = {}
    for name, source in named:
        try:
            capture = LiveCapture(source, settings.stride, settings.reconnect, report, arrived=arrived)
        except SourceUnavailableError as exc:
            report(f"error: {exc}")
            lost[name] = exc
            continue
        except VclfError:
            for state in states:
                state.capture.start().stop()
            raise
        tracker = EventTracker(bundle.labels, events) if events else None
        states.append(
            SourceState(name, capture, FeatureRing(bundle.sequence_length, bundle.feature_size), Smoother(settings.smooth), tracker)
        )
    return states, lost


def warm_up(engine: Engine, sources: int) -> None:
    """One extractor and head call per batch size the loop can make: ONNX Runtime runs each new shape cold once."""
    bundle = engine.bundle
    for size in range(1, sources + 1):
        features = engine.extract(np.zeros((size, bundle.image_size, bundle.image_size, 3), np.uint8))
        windows = np.zeros((size, bundle.sequence_length, bundle.feature_size), np.float32)
        windows[:, 0] = features
        masks = np.zeros((size, bundle.sequence_length), bool)
        masks[:, 0] = True
        engine.classify(windows, masks)


def run_sources(
    named: list[tuple[str, Source]],
    engine: Engine,
    settings: LoopSettings,
    emit: Callable[[LivePrediction], None],
    report: Callable[[str], None],
    events: EventSettings | None = None,
    emit_event: Callable[[str, Event], None] = lambda name, event: None,
    window_title: str | None = None,
    max_batch: int | None = None,
    watch: "Watcher | None" = None,
    workers: int = STEP_WORKERS,
) -> MultiSummary:
    """Classify the ``(name, source)`` pairs live, batched, until all have ended or a stop is asked for.

    ``emit`` gets each prediction (its ``source`` is the name), ``emit_event``
    each event when ``events`` is given, ``report`` each line for stderr
    (reconnects, sources lost, one summary line per source). With
    ``window_title`` one window shows the sources' overlays side by side.
    ``max_batch`` caps a step's frames (default: one per source); the
    sources are looked at from a position that moves on each step, so a cap
    below the number of sources still serves each in turn (``max_batch=1``:
    one source per step, each its own extractor call). ``workers`` steps
    run at once at most (1: one after another); on the CPU, a step takes
    its share of the frames waiting when it starts (``Steps.take``).
    ``watch`` sees the opened sources, each step's batch size and each
    prediction with its frame.
    Raises SourceUnavailableError when every source is lost.
    """
    arrived = threading.Event()
    states, lost = open_sources(named, engine, settings, report, events, arrived)
    summary = MultiSummary({name: LiveSummary() for name, _ in named}, {}, lost)
    if not states:
        raise SourceUnavailableError(f"none of the {len(named)} sources could be opened")
    warm_up(engine, len(states))
    if watch:
        watch.opened(states)
    window = None
    for state in states:
        state.capture.start()
    try:
        window = Window(window_title) if window_title else None
        with stop_requests() as stop:
            steps = Steps(states, engine, workers, settings, summary, arrived, stop, max_batch, emit, emit_event, report, watch, window)
            helpers = [threading.Thread(target=steps.serve, args=(n,), name=f"step {n}", daemon=True) for n in range(1, workers)]
            for helper in helpers:
                helper.start()
            try:
                steps.serve(0, draws=True)
            finally:
                steps.end()
                for helper in helpers:
                    helper.join()
            if steps.errors:
                raise steps.errors[0]
            summary.stopped = stop.is_set()
    finally:
        for state in states:
            state.capture.stop()
        if window:
            window.close()
        for state in states:
            finish(state, emit_event, report, summary)
    error = failure(states)
    if error is not None:
        raise error
    if len(summary.lost) == len(named):
        raise SourceUnavailableError(f"all {len(named)} sources are lost")
    return summary


class Steps:
    """The workers' shared part: each worker (the loop's own thread, and ``workers`` - 1 helpers) runs
    ``serve``, which gathers the free sources' frames, steps on them and publishes the results.

    One lock covers gathering, the counts and publishing, so each source's predictions and events go
    out in its frames' order and the outputs are called from one worker at a time; the extractor and
    head calls run outside it, at once in several workers. Only the loop's own thread draws the window.

    On the CPU a step takes its share of the waiting frames, ``ceil(waiting / workers)``, whether or not
    the other workers are busy, so no worker idles while another steps on every source's frame on its
    share of the cores, and a worker that frees while another steps leaves it its share: a one-thread
    call on two frames costs 1.6-1.9 times one (the tests' bundles; MobileNetV3 int8 1.35, on a 2-core
    AVX2 EPYC), and every frame a step takes waits for all.
    Measured on a 2-core AVX2 EPYC, the tests' int8 bundle, 8 sources at 25 fps, stride 2, 10 s: taking
    every waiting frame, one worker took 6 to 8 frames a step, 1.1-1.5 cores were busy, 69-86
    predictions/s at p95 175-196 ms; split between the idle workers only, 99.9-101 predictions/s at p95
    28-72 ms, but a worker freeing while the other stepped took all the frames waiting (3 of a burst of
    5): p95 51.0 and 59.2 ms against 38.8 and 35.9 with every worker's share (docs/live.md).
    """

    def __init__(
        self,
        states: list[SourceState],
        engine: Engine,
        workers: int,
        settings: LoopSettings,
        summary: MultiSummary,
        arrived: threading.Event,
        stop: threading.Event,
        max_batch: int | None,
        emit: Callable[[LivePrediction], None],
        emit_event: Callable[[str, Event], None],
        report: Callable[[str], None],
        watch: "Watcher | None",
        window: Window | None,
    ):
        self.states, self.engine, self.workers, self.settings, self.summary = states, engine, workers, settings, summary
        self.arrived, self.stop, self.limit = arrived, stop, max_batch or len(states)
        self.emit, self.emit_event, self.report, self.watch, self.window = emit, emit_event, report, watch, window
        self.splits = engine.provider == CPU  # each step takes its share of the waiting frames
        self.cpus = worker_cpus(workers) if self.splits else None  # each worker's own CPUs (``pinned``)
        self.lock = threading.Lock()
        self.busy: set[int] = set()  # ids of the sources whose step is running
        self.over = threading.Event()  # the run ends: every source ended, a failure, the window closed
        self.errors: list[BaseException] = []  # what ended a worker's step
        self.published = 0  # steps whose results went out

    def serve(self, number: int, draws: bool = False) -> None:
        """Step until the run ends, as worker ``number`` (0: the loop's own thread); ``draws``: this worker
        (the one that made the window) also draws it."""
        try:
            with self.pinned(number):
                self.work(draws)
        except BaseException as exc:
            self.errors.append(exc)
            self.end()

    def work(self, draws: bool) -> None:
        drawn = 0
        while not (self.stop.is_set() or self.over.is_set()):
            due = self.take()
            if due:
                results = step(self.engine, due)
                with self.lock:
                    self.publish(results)
                    self.busy -= {id(state) for state, _ in due}
                self.arrived.set()  # those sources are free again: a waiting worker looks at them
            elif not self.over.is_set():
                self.arrived.wait(IDLE_S)
            if draws and self.window is not None and drawn != self.published:
                drawn = self.published
                if not self.window.show(tile([s.shown for s in self.states], [s.name for s in self.states])):
                    self.end()

    @contextmanager
    def pinned(self, number: int) -> Iterator[None]:
        """This thread on worker ``number``'s own CPUs while it steps (on the CPU, with a CPU each for
        several workers), then back on the ones it had; where the system refuses, it steps unpinned.

        A worker left to the scheduler was woken on whichever core was free, often beside the other
        worker or a capture thread, and ran its mostly lone one-frame calls on cold caches. Measured on
        a 2-core AVX2 EPYC, MobileNetV3 int8, 25 fps MJPEG sources at stride 2, three 10 s runs each,
        p95 ms pinned against not: 3.3-3.4 against 4.5-4.6 at 4 sources, 4.1-4.8 against 5.0-6.9 at 8;
        the tests' bundles, whose frames queue, within the runs' spread or lower (docs/live.md)."""
        before = os.sched_getaffinity(0) if self.cpus else None
        if self.cpus:
            try:
                os.sched_setaffinity(0, self.cpus[number])
            except OSError:
                before = None
        try:
            yield
        finally:
            if before is not None:
                os.sched_setaffinity(0, before)

    def take(self) -> list[tuple[SourceState, CapturedFrame]]:
        """A step's worth: the newest frame of free sources that have one, on the CPU at most a worker's
        share of them (``ceil(waiting / workers)``); its sources marked busy."""
        with self.lock:
            self.arrived.clear()  # before looking: a frame or a freed source that comes after the look sets it again
            turn = self.summary.steps % len(self.states)
            free = [state for state in self.states[turn:] + self.states[:turn] if id(state) not in self.busy]
            waiting = sum(state.capture.frames.waiting for state in free)
            share = math.ceil(waiting / self.workers) if self.splits else self.limit
            due = gather(free, min(self.limit, max(1, share)), self.emit_event, self.report, self.summary)
            if failure(self.states) or (not due and not self.busy and all(state.ended for state in self.states)):
                self.end()
                return []
            if due:
                self.summary.steps += 1
                self.summary.batch_sizes[len(due)] += 1
                self.busy |= {id(state) for state, _ in due}
                if len(due) < waiting:
                    self.arrived.set()  # frames are left: an idle worker, or the next to free, takes them
                if self.watch:
                    self.watch.stepped(len(due))
            return due

    def publish(self, results: list[tuple[SourceState, CapturedFrame, np.ndarray]]) -> None:
        """A finished step's predictions and events, out through ``emit``, ``watch`` and ``emit_event``."""
        for state, frame, probabilities in results:
            prediction = predict(state, frame, probabilities, self.engine, self.settings.top_k, self.window is not None)
            self.emit(prediction)
            if self.watch:
                self.watch.predicted(state.name, frame, prediction)
            if state.events:
                for event in state.events.update(frame.timestamp, probabilities, frame.index):
                    self.emit_event(state.name, event)
        self.published += 1

    def end(self) -> None:
        self.over.set()
        self.arrived.set()  # a waiting worker sees it at once


def failure(states: list[SourceState]) -> BaseException | None:
    """An error other than a lost source that ended a capture thread: it ends the run with its own exit code."""
    errors = (state.capture.error for state in states if state.ended)
    return next((error for error in errors if error is not None and not isinstance(error, SourceUnavailableError)), None)


def gather(
    states: list[SourceState],
    limit: int,
    emit_event: Callable[[str, Event], None],
    report: Callable[[str], None],
    summary: MultiSummary,
) -> list[tuple[SourceState, CapturedFrame]]:
    """The newest frame of every source that has one now, up to ``limit``, in ``states``' order.

    A source that reconnected forgets its window; one that ended is closed here, once.
    """
    due: list[tuple[SourceState, CapturedFrame]] = []
    for state in states:
        if state.ended or len(due) == limit:
            continue
        frame = state.take()
        if frame is None:
            if state.capture.frames.finished:
                finish(state, emit_event, report, summary)
            continue
        if frame.connection != state.connection:
            forget(state, emit_event)
            state.connection = frame.connection
        due.append((state, frame))
    return due


def forget(state: SourceState, emit_event: Callable[[str, Event], None]) -> None:
    """After a reconnect: what came before is not what the source shows now; an action under way ends."""
    state.ring.clear()
    state.smoother.clear()
    if state.events:
        for event in state.events.finish():
            emit_event(state.name, event)


def step(engine: Engine, due: list[tuple[SourceState, CapturedFrame]]) -> list[tuple[SourceState, CapturedFrame, np.ndarray]]:
    """One extractor call on the due frames, one head call on their sources' windows; smoothed probabilities per source."""
    size = engine.bundle.image_size
    frames = np.stack([prepare_frame(frame.image, size) for _, frame in due])
    for (state, _), features in zip(due, engine.extract(frames)):
        state.ring.push(features)
    inputs = [state.ring.head_inputs() for state, _ in due]
    probabilities = engine.classify(np.concatenate([f for f, _ in inputs]), np.concatenate([m for _, m in inputs]))
    return [(state, frame, state.smoother.add(p)) for (state, frame), p in zip(due, probabilities)]


def predict(
    state: SourceState, frame: CapturedFrame, probabilities: np.ndarray, engine: Engine, top_k: int | None, shown: bool
) -> LivePrediction:
    """The source's prediction for this frame, counted in its summary (and drawn, for the window)."""
    done = time.monotonic()
    prediction = LivePrediction(
        state.name,
        rank(probabilities, engine.bundle.labels, top_k),
        engine.provider,
        frame.index,
        frame.timestamp,
        (done - frame.captured) * 1e3,
        state.capture.frames.dropped,
    )
    state.summary.latencies_ms.append(prediction.latency_ms)
    state.recent.append(done)
    if shown:
        state.shown = draw_overlay(frame.image, prediction.predictions, overlay_stats(state.recent, prediction))
    return prediction


def finish(state: SourceState, emit_event: Callable[[str, Event], None], report: Callable[[str], None], summary: MultiSummary) -> None:
    """Close a source once: its last event ends, a loss is reported, its summary line goes out."""
    if state.ended:
        return
    state.ended = True
    if state.events:
        for event in state.events.finish():
            emit_event(state.name, event)
        summary.events[state.name] = state.events.counts["start"]
    error = state.capture.error
    if isinstance(error, SourceUnavailableError):
        summary.lost[state.name] = error
        report(f"error: {error}")
    state.summary.frames_read, state.summary.dropped = state.capture.frames_read, state.capture.frames.dropped
    summary.sources[state.name] = state.summary
    line = f"{state.name}: {state.summary}"
    if state.events:
        started = state.events.counts["start"]
        line += f", {started} event{'' if started == 1 else 's'}"
    report(line)


def tile(overlays: list[np.ndarray | None], names: list[str]) -> np.ndarray:
    """The sources' overlays in a grid, each scaled to ``TILE`` with its name along the bottom; blank until a first prediction."""
    width, height = TILE
    columns = math.ceil(math.sqrt(len(overlays)))
    rows = math.ceil(len(overlays) / columns)
    canvas = np.zeros((rows * height, columns * width, 3), np.uint8)
    for position, (overlay, name) in enumerate(zip(overlays, names)):
        cell = np.zeros((height, width, 3), np.uint8) if overlay is None else cv2.resize(overlay, TILE)
        top, left = (position // columns) * height, (position % columns) * width
        canvas[top : top + height, left : left + width] = draw_caption(cell, name)
    return canvas
