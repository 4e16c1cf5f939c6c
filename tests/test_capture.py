"""Live capture: a bounded buffer that drops the oldest, paced file replays, cameras that fail and recover."""

import threading
import time

import numpy as np
import pytest
from support.clips import counting_frames

from vclf.runtime.errors import BadInputError, SourceUnavailableError
from vclf.runtime.live import capture as capture_module
from vclf.runtime.live.capture import CapturedFrame, FrameBuffer, LiveCapture, backoff_delay
from vclf.runtime.sources import resolve_source
from vclf.runtime.video_writer import write_video


def grey_level(frame: CapturedFrame) -> int:
    return int(round(frame.image.mean()))


def drain(capture: LiveCapture) -> list[CapturedFrame]:
    frames = []
    while (frame := capture.frames.get(timeout=10)) is not None:
        frames.append(frame)
    return frames


def test_full_buffer_drops_the_oldest_frames_and_counts_them():
    buffer = FrameBuffer(2)
    for index in range(5):
        buffer.put(CapturedFrame(index, np.zeros((1, 1, 3), np.uint8), 0.0, 0.0, 0))
    buffer.close()
    assert [buffer.get().index, buffer.get().index] == [3, 4]
    assert buffer.dropped == 3 and buffer.get() is None and buffer.finished


def test_newest_takes_the_latest_frame_at_once_and_counts_the_older_one_dropped():
    buffer = FrameBuffer(2)
    assert buffer.newest() is None, "nothing buffered: no wait"
    for index in range(2):
        buffer.put(CapturedFrame(index, np.zeros((1, 1, 3), np.uint8), 0.0, 0.0, 0))
    assert buffer.newest().index == 1 and buffer.dropped == 1
    assert buffer.newest() is None and buffer.dropped == 1


def test_buffers_that_share_an_arrived_event_wake_one_reader_waiting_on_all_of_them():
    arrived = threading.Event()
    buffers = [FrameBuffer(2, arrived) for _ in range(3)]
    put_later = threading.Timer(0.2, buffers[2].put, [CapturedFrame(7, np.zeros((1, 1, 3), np.uint8), 0.0, 0.0, 0)])
    started = time.monotonic()
    put_later.start()
    assert arrived.wait(10) and time.monotonic() - started < 5, "a frame in any of the buffers ends the wait"
    assert [b.newest() for b in buffers[:2]] == [None, None] and buffers[2].newest().index == 7
    arrived.clear()
    buffers[0].close()
    assert arrived.is_set(), "an end wakes the reader too"


def test_file_replay_hands_on_every_stride_th_frame_at_the_file_frame_rate(tmp_path):
    clip = write_video(tmp_path / "clip.avi", counting_frames(10), fps=20)
    capture = LiveCapture(resolve_source(str(clip)), stride=3, buffer_frames=10).start()
    frames = drain(capture)
    capture.stop()
    assert [f.index for f in frames] == [0, 3, 6, 9]
    assert [grey_level(f) for f in frames] == pytest.approx([0, 12, 24, 36], abs=2)
    assert capture.frames_read == 10 and capture.error is None
    assert frames[-1].captured - frames[0].captured >= 0.9 * 9 / 20, "replayed as a camera delivers, not at decode speed"


class FakeCamera:
    """``cv2.VideoCapture(index)`` stand-in: each open takes the next session from a script.

    A session is a list of frames (read returns them, then False for good,
    while isOpened stays True, as OpenCV does), or None: the device will not open.
    """

    def __init__(self, sessions: list[list[np.ndarray] | None]):
        self.sessions = sessions
        self.opened: list[int] = []
        self.released = 0

    def __call__(self, index: int):
        self.opened.append(index)
        camera, frames = self, self.sessions.pop(0) if self.sessions else None

        class Device:
            def isOpened(self) -> bool:
                return frames is not None

            def read(self):
                return (True, frames.pop(0)) if frames else (False, None)

            def get(self, prop):
                return 0.0

            def set(self, prop, value):
                return True

            def release(self):
                camera.released += 1

        return Device()


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(capture_module, "BACKOFF_FIRST_S", 0.01)


def test_camera_that_fails_is_reopened_and_its_frames_flow_again(monkeypatch, fast_backoff):
    frames = counting_frames(12)
    camera = FakeCamera([frames[:6], None, frames[6:]])
    monkeypatch.setattr(capture_module.cv2, "VideoCapture", camera)
    reports = []
    capture = LiveCapture(resolve_source("camera3"), stride=1, reconnect=3, report=reports.append, buffer_frames=20).start()
    got = drain(capture)
    capture.stop()
    assert [f.index for f in got] == list(range(12))
    assert [grey_level(f) for f in got] == [4 * i for i in range(12)]
    assert [f.connection for f in got] == [0] * 6 + [1] * 6
    assert camera.opened[0] == 3
    assert camera.released == len(camera.opened), "every capture is released, opened or not"
    assert "reconnecting" in reports[0] and "attempt 1 of 3" in reports[0] and "attempt 2 of 3" in reports[1]
    assert isinstance(capture.error, SourceUnavailableError) and "camera3" in str(capture.error)
    assert len(reports) == 5, "after the recovery the count of attempts starts again"


def test_camera_that_cannot_be_opened_names_the_device(monkeypatch):
    monkeypatch.setattr(capture_module.cv2, "VideoCapture", FakeCamera([None]))
    with pytest.raises(SourceUnavailableError, match="camera2: cannot open camera device 2"):
        LiveCapture(resolve_source("camera2"))


def test_stop_releases_a_camera_that_still_delivers(monkeypatch):
    camera = FakeCamera([counting_frames(1) * 100_000])
    monkeypatch.setattr(capture_module.cv2, "VideoCapture", camera)
    capture = LiveCapture(resolve_source("camera0")).start()
    time.sleep(0.05)
    capture.stop()
    assert camera.released == 1 and capture.frames_read > 0 and capture.frames.dropped > 0


def test_backoff_doubles_up_to_a_cap():
    delays = [backoff_delay(attempt) for attempt in range(1, 8)]
    assert delays[:3] == [0.5, 1.0, 2.0]
    assert delays == sorted(delays) and max(delays) == capture_module.BACKOFF_CAP_S


def test_an_error_inside_the_capture_thread_is_held_for_the_reader_and_ends_the_frames(monkeypatch):
    images = iter(counting_frames(3))

    def failing_read():
        image = next(images, None)
        if image is None:
            raise BadInputError("camera1: the driver handed over a frame it could not describe")
        return True, image

    camera = FakeCamera([[]])
    monkeypatch.setattr(
        capture_module.cv2, "VideoCapture", lambda index: type("Device", (type(camera(index)),), {"read": lambda self: failing_read()})()
    )
    capture = LiveCapture(resolve_source("camera1"), buffer_frames=10).start()
    got = drain(capture)
    capture.stop()
    assert len(got) == 3 and capture.frames.finished
    assert isinstance(capture.error, BadInputError) and capture.error.exit_code == 3
