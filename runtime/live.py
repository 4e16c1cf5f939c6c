"""Live classification: one feature per new sampled frame, the head on a sliding window.

    source ──► LiveCapture (thread, drops oldest) ──► every stride-th frame
           ──► prepare_frame ──► extractor (1 frame) ──► FeatureWindow (T) ──► head
           ──► Smoother ──► JSON line / overlay window

Each frame's features are computed once, so a prediction costs one extractor
call on one frame plus the GRU head, never the whole window again.
SIGINT, SIGTERM and SIGHUP stop the loop between frames; the capture is released and
a summary goes to stderr however the run ends.
"""

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .capture import LiveCapture
from .classify import Prediction, prediction_records, rank
from .cli_errors import stop_signals
from .display import Window
from .engine import Engine
from .gif import save_gif
from .overlay import OverlayStats, draw_caption, draw_overlay
from .preprocess import prepare_frame
from .sources import Source
from .window import FeatureWindow, Smoother

POLL_S = 0.2  # how often the loop looks for a stop request while no frame comes
FPS_PREDICTIONS = 10  # the overlay's fps is over this many recent predictions


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
        self.window = FeatureWindow(bundle.sequence_length, bundle.feature_size)
        self.smoother = Smoother(smooth)

    def step(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Class probabilities ``[C]`` after adding one RGB ``[S, S, 3]`` frame."""
        self.window.push(self.engine.extract(frame_rgb[None])[0])
        features, mask = self.window.head_inputs()
        return self.smoother.add(self.engine.classify(features, mask)[0])

    def warm_up(self) -> None:
        """One step on a blank frame, then forget it: ONNX Runtime's first run is several
        times slower than the next, and live frames should not wait for it."""
        size = self.engine.bundle.image_size
        self.step(np.zeros((size, size, 3), np.uint8))
        self.reset()

    def reset(self) -> None:
        """Forget the window: what came before a reconnect is not what the source shows now."""
        self.window.clear()
        self.smoother.clear()


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP (``stop_signals``) while inside; the previous handlers come back after."""
    requested = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: requested.set()) for sig in (signal.SIGINT, *stop_signals())}
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_live(
    source: Source,
    engine: Engine,
    stride: int,
    emit: Callable[[LivePrediction], None],
    report: Callable[[str], None],
    smooth: int = 1,
    top_k: int | None = None,
    reconnect: int = 5,
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
    bundle = engine.bundle
    classifier = StreamingClassifier(engine, smooth)
    classifier.warm_up()
    capture = LiveCapture(source, stride, reconnect, report)
    window = None
    summary = LiveSummary()
    shown: deque[np.ndarray] = deque(maxlen=bundle.sequence_length)  # frames behind the last prediction
    recent: deque[float] = deque(maxlen=FPS_PREDICTIONS)
    connection, last = 0, None
    capture.start()
    try:
        window = Window(window_title) if window_title else None
        with stop_requests() as stop:
            while not stop.is_set():
                frame = capture.frames.get(POLL_S)
                if frame is None:
                    if capture.frames.finished:
                        break
                    continue
                if frame.connection != connection:
                    classifier.reset()
                    shown.clear()
                    connection = frame.connection
                prepared = prepare_frame(frame.image, bundle.image_size)
                probabilities = classifier.step(prepared)
                done = time.monotonic()
                last = LivePrediction(
                    source.text,
                    rank(probabilities, bundle.labels, top_k),
                    engine.provider,
                    frame.index,
                    frame.timestamp,
                    (done - frame.captured) * 1e3,
                    capture.frames.dropped,
                )
                summary.latencies_ms.append(last.latency_ms)
                recent.append(done)
                if gif_path:
                    shown.append(prepared)
                emit(last)
                if window and not window.show(draw_overlay(frame.image, last.predictions, overlay_stats(recent, last))):
                    break
    finally:
        capture.stop()
        if window:
            window.close()
        summary.frames_read, summary.dropped = capture.frames_read, capture.frames.dropped
        report(str(summary))
    if gif_path and last is not None:
        top = last.predictions[0]
        save_gif(np.stack([draw_caption(f, f"{top.label} {top.prob * 100:.0f}%") for f in shown]), gif_path)
    if capture.error is not None:
        raise capture.error
    return summary


def overlay_stats(recent: deque[float], last: LivePrediction) -> OverlayStats:
    """Predictions per second over the recent ones, and the latest latency."""
    span = recent[-1] - recent[0]
    fps = (len(recent) - 1) / span if span > 0 else 0.0
    return OverlayStats(fps, last.latency_ms)
