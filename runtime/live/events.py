"""Actions as events with a start and an end: hysteresis over one source's predictions.

A pure state machine over (timestamp, probabilities), fed one prediction at
a time; it reads no clock and touches no source. An action starts once its
probability has been the highest and at or above ``on`` for ``min_duration``
seconds in all, held through dips shorter than ``min_gap`` and than its time
so far as the highest (a stray prediction of a label cannot join a later
one), for at most ``min_duration + min_gap`` from its first such prediction,
which is the start. So a flicker while an action builds up does not move its
start, and a start is known at most ``min_duration + min_gap`` after it. It
ends when its probability stays below ``off`` for ``min_gap`` seconds (the
end is the first prediction below), when another action starts (the end is
that action's start), or when the source ends or reconnects (``finish``: the
end is the last prediction). A single prediction below ``off`` inside an
action, shorter than ``min_gap``, does not split it.

``peak`` and ``mean`` are the action's probability over the predictions
from its start to its end (the end's own prediction left out).
"""

from dataclasses import dataclass, field

import numpy as np

# Measured with benchmarks/event_thresholds.py on make live-switch's model (Lite0 ImageNet, 160 px,
# --live-windows), 22 replays of grow, shrink, grow (six 40-frame clips each, 25 fps, written by OpenCV):
# 2 s for both durations gave 21 of 22 exactly right at each --on from 0.5 to 0.7 (0.8, 0.9: 20; 1.5 s: 19-20,
# 1 s: 16-17, 0.5 s: 12-15), and all of the 11 replays the old defaults were chosen on; the miss is a first
# clip the head reads as shrink for 1.6 s, so its grow starts 25 sampled frames late.
ON_DEFAULT = 0.5
OFF_DEFAULT = 0.4
MIN_DURATION_S = 2.0
MIN_GAP_S = 2.0


@dataclass(frozen=True)
class EventSettings:
    on: float = ON_DEFAULT
    off: float = OFF_DEFAULT
    min_duration: float = MIN_DURATION_S  # seconds at or above ``on`` before an action starts
    min_gap: float = MIN_GAP_S  # seconds below ``off`` before it ends

    def __post_init__(self) -> None:
        if not 0.0 <= self.off <= self.on <= 1.0:
            raise ValueError(f"events need 0 <= off <= on <= 1, not off {self.off}, on {self.on}")
        if self.min_duration < 0 or self.min_gap < 0:
            raise ValueError("--min-duration and --min-gap are seconds, at least 0")


@dataclass(frozen=True)
class Event:
    """One start or end. A start has no end yet: ``end``, ``duration``, ``end_frame`` are None."""

    kind: str  # "start" or "end"
    label: str
    start: float  # timestamp of the first prediction of the action
    start_frame: int
    end: float | None
    end_frame: int | None
    peak: float
    mean: float

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_dict(self, source: str) -> dict:
        """The JSON line of this event on ``source``: wall-clock times (seconds since the epoch) and the source's frame indices."""
        rounded = lambda value: None if value is None else round(value, 6)  # noqa: E731
        return {
            "event": self.kind,
            "source": source,
            "label": self.label,
            "start": rounded(self.start),
            "end": rounded(self.end),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "duration": rounded(self.duration),
            "peak": round(self.peak, 6),
            "mean": round(self.mean, 6),
        }


@dataclass
class _Run:
    """Predictions of one label so far: where they began, and the label's probability at each."""

    label: int
    start: float
    start_frame: int
    seen: list[tuple[float, float]] = field(default_factory=list)  # (timestamp, probability)
    led: float = 0.0  # a candidate's seconds as the highest label at or above ``on``
    dip: float | None = None  # its first prediction since it last was

    def add(self, timestamp: float, probability: float) -> None:
        self.seen.append((timestamp, probability))

    def figures(self, before: float | None = None) -> tuple[float, float]:
        """Peak and mean of the probability over the predictions before ``before`` (all when None)."""
        kept = [p for t, p in self.seen if before is None or t < before] or [p for _, p in self.seen[:1]]
        return (max(kept), float(np.mean(kept))) if kept else (0.0, 0.0)


class EventTracker:
    """Events of one source; ``update`` per prediction, ``finish`` when the source ends or reconnects."""

    def __init__(self, labels: list[str], settings: EventSettings = EventSettings()):
        self.labels = labels
        self.settings = settings
        self.counts = {"start": 0, "end": 0}
        self._active: _Run | None = None
        self._candidates: dict[int, _Run] = {}  # labels that came up highest at or above ``on``, not yet long enough
        self._below: _Run | None = None  # the active label's predictions since it fell below ``off``
        self._last: tuple[float, int] | None = None

    def update(self, timestamp: float, probabilities: np.ndarray, frame: int = -1) -> list[Event]:
        """The events this prediction completes (none, a start, an end, or an end and a start)."""
        previous = timestamp if self._last is None else self._last[0]
        self._last = (timestamp, frame)
        top = int(np.argmax(probabilities))
        events = self._follow_candidates(top, probabilities, timestamp - previous, timestamp, frame)
        if self._active is not None and not events:
            events = self._follow_active(float(probabilities[self._active.label]), timestamp, frame)
        return events

    def finish(self) -> list[Event]:
        """End the action under way, if any, at the last prediction; forget the candidates."""
        self._candidates.clear()
        if self._active is None or self._last is None:
            return []
        if self._below is not None:
            end, end_frame = self._below.start, self._below.start_frame
        else:
            end, end_frame = self._last
        return [self._end(end, end_frame)]

    def _follow_candidates(self, top: int, probabilities: np.ndarray, step: float, timestamp: float, frame: int) -> list[Event]:
        """Follow each label that comes up highest at or above ``on`` (the active one aside) through dips shorter
        than ``min_gap`` and than its time so far as the highest; start the leading one once that time reaches
        ``min_duration``. ``step`` is the time since the previous prediction."""
        active = self._active.label if self._active is not None else None
        leading = top if probabilities[top] >= self.settings.on and top != active else None
        for label, run in list(self._candidates.items()):
            run.add(timestamp, float(probabilities[label]))
            run.dip = None if label == leading else timestamp if run.dip is None else run.dip
            dipped = run.dip is not None and timestamp - run.dip >= min(self.settings.min_gap, run.led)
            if dipped or timestamp - run.start > self.settings.min_duration + self.settings.min_gap:
                del self._candidates[label]
        if leading is not None and leading in self._candidates:
            self._candidates[leading].led += step
        elif leading is not None:
            self._candidates[leading] = _Run(leading, timestamp, frame, [(timestamp, float(probabilities[leading]))])
        if leading is None or self._candidates[leading].led < self.settings.min_duration:
            return []
        started = self._candidates.pop(leading)
        self._candidates.clear()
        events = [self._end(started.start, started.start_frame)] if self._active is not None else []
        self._active, self._below = started, None
        self.counts["start"] += 1
        peak, mean = started.figures()
        return events + [Event("start", self.labels[started.label], started.start, started.start_frame, None, None, peak, mean)]

    def _follow_active(self, probability: float, timestamp: float, frame: int) -> list[Event]:
        """Hold the active action through short dips below ``off``; end it after ``min_gap``."""
        assert self._active is not None  # called only while an action is on
        if probability >= self.settings.off:
            if self._below is not None:  # the dip was short: it belongs to the action
                self._active.seen += self._below.seen
                self._below = None
            self._active.add(timestamp, probability)
            return []
        if self._below is None:
            self._below = _Run(self._active.label, timestamp, frame)
        self._below.add(timestamp, probability)
        if timestamp - self._below.start < self.settings.min_gap:
            return []
        return [self._end(self._below.start, self._below.start_frame)]

    def _end(self, end: float, end_frame: int) -> Event:
        run, self._active, self._below = self._active, None, None
        assert run is not None  # only an action that is on ends
        self.counts["end"] += 1
        peak, mean = run.figures(before=end)
        return Event("end", self.labels[run.label], run.start, run.start_frame, end, end_frame, peak, mean)
