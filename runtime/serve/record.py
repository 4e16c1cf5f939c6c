"""``--record DIR``: each event's clip, from ``pre`` seconds before its start to ``post`` after its end, and a JSON sidecar.

    capture thread ──► tap: pre-roll ring (bounded) ──► open clips ──► queue (bounded, in frames) ──► writer thread
    live loop ──► event start: a clip opens with the ring's frames since start - pre
              ──► event end: the clip closes at the first frame after end + post

Every frame read (not only the sampled ones) is recorded, so a clip plays
at the source's rate and size (AVI, Motion-JPEG). The writer writes
``DIR/SOURCE/.STEM.partial.avi``, checks the file holds every frame, writes
the sidecar, then renames both to ``STEM.avi`` and ``STEM.json``: a clip under
its final name is complete, whatever happens to the process. The capture
thread never waits: when ``QUEUE_MB`` of frames wait for the writer, the clip
being fed is given up (one stderr line) and the run goes on; a write that
fails (full disk, unwritable DIR) is one stderr line, and its event is
reported as ever.

An event's start is known at most ``min_duration + min_gap`` after its
first prediction and its end ``min_gap`` after its last (see ``events``):
the ring keeps ``pre`` plus that sum plus ``LATE_S``, at most
``PREROLL_CAP_MB``.
"""

import json
import math
import os
import queue
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from pathlib import Path

import cv2
import numpy as np

from ..live.capture import REPLAY_FPS_FALLBACK, LiveCapture
from ..live.events import Event
from ..video_writer import FOURCC

PREROLL_CAP_MB = 256  # the most a source's pre-roll ring holds
QUEUE_MB = 2 * PREROLL_CAP_MB  # frames waiting for the writer, all sources together: a clip's pre-roll and as much again
LATE_S = 1.0  # how much later than its time the loop may tell of an event (its latency), and then some
MJPG = cv2.VideoWriter.fourcc(*FOURCC)  # event clips in the codec every vclf video is written in
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def folder_name(source: str) -> str:
    """A source's name as one safe path component (a URL's ``/`` and ``:`` become ``_``)."""
    return UNSAFE.sub("_", source).strip("._") or "source"


@dataclass(eq=False)
class Clip:
    """One event's clip while it is fed: what the writer needs, and until when frames belong to it."""

    number: int
    temp: Path
    final: Path
    first: int  # the source's index of its first frame
    next: int  # ... and of the next frame it takes
    until: float | None = None  # it ends before the first frame after this timestamp; None while the event lasts
    record: dict = field(default_factory=dict)  # the event, as its JSON line


class Recorder:
    """Clips of the events of every source, written by one thread."""

    def __init__(self, folder: Path, pre: float, post: float, lookback: float, report: Callable[[str], None]):
        self.folder, self.pre, self.post, self.report = folder, pre, post, report
        # How old a frame is before a clip takes it: an event's end is learnt up to lookback + LATE_S late,
        # and the clip must not have taken frames past end + post by then.
        self.lag = max(0.0, lookback + LATE_S - post)
        self.keep_s = max(pre + lookback, self.lag) + LATE_S
        self.sources: dict[str, SourceRecorder] = {}
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.pending = 0  # bytes of frames queued, not yet written
        self.pending_lock = threading.Lock()
        self.numbers = count()
        self.usable = self._check_folder()
        self._writer = threading.Thread(target=self._write, name="vclf-record", daemon=True)
        self._writer.start()

    def _check_folder(self) -> bool:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            self.report(f"--record {self.folder}: cannot write there ({exc.strerror or exc}); events are reported, no clips kept")
            return False
        return True

    def attach(self, name: str, capture: LiveCapture) -> None:
        """Record this source: its capture thread feeds the ring from now on (unless DIR cannot be written)."""
        if self.usable:
            capture.tap = self.source(name, capture.fps).tap

    def source(self, name: str, fps: float) -> "SourceRecorder":
        """The recorder of one source whose frames (``fps`` a second; 0: unknown) come through its ``tap``."""
        self.sources[name] = SourceRecorder(self, name, fps)
        return self.sources[name]

    def event(self, name: str, event: Event, record: dict) -> None:
        if self.usable and name in self.sources:
            self.sources[name].event(event, record)

    def close(self) -> None:
        """The sources have stopped: clips still open end at their last frame; waits for the writer (once)."""
        if not self._writer.is_alive():
            return
        for recorder in self.sources.values():
            recorder.end()
        self.jobs.put(None)
        self._writer.join()

    def send(self, job: tuple, frame: bool = False) -> bool:
        """Queue a job for the writer; a frame only while less than ``QUEUE_MB`` wait (False when it does not fit)."""
        if frame:
            with self.pending_lock:
                if self.pending + job[2].nbytes > QUEUE_MB * 2**20:
                    return False
                self.pending += job[2].nbytes
        self.jobs.put(job)
        return True

    def _write(self) -> None:
        writers: dict[int, ClipWriter] = {}
        while (job := self.jobs.get()) is not None:
            kind, number, *rest = job
            if kind == "open":
                writers[number] = ClipWriter(*rest)
            elif kind == "frame":
                writers[number].write(rest[0])
                with self.pending_lock:
                    self.pending -= rest[0].nbytes
            elif kind == "close":
                error = writers.pop(number).finish(rest[0])
                if error:
                    self.report(error)
            else:  # "drop"
                writers.pop(number).discard()


class SourceRecorder:
    """One source's ring and open clips; ``tap`` runs in its capture thread, ``event`` in the loop's.

    When ``post`` is shorter than the delay with which the loop learns of an
    end (``lookback`` plus its latency), a clip takes the ring's frames only
    once they are ``lag`` seconds old, so it has none past end + post by
    then; otherwise at once."""

    def __init__(self, recorder: Recorder, name: str, fps: float):
        self.recorder, self.name, self.fps = recorder, name, fps
        self.ring: deque[tuple[int, float, np.ndarray]] = deque()  # (frame index, timestamp, image), indices consecutive
        self.ring_frames = 0  # the ring's length cap, set from the first frame's size
        self.clips: list[Clip] = []
        self.lock = threading.Lock()

    def tap(self, index: int, image: np.ndarray, timestamp: float) -> None:
        with self.lock:
            if not self.ring_frames:
                self.ring_frames = max(1, PREROLL_CAP_MB * 2**20 // image.nbytes)
            self.ring.append((index, timestamp, image))
            for clip in list(self.clips):
                self._feed(clip, timestamp - self.recorder.lag)
            while len(self.ring) > self.ring_frames or self.ring[0][1] < timestamp - self.recorder.keep_s:
                for clip in list(self.clips):  # the memory cap bites before the lag is over: the frame goes to them now
                    self._feed(clip, self.ring[0][1])
                self.ring.popleft()

    def event(self, event: Event, record: dict) -> None:
        with self.lock:
            if event.kind == "start":
                self._open(event, record)
                return
            for clip in self.clips:
                if clip.until is None and clip.record["start"] == record["start"] and clip.record["label"] == record["label"]:
                    assert event.end is not None  # an end event has its end
                    clip.until, clip.record = event.end + self.recorder.post, record

    def end(self) -> None:
        """The source stopped: each open clip gets the frames it still wants and closes."""
        with self.lock:
            for clip in list(self.clips):
                if self._feed(clip, math.inf):
                    self._close(clip)

    def _open(self, event: Event, record: dict) -> None:
        since = event.start - self.recorder.pre - self._slack()
        first = next((index for index, t, _ in self.ring if t >= since), None)
        if first is None:
            return
        stem = f"{datetime.fromtimestamp(event.start).strftime('%Y%m%d-%H%M%S.%f')[:-3]}-{folder_name(event.label)}"
        where = self.recorder.folder / folder_name(self.name)
        number = next(self.recorder.numbers)
        clip = Clip(number, where / f".{stem}.partial.avi", where / f"{stem}.avi", first, first, record=record)
        height, width = self.ring[-1][2].shape[:2]
        self.recorder.send(("open", number, clip.temp, clip.final, self._rate(), (width, height)))
        self.clips.append(clip)

    def _rate(self) -> float:
        """The file's own rate, else the rate the ring's frames came at."""
        if self.fps > 0:
            return self.fps
        if len(self.ring) > 1 and self.ring[-1][1] > self.ring[0][1]:
            return (len(self.ring) - 1) / (self.ring[-1][1] - self.ring[0][1])
        return REPLAY_FPS_FALLBACK

    def _slack(self) -> float:
        """Half a frame: the frames' own timestamps and the events' (taken a moment later) differ by microseconds."""
        return 0.5 / self._rate()

    def _feed(self, clip: Clip, ripe: float) -> bool:
        """Queue the clip's next ring frames up to timestamp ``ripe``; close it at the first past its end. False once closed."""
        position = max(0, clip.next - self.ring[0][0]) if self.ring else 0
        while position < len(self.ring):
            index, timestamp, image = self.ring[position]
            if timestamp > ripe:
                return True
            if clip.until is not None and timestamp > clip.until + self._slack():
                self._close(clip)
                return False
            if not self.recorder.send(("frame", clip.number, image), frame=True):
                self._give_up(clip)
                return False
            clip.next, position = index + 1, position + 1
        return True

    def _give_up(self, clip: Clip) -> None:
        self.clips.remove(clip)
        self.recorder.send(("drop", clip.number))
        self.recorder.report(
            f"--record: {self.name}: the writer is {QUEUE_MB} MB of frames behind; the clip of {clip.record['label']} "
            f"starting {datetime.fromtimestamp(clip.record['start']):%H:%M:%S} is not kept"
        )

    def _close(self, clip: Clip) -> None:
        self.clips.remove(clip)
        sidecar = {
            **clip.record,
            "pre": self.recorder.pre,
            "post": self.recorder.post,
            "first_frame": clip.first,
            "last_frame": clip.next - 1,
        }
        self.recorder.send(("close", clip.number, sidecar))


class ClipWriter:
    """One clip on disk: a temp file while written, renamed with its sidecar once checked complete."""

    def __init__(self, temp: Path, final: Path, fps: float, size: tuple[int, int]):
        self.temp, self.final, self.fps, self.size = temp, final, fps, size
        self.frames = 0
        self.error: str | None = None
        try:
            temp.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.error = f"cannot create the folder ({exc.strerror or exc})"
        self.writer = None if self.error else cv2.VideoWriter(str(temp), cv2.CAP_OPENCV_MJPEG, MJPG, fps, size)
        if self.writer is not None and not self.writer.isOpened():
            self.error = "cannot open it for writing"

    def write(self, image: np.ndarray) -> None:
        if self.error:
            return
        if image.shape[1::-1] != self.size:
            image = cv2.resize(image, self.size)
        assert self.writer is not None  # opened with the clip
        self.writer.write(image)
        self.frames += 1

    def finish(self, sidecar: dict) -> str | None:
        """Close, check, write the sidecar and rename both; the one stderr line when that fails (nothing left behind)."""
        if self.writer is not None:
            self.writer.release()
        meta = self.final.with_suffix(".json")
        temp_meta = self.temp.with_suffix(".json")
        try:
            if self.error:
                raise OSError(self.error)
            written = cv2.VideoCapture(str(self.temp))
            held = int(written.get(cv2.CAP_PROP_FRAME_COUNT)) if written.isOpened() else 0
            written.release()
            if held != self.frames:
                raise OSError(f"the file holds {held} of {self.frames} frames (disk full?)")
            sidecar["clip"] = {
                "file": self.final.name,
                "frames": self.frames,
                "fps": round(self.fps, 3),
                "width": self.size[0],
                "height": self.size[1],
            }
            temp_meta.write_text(json.dumps(sidecar, indent=1) + "\n")
            os.replace(temp_meta, meta)
            os.replace(self.temp, self.final)
        except OSError as exc:
            self.discard(meta if not self.final.exists() else None)
            return f"--record: {self.final}: not kept ({exc.strerror or exc}); the event is reported as ever"
        return None

    def discard(self, meta: Path | None = None) -> None:
        """Remove what was written (the temp clip, its sidecar)."""
        if self.writer is not None:
            self.writer.release()
        for path in (self.temp, self.temp.with_suffix(".json"), meta):
            if path is not None:
                path.unlink(missing_ok=True)
