"""Live sources read in their own thread into a small buffer that keeps the newest frames.

A source is a camera (``cameraN``), a stream URL (``rtsp://``, ``http(s)://``,
MJPEG over HTTP included) or a video file replayed at its own frame rate.
Only every ``stride``-th source frame is handed on. When the reader is slower
than the source, the oldest handed-on frames are dropped and counted: the
buffer never grows, so what is classified is always recent.

Facts about OpenCV's capture that shape this module:

- a frozen stream blocks ``read()`` for 30 s unless the capture is opened with
  read and open timeouts (FFmpeg backend only; cameras ignore them);
- after a server dies ``read()`` returns False for good while ``isOpened()``
  stays True, so reconnecting means a new capture;
- OpenCV, FFmpeg and Qt log to stderr on their own; ``quiet_opencv`` silences
  them unless the user set their log levels.
"""

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import SourceUnavailableError
from ..sources import CAMERA, STREAM, Source
from ..video import open_video

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 3000
BUFFER_FRAMES = 2
BACKOFF_FIRST_S = 0.5
BACKOFF_CAP_S = 8.0
REPLAY_FPS_FALLBACK = 25.0


def quiet_opencv() -> None:
    """Silence OpenCV's, FFmpeg's and the window's (Qt: missing fonts) own stderr
    logging, unless the user set a level."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("QT_LOGGING_RULES", "default.warning=false")
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@dataclass(frozen=True)
class CapturedFrame:
    index: int  # position among all frames read from the source in this run
    image: np.ndarray  # BGR, as decoded
    captured: float  # time.monotonic() when the frame arrived
    timestamp: float  # time.time() at the same moment
    connection: int  # 0 for the first capture, +1 on each reconnect


def open_live(source: Source) -> cv2.VideoCapture:
    """An opened capture for a camera, stream or file; a camera or stream that
    will not open is a SourceUnavailableError naming it."""
    if source.kind == CAMERA:
        assert source.camera is not None
        capture = cv2.VideoCapture(source.camera)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's own queue would add latency
        what = f"cannot open camera device {source.camera}"
    elif source.kind == STREAM:
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
        assert source.url is not None
        capture = cv2.VideoCapture(source.url, cv2.CAP_FFMPEG, timeouts)
        what = "cannot open stream"
    else:
        assert source.path is not None
        return open_video(source.path)
    if not capture.isOpened():
        capture.release()
        raise SourceUnavailableError(f"{source.text}: {what}")
    return capture


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before reconnect ``attempt`` (1-based): doubling, capped."""
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** (attempt - 1))


class FrameBuffer:
    """A bounded FIFO between the capture thread and the reader; full means the oldest goes."""

    def __init__(self, size: int = BUFFER_FRAMES, arrived: threading.Event | None = None):
        self._frames: deque[CapturedFrame] = deque(maxlen=size)
        self._ready = threading.Condition()
        self._closed = False
        self._arrived = arrived  # also set on each put and on close: a reader of several buffers waits on it
        self.dropped = 0

    def put(self, frame: CapturedFrame) -> None:
        with self._ready:
            if len(self._frames) == self._frames.maxlen:
                self.dropped += 1
            self._frames.append(frame)
            self._ready.notify()
        if self._arrived is not None:
            self._arrived.set()

    def close(self) -> None:
        """No more frames will come; ``get`` still hands out what is buffered."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        if self._arrived is not None:
            self._arrived.set()

    def get(self, timeout: float | None = None) -> CapturedFrame | None:
        """The oldest buffered frame, waiting up to ``timeout`` s for one; None if none came."""
        with self._ready:
            self._ready.wait_for(lambda: self._frames or self._closed, timeout)
            return self._frames.popleft() if self._frames else None

    def newest(self) -> CapturedFrame | None:
        """The newest buffered frame without waiting, the older ones dropped (and counted); None if none."""
        with self._ready:
            if not self._frames:
                return None
            self.dropped += len(self._frames) - 1
            newest = self._frames.pop()
            self._frames.clear()
            return newest

    @property
    def waiting(self) -> bool:
        """A frame is buffered: ``newest`` would hand one out now."""
        with self._ready:
            return bool(self._frames)

    @property
    def finished(self) -> bool:
        """Closed and drained: no frame will come any more."""
        with self._ready:
            return self._closed and not self._frames


class LiveCapture:
    """Reads ``source`` in a thread and hands every ``stride``-th frame to ``frames``.

    A file is replayed once at its own frame rate and then ends. A camera or
    stream that stops delivering is reopened with capped exponential backoff,
    up to ``reconnect`` attempts in a row (each announced through ``report``);
    when they run out, ``error`` holds a SourceUnavailableError and the buffer
    closes. Any other exception inside the thread ends it the same way, held
    in ``error`` for the reader to raise. The first open happens in the
    constructor, so an unavailable source fails at once.
    """

    def __init__(
        self,
        source: Source,
        stride: int = 1,
        reconnect: int = 5,
        report: Callable[[str], None] = print,
        buffer_frames: int = BUFFER_FRAMES,
        arrived: threading.Event | None = None,
    ):
        self.source = source
        self.stride = stride
        self.reconnect = reconnect
        self.report = report
        self.frames = FrameBuffer(buffer_frames, arrived)
        self.frames_read = 0
        self.connection = 0  # +1 on each reconnect
        self.error: BaseException | None = None
        self.tap: Callable[[int, np.ndarray, float], None] | None = None  # gets every frame read (index, image, time.time())
        self.replay = not source.live
        self._capture: cv2.VideoCapture | None = open_live(source)
        fps = self._capture.get(cv2.CAP_PROP_FPS) if self.replay else 0.0
        self.fps = fps if fps > 0 else 0.0  # the file's own rate; 0 for a camera or stream
        self._frame_interval = 1.0 / (fps if fps > 0 else REPLAY_FPS_FALLBACK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture {source.text}", daemon=True)

    def start(self) -> "LiveCapture":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and release the device; frames already buffered stay readable."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        failures = 0
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                if self._capture is None:
                    if self.replay or not self._reopen(failures := failures + 1):
                        break
                    continue
                ok, image = self._capture.read()
                if not ok:
                    self._capture.release()
                    self._capture = None
                    continue
                failures = 0
                if self.replay and self._stop.wait(max(0.0, started + self.frames_read * self._frame_interval - time.monotonic())):
                    break
                self._hand_on(image)
        except Exception as exc:  # the reader raises it: the run ends with its exit code, not as if the source ended
            self.error = exc
        finally:
            if self._capture is not None:
                self._capture.release()
            self.frames.close()

    def _hand_on(self, image: np.ndarray) -> None:
        index = self.frames_read
        self.frames_read += 1
        if self.tap is not None:
            self.tap(index, image, time.time())
        if index % self.stride == 0:
            self.frames.put(CapturedFrame(index, image, time.monotonic(), time.time(), self.connection))

    def _reopen(self, attempt: int) -> bool:
        """Wait out the backoff and try a new capture; False when attempts ran out or on stop."""
        if attempt > self.reconnect:
            self.error = SourceUnavailableError(f"{self.source.text}: source lost; no frames after {self.reconnect} reconnect attempts")
            return False
        delay = backoff_delay(attempt)
        self.report(f"{self.source.text}: no frames; reconnecting in {delay:.1f} s (attempt {attempt} of {self.reconnect})")
        if self._stop.wait(delay):
            return False
        try:
            self._capture = open_live(self.source)
        except SourceUnavailableError:
            return True  # still gone: the next attempt waits longer
        self.connection += 1
        return True
