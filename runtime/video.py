"""Reading clips from video files with OpenCV.

Decoding streams: only the sampled frames are decoded, preprocessed and kept,
so memory holds at most ``sequence_length`` model-sized frames whatever the
clip's length.

Reaching a sampled frame: where it lies more than ``SEEK_GAP`` frames ahead the
capture seeks to it (``CAP_PROP_POS_FRAMES``), otherwise it grabs the frames in
between. OpenCV's FFmpeg backend seeks to a key frame before the target and
decodes forward, counting frames by their timestamps, so a seek costs about as
much as grabbing ~16 frames (measured at 640x480, MJPG and mp4v alike). Seeking
is exact when timestamps and the frame count agree. Measured with OpenCV
4.12's bundled FFmpeg on files whose frames encode their index (OpenCV
writes no H.264 there, so H.264 is untested):

- MJPG and XVID in .avi, mp4v in .mp4 and .mkv, VP8 in .webm, MPEG-1 in
  .mpg (no index; the count is estimated from the duration): every seek lands
  on the frame asked for.
- Truncated files (the count claims frames that are gone): a seek past the
  last real frame reports the position it reached instead, which
  ``read_clip`` notices and then grabs instead.

Every seek is verified: when the position the capture reports afterwards is
not the one asked for, the clip is read again by grabbing alone.

Motion-JPEG (MJPG, what OpenCV writes into .avi and many cameras record) is
read as packets: every packet is a whole JPEG image, so the capture hands
them over undecoded (``CAP_PROP_FORMAT`` -1), frames in between cost only
their read, and only the sampled ones are decoded (``cv2.imdecode``). That
is for clips read without seeking: OpenCV's seeks do not land in packet
mode, and reading through a long file costs more than seeking in it.
Measured on a ten-second 320x240 clip, 20 frames of 250 read and prepared:
16-20 ms against 74-84 ms decoding every frame. libjpeg and FFmpeg's
decoder round differently (mean difference 0.8 of 255, at most 6). A packet
``imdecode`` cannot read (a camera's JPEG without Huffman tables, an
interlaced pair of fields) or whose image is not the stream's size sends
the clip back to FFmpeg's decoding.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import BadInputError
from .preprocess import prepare_frame
from .sampling import ClipSampling, get_sampler

READER_VERSION = 2  # changes whenever the frames read from a file change (2: MJPG decoded from its packets by libjpeg)
SEEK_GAP = 16  # seek when the next sampled frame is further ahead than this
VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class Clip:
    """The sampled frames of one video: RGB uint8 ``[n, size, size, 3]``, in clip order."""

    source: str
    frames: np.ndarray
    indices: np.ndarray
    frame_count: int


def open_video(path: str | Path) -> cv2.VideoCapture:
    """An opened capture for a video file, or a one-line BadInputError naming it."""
    path = Path(path)
    try:
        exists, regular = path.exists(), path.is_file()
    except OSError as exc:  # a name too long for the file system, a folder that cannot be searched
        raise BadInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not exists:
        raise BadInputError(f"{path}: no such file")
    if not regular:
        raise BadInputError(f"{path}: not a file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise BadInputError(f"{path}: not a video OpenCV can decode")
    return capture


@contextmanager
def opened_video(path: str | Path) -> Iterator[cv2.VideoCapture]:
    """``open_video`` as a context that releases the capture."""
    capture = open_video(path)
    try:
        yield capture
    finally:
        capture.release()


def count_frames(path: str | Path) -> int:
    """Frames in the file: the container's count, or a grab pass when it reports none."""
    with opened_video(path) as capture:
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return reported if reported > 0 else _grab_all(capture)


def count_decodable_frames(path: str | Path) -> int:
    """Frames that really decode, whatever the container claims."""
    with opened_video(path) as capture:
        return _grab_all(capture)


def _grab_all(capture: cv2.VideoCapture) -> int:
    grabbed = 0
    while capture.grab():
        grabbed += 1
    return grabbed


class InexactSeek(Exception):
    """The capture did not land on the frame a seek asked for."""


class UnreadablePacket(Exception):
    """A JPEG packet that ``imdecode`` cannot turn into a frame of the stream's size."""


def _jpeg_packets(capture: cv2.VideoCapture) -> bool:
    """Switch an MJPG capture to handing over undecoded packets; False (nothing changed) for other codecs."""
    fourcc = (int(capture.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF).to_bytes(4, "little")
    return fourcc == b"MJPG" and capture.set(cv2.CAP_PROP_FORMAT, -1)


def _decode_packet(packet: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    frame = cv2.imdecode(packet, cv2.IMREAD_COLOR)
    if frame is None or frame.shape[:2] != shape:
        raise UnreadablePacket
    return frame


def _seek_to(capture: cv2.VideoCapture, index: int) -> None:
    """Make ``index`` the next frame ``grab`` returns, or raise InexactSeek."""
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != index:
        raise InexactSeek(index)


def _seeks(indices: np.ndarray) -> bool:
    """Whether reaching ``indices`` from the start seeks at least once."""
    return bool(np.any(np.diff(indices, prepend=0) > SEEK_GAP))


def _decode_at(capture: cv2.VideoCapture, indices: np.ndarray, size: int, seek: bool, packets: bool = False) -> list[np.ndarray]:
    """Prepared frames at ``indices`` (increasing) from a fresh capture; stops early if the file ends.

    With ``seek``, frames further than ``SEEK_GAP`` ahead are reached by seeking
    (InexactSeek when the container cannot), the rest by grabbing. With
    ``packets`` the capture gives JPEG packets (``_jpeg_packets``), decoded
    here, and never seeks: OpenCV's seeks do not land in that mode (measured:
    every later seek reports the first one's position).
    """
    shape = (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
    frames: list[np.ndarray] = []
    position = 0  # index of the frame the next grab returns
    for index in indices.tolist():
        if seek and not packets and index - position > SEEK_GAP:
            _seek_to(capture, index)
            position = index
        while position <= index:
            if not capture.grab():
                return frames
            position += 1
        ok, frame = capture.retrieve()
        if not ok:
            return frames
        frames.append(prepare_frame(_decode_packet(frame, shape) if packets else frame, size))
    return frames


def _grab_clip(path: Path, indices: np.ndarray, size: int) -> list[np.ndarray]:
    """``_decode_at`` without seeking, on a capture of its own."""
    with opened_video(path) as capture:
        return _decode_at(capture, indices, size, seek=False)


def read_clip(path: str | Path, sampling: ClipSampling, seek: bool = True) -> Clip:
    """Decode the frames ``sampling``'s sampler picks from the video at ``path``, at its image size.

    The file is opened once when its container seeks exactly and its frame
    count is right. After an inexact seek the clip is read again by grabbing.
    A container may report no count, or claim more frames than it holds (a
    truncated file, say); then the frames that really decode are counted and
    the clip is sampled again from those, grabbing. ``seek=False`` grabs every
    frame up to the last sampled one even where seeking would be exact.
    """
    path = Path(path)
    policy, sequence_length, size = get_sampler(sampling.sampler), sampling.sequence_length, sampling.image_size
    with opened_video(path) as capture:
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        indices = policy.indices(max(frame_count, 0), sequence_length)
        try:
            packets = not (seek and _seeks(indices)) and _jpeg_packets(capture)
            frames = _decode_at(capture, indices, size, seek, packets)
        except (InexactSeek, UnreadablePacket):
            frames = None
    if frames is None:
        frames = _grab_clip(path, indices, size)
    if frame_count <= 0 or len(frames) < len(indices):
        frame_count = count_decodable_frames(path)
        indices = policy.indices(frame_count, sequence_length)
        frames = _grab_clip(path, indices, size)
        if len(frames) < len(indices):
            raise BadInputError(f"{path}: frames fail to decode")
    if frame_count == 0:
        raise BadInputError(f"{path}: video has no frames")
    return Clip(str(path), np.stack(frames), indices, frame_count)


def list_videos(folder: Path) -> list[Path]:
    """Video files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
