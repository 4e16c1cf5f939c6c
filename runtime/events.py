"""Actions as events with a start and an end: hysteresis over one source's predictions.

A pure state machine over (timestamp, probabilities), fed one prediction at
a time; it reads no clock and touches no source. An action starts when its
probability is the highest and stays at or above ``on`` for ``min_duration``
seconds; the start is the first of those predictions. It ends when its
probability stays below ``off`` for ``min_gap`` seconds (the end is the
first prediction below), when another action starts (the end is that
action's start), or when the source ends or reconnects (``finish``: the
end is the last prediction). A single prediction below ``off`` inside an
action, shorter than ``min_gap``, does not split it.

``peak`` and ``mean`` are the action's probability over the predictions
from its start to its end (the end's own prediction left out).
"""

from dataclasses import dataclass, field

import numpy as np

# Measured with benchmarks/event_thresholds.py on make live-switch's model, 11 replays of grow, shrink,
# grow (six 40-frame clips each, 25 fps): on 0.5 with 1 s for both durations gave the most replays with
# exactly those three actions (4 of 11; 0.5 s: 1, 1.5 s: 4, 2 s: 1; a higher --on never more); the misses
# are scenes the head misreads for 0.6-1.2 s, longer than hysteresis can tell from a short action.
ON_DEFAULT = 0.5
OFF_DEFAULT = 0.4
MIN_DURATION_S = 1.0
MIN_GAP_S = 1.0


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
        self._candidate: _Run | None = None  # a label at or above ``on``, not yet long enough
        self._below: _Run | None = None  # the active label's predictions since it fell below ``off``
        self._last: tuple[float, int] | None = None

    def update(self, timestamp: float, probabilities: np.ndarray, frame: int = -1) -> list[Event]:
        """The events this prediction completes (none, a start, an end, or an end and a start)."""
        self._last = (timestamp, frame)
        top = int(np.argmax(probabilities))
        events = self._follow_candidate(top, float(probabilities[top]), timestamp, frame)
        if self._active is not None and not events:
            events = self._follow_active(float(probabilities[self._active.label]), timestamp, frame)
        return events

    def finish(self) -> list[Event]:
        """End the action under way, if any, at the last prediction; forget any candidate."""
        self._candidate = None
        if self._active is None or self._last is None:
            return []
        if self._below is not None:
            end, end_frame = self._below.start, self._below.start_frame
        else:
            end, end_frame = self._last
        return [self._end(end, end_frame)]

    def _follow_candidate(self, top: int, probability: float, timestamp: float, frame: int) -> list[Event]:
        """Track the top label at or above ``on`` that is not the active one; start it when it has lasted."""
        active = self._active.label if self._active is not None else None
        if probability < self.settings.on or top == active:
            self._candidate = None
            return []
        if self._candidate is None or self._candidate.label != top:
            self._candidate = _Run(top, timestamp, frame)
        self._candidate.add(timestamp, probability)
        if timestamp - self._candidate.start < self.settings.min_duration:
            return []
        started, self._candidate = self._candidate, None
        events = [self._end(started.start, started.start_frame)] if self._active is not None else []
        self._active, self._below = started, None
        self.counts["start"] += 1
        peak, mean = started.figures()
        return events + [Event("start", self.labels[started.label], started.start, started.start_frame, None, None, peak, mean)]

    def _follow_active(self, probability: float, timestamp: float, frame: int) -> list[Event]:
        """Hold the active action through short dips below ``off``; end it after ``min_gap``."""
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
        self.counts["end"] += 1
        peak, mean = run.figures(before=end)
        return Event("end", self.labels[run.label], run.start, run.start_frame, end, end_frame, peak, mean)
