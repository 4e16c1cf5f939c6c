"""What ``--serve`` shows, kept beside the live loop: each source's latest frame and prediction, the event log.

The loop only hands references over (``predicted``, ``event``: a lock, a few
assignments, the metrics' increments); nothing is drawn or encoded there.
A viewer's thread draws the overlay and JPEG-encodes it, at most
``MAX_VIEW_FPS`` times a second per source and once per new prediction
whatever the number of viewers, and only while someone watches.
"""

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2

from ..live.capture import CapturedFrame
from ..live.loop import FPS_PREDICTIONS, LivePrediction, overlay_stats
from ..live.multi_source import SourceState
from ..live.overlay import draw_overlay
from .metrics import Metrics

MAX_VIEW_FPS = 10.0  # the most overlay images a second a source's viewers get
JPEG_QUALITY = 80
EVENT_LOG = 200  # events kept for /events.json and late /events subscribers
STALE_S = 3.0  # a source with no new frame for this long is down


@dataclass
class SourceView:
    """One source as viewers see it."""

    frame: CapturedFrame | None = None
    prediction: LivePrediction | None = None
    recent: deque = field(default_factory=lambda: deque(maxlen=FPS_PREDICTIONS))
    jpeg: bytes | None = None
    jpeg_of: int = -1  # the frame index ``jpeg`` shows
    encode_lock: threading.Lock = field(default_factory=threading.Lock)


class Watch:
    """The loop's ``Watcher`` for ``--serve``: it keeps what the endpoints read."""

    def __init__(self, names: list[str], metrics: Metrics):
        self.metrics = metrics
        self.views = {name: SourceView() for name in names}
        self.states: dict[str, SourceState] = {}
        self.log: deque[tuple[int, dict]] = deque(maxlen=EVENT_LOG)  # (sequence number, event record)
        self.changed = threading.Condition()  # notified on each prediction and event
        self.events_seen = 0
        self.finished = False  # the loop has ended: streams and subscribers stop waiting

    # The loop's side: called from its thread, each returns at once.
    def opened(self, states: list[SourceState]) -> None:
        self.states = {state.name: state for state in states}
        self.metrics.watch_sources(self.states)

    def stepped(self, batch_size: int) -> None:
        self.metrics.batch_size.observe(batch_size)

    def predicted(self, name: str, frame: CapturedFrame, prediction: LivePrediction) -> None:
        view = self.views[name]
        with self.changed:
            view.frame, view.prediction = frame, prediction
            view.recent.append(time.monotonic())
            self.changed.notify_all()
        self.metrics.predicted(name, prediction.latency_ms)

    def event(self, record: dict) -> None:
        with self.changed:
            self.events_seen += 1
            self.log.append((self.events_seen, record))
            self.changed.notify_all()
        if record["event"] == "start":
            self.metrics.events.labels(record["source"], record["label"]).inc()

    def finish(self) -> None:
        with self.changed:
            self.finished = True
            self.changed.notify_all()

    # The viewers' side: called from the server's threads.
    def jpeg(self, name: str) -> tuple[int, bytes] | None:
        """The source's latest overlay as JPEG with its frame index, encoded once per new prediction; None before one."""
        view = self.views[name]
        with self.changed:
            frame, prediction, recent = view.frame, view.prediction, deque(view.recent)
        if frame is None or prediction is None:
            return None
        with view.encode_lock:
            if view.jpeg_of != frame.index:
                overlay = draw_overlay(frame.image, prediction.predictions, overlay_stats(recent, prediction))
                _, data = cv2.imencode(".jpg", overlay, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                view.jpeg, view.jpeg_of = data.tobytes(), frame.index
            assert view.jpeg is not None  # encoded just now, or for this frame before
            return view.jpeg_of, view.jpeg

    def wait_for_frame(self, name: str, after: int, timeout: float) -> bool:
        """Until the source has a prediction newer than frame ``after`` (True), the loop ends or ``timeout`` passes."""
        view = self.views[name]
        with self.changed:
            return (
                self.changed.wait_for(lambda: (view.frame is not None and view.frame.index != after) or self.finished, timeout)
                and not self.finished
            )

    def events_after(self, seen: int, timeout: float) -> list[tuple[int, dict]]:
        """The logged events numbered above ``seen``, waiting up to ``timeout`` for one."""
        with self.changed:
            self.changed.wait_for(lambda: self.events_seen > seen or self.finished, timeout)
            return [(number, record) for number, record in self.log if number > seen]

    def predictions(self) -> dict[str, dict]:
        """The latest prediction per source, with its rate and whether the source is up."""
        now = time.monotonic()
        out: dict[str, dict] = {}
        with self.changed:
            for name, view in self.views.items():
                if view.prediction is None:
                    out[name] = {"up": self.is_up(name, now), "prediction": None}
                    continue
                state = self.states.get(name)
                out[name] = {
                    "up": self.is_up(name, now),
                    "prediction": view.prediction.to_dict(),
                    "fps": round(overlay_stats(view.recent, view.prediction).fps, 2),
                    "frames_read": state.capture.frames_read if state else 0,
                }
        return out

    def is_up(self, name: str, now: float | None = None) -> bool:
        """A source is up while frames come: opened, not ended (played through or lost), a frame within ``STALE_S``."""
        state, view = self.states.get(name), self.views[name]
        if state is None or state.ended or state.capture.error is not None:
            return False
        if view.frame is None:
            return True
        return (now or time.monotonic()) - view.frame.captured < STALE_S

    def down(self) -> list[str]:
        """The sources that are not up, in order."""
        now = time.monotonic()
        return [name for name in self.views if not self.is_up(name, now)]
