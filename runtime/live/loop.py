"""Live classification: one feature per new sampled frame, the head on a sliding window.

    source ──► LiveCapture (thread, drops oldest) ──► every stride-th frame
           ──► prepare_frame ──► extractor (1 frame) ──► FeatureRing (T) ──► head
           ──► Smoother ──► JSON line / overlay window

Each frame's features are computed once, so a prediction costs one extractor
call on one frame plus the GRU head, never the whole window again.
SIGINT, SIGTERM and SIGHUP stop the loop between frames; the capture is released and
a summary goes to stderr however the run ends.
"""

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..classify import Prediction, prediction_records, rank
from ..engine import Engine
from ..gif import save_gif
from ..preprocess import prepare_frame
from ..signals import stop_requests
from ..sources import Source
from .capture import CapturedFrame, LiveCapture
from .display import Window
from .feature_ring import FeatureRing, Smoother
from .overlay import OverlayStats, draw_caption, draw_overlay

POLL_S = 0.2  # how often the loop looks for a stop request while no frame comes
FPS_PREDICTIONS = 10  # the overlay's fps is over this many recent predictions


@dataclass(frozen=True)
class LoopSettings:
    """How a live loop reads and ranks each source: every ``stride``-th frame, ``smooth`` predictions averaged,
    the ``top_k`` labels (None: all), up to ``reconnect`` attempts in a row to reopen a source that stops."""

    stride: int
    smooth: int = 1
    top_k: int | None = None
    reconnect: int = 5


@dataclass(frozen=True)
class LivePrediction:
    source: str
    predictions: list[Prediction]
    provider: str
    frame_index: int  # the newest source frame in the window
    timestamp: float  # when that frame arrived, seconds since the epoch
    latency_ms: float  # from that frame's arrival to this prediction
    dropped: int  # sampled frames dropped so far because inference was behind

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "predictions": prediction_records(self.predictions),
            "provider": self.provider,
            "frame_index": self.frame_index,
            "timestamp": round(self.timestamp, 6),
            "latency_ms": round(self.latency_ms, 3),
            "dropped": self.dropped,
        }


@dataclass
class LiveSummary:
    frames_read: int = 0
    dropped: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        line = f"{self.frames_read} frames read, {self.dropped} dropped, {len(self.latencies_ms)} predictions"
        if self.latencies_ms:
            p50, p95 = np.percentile(self.latencies_ms, [50, 95])
            line += f", latency p50 {p50:.0f} ms, p95 {p95:.0f} ms"
        return line


class StreamingClassifier:
    """Extract one prepared frame, slide it into the window, run the head, smooth."""

    def __init__(self, engine: Engine, smooth: int = 1):
        bundle = engine.bundle
        self.engine = engine
        self.ring = FeatureRing(bundle.sequence_length, bundle.feature_size)
        self.smoother = Smoother(smooth)

    def step(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Class probabilities ``[C]`` after adding one RGB ``[S, S, 3]`` frame."""
        self.encode(frame_rgb)
        return self.decode()

    def encode(self, frame_rgb: np.ndarray) -> None:
        """One RGB ``[S, S, 3]`` frame's features into the window."""
        self.ring.push(self.engine.extract(frame_rgb[None])[0])

    def decode(self) -> np.ndarray:
        """Smoothed class probabilities ``[C]`` of the window as it is."""
        features, mask = self.ring.head_inputs()
        return self.smoother.add(self.engine.classify(features, mask)[0])

    def warm_up(self) -> None:
        """One step on a blank frame, then forget it: ONNX Runtime's first run is several
        times slower than the next, and live frames should not wait for it."""
        size = self.engine.bundle.image_size
        self.step(np.zeros((size, size, 3), np.uint8))
        self.reset()

    def reset(self) -> None:
        """Forget the window: what came before a reconnect is not what the source shows now."""
        self.ring.clear()
        self.smoother.clear()


class LiveRun:
    """One live source classified a frame at a time, in the four steps every frame takes:

    ``read`` (data: the newest due frame from the capture thread) → ``encode``
    (preprocess, extractor, the feature ring; forgotten on a reconnect) →
    ``decode`` (the head on the ring, smoothing, ranking) → ``render`` (the
    prediction to ``emit``, the window, the GIF's frames).
    """

    def __init__(
        self,
        source: Source,
        engine: Engine,
        settings: LoopSettings,
        emit: Callable[[LivePrediction], None],
        report: Callable[[str], None],
        keep_frames: bool = False,
    ):
        self.source, self.engine, self.emit, self.top_k = source, engine, emit, settings.top_k
        self.classifier = StreamingClassifier(engine, settings.smooth)
        self.capture = LiveCapture(source, settings.stride, settings.reconnect, report)
        self.summary = LiveSummary()
        self.shown: deque[np.ndarray] | None = deque(maxlen=engine.bundle.sequence_length) if keep_frames else None
        self.recent: deque[float] = deque(maxlen=FPS_PREDICTIONS)
        self.connection = 0
        self.last: LivePrediction | None = None

    def read(self) -> CapturedFrame | None:
        """The next sampled frame, or None when none came within ``POLL_S`` (``finished`` says whether more can come)."""
        return self.capture.frames.get(POLL_S)

    @property
    def finished(self) -> bool:
        return self.capture.frames.finished

    def encode(self, frame: CapturedFrame) -> np.ndarray:
        """The frame prepared and its features pushed into the ring; a new connection starts the ring afresh."""
        if frame.connection != self.connection:
            self.classifier.reset()
            if self.shown is not None:
                self.shown.clear()
            self.connection = frame.connection
        prepared = prepare_frame(frame.image, self.engine.bundle.image_size)
        self.classifier.encode(prepared)
        if self.shown is not None:
            self.shown.append(prepared)
        return prepared

    def decode(self, frame: CapturedFrame) -> LivePrediction:
        """The head's smoothed, ranked prediction on the ring, timed from the frame's capture."""
        probabilities = self.classifier.decode()
        done = time.monotonic()
        self.last = LivePrediction(
            self.source.text,
            rank(probabilities, self.engine.bundle.labels, self.top_k),
            self.engine.provider,
            frame.index,
            frame.timestamp,
            (done - frame.captured) * 1e3,
            self.capture.frames.dropped,
        )
        self.summary.latencies_ms.append(self.last.latency_ms)
        self.recent.append(done)
        return self.last

    def render(self, frame: CapturedFrame, prediction: LivePrediction, window: Window | None) -> bool:
        """The prediction emitted and drawn over its frame; False when the window was closed (q, Esc)."""
        self.emit(prediction)
        return window is None or window.show(draw_overlay(frame.image, prediction.predictions, overlay_stats(self.recent, prediction)))

    def save_gif(self, gif_path: str | Path) -> None:
        """The frames behind the last prediction, captioned with its top label."""
        if self.last is None or self.shown is None:
            return
        top = self.last.predictions[0]
        save_gif(np.stack([draw_caption(f, f"{top.label} {top.prob * 100:.0f}%") for f in self.shown]), gif_path)


def run_live(
    source: Source,
    engine: Engine,
    settings: LoopSettings,
    emit: Callable[[LivePrediction], None],
    report: Callable[[str], None],
    window_title: str | None = None,
    gif_path: str | Path | None = None,
) -> LiveSummary:
    """Classify ``source`` live until it ends, fails, or a stop is asked for.

    ``emit`` gets each prediction, ``report`` each line for stderr (reconnects
    and the closing summary). With ``window_title`` a window shows each
    prediction over its frame; the caller checks that a display is usable.
    A source lost for good raises its SourceUnavailableError after the
    buffered frames are classified; an error inside the capture thread is
    raised here the same way.
    """
    run = LiveRun(source, engine, settings, emit, report, keep_frames=bool(gif_path))
    run.classifier.warm_up()
    window = None
    run.capture.start()
    try:
        window = Window(window_title) if window_title else None
        with stop_requests() as stop:
            while not stop.is_set():
                frame = run.read()
                if frame is None:
                    if run.finished:
                        break
                    continue
                run.encode(frame)
                if not run.render(frame, run.decode(frame), window):
                    break
    finally:
        run.capture.stop()
        if window:
            window.close()
        run.summary.frames_read, run.summary.dropped = run.capture.frames_read, run.capture.frames.dropped
        report(str(run.summary))
    if gif_path:
        run.save_gif(gif_path)
    if run.capture.error is not None:
        raise run.capture.error
    return run.summary


def overlay_stats(recent: deque[float], last: LivePrediction) -> OverlayStats:
    """Predictions per second over the recent ones, and the latest latency."""
    span = recent[-1] - recent[0]
    fps = (len(recent) - 1) / span if span > 0 else 0.0
    return OverlayStats(fps, last.latency_ms)
