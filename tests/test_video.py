import tracemalloc

import numpy as np
import pytest
from support.clips import counting_frames

from vclf.runtime import video
from vclf.runtime.errors import BadInputError
from vclf.runtime.preprocess import IMAGE_SIZE, crop_center_square, prepare_frame
from vclf.runtime.sampling import ClipSampling
from vclf.runtime.video import count_frames, read_clip
from vclf.runtime.video_writer import write_video


def test_crop_center_square_keeps_the_middle_of_wide_and_tall_frames():
    wide = np.zeros((40, 100, 3), np.uint8)
    wide[:, 30:70] = 255
    assert crop_center_square(wide).shape == (40, 40, 3) and crop_center_square(wide).all()
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[30:60] = 255
    assert crop_center_square(tall).shape == (30, 30, 3) and crop_center_square(tall).all()


def test_prepare_frame_gives_a_square_rgb_frame_of_the_model_size():
    bgr = np.zeros((120, 160, 3), np.uint8)
    bgr[:, :, 0] = 200  # blue in OpenCV's channel order
    frame = prepare_frame(bgr, 224)
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    assert (frame[:, :, 2] == 200).all() and not frame[:, :, :2].any()


def grey_levels(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1).mean(axis=1)


def test_read_clip_decodes_the_sampled_frames_in_clip_order(tmp_path):
    path = write_video(tmp_path / "count.avi", counting_frames(60))
    clip = read_clip(path, ClipSampling("uniform", 20, 32))
    assert clip.frame_count == 60
    assert clip.frames.shape == (20, 32, 32, 3)
    np.testing.assert_allclose(grey_levels(clip.frames), 4 * clip.indices, atol=3)


def test_first_sampler_reads_the_opening_frames(tmp_path):
    path = write_video(tmp_path / "count.avi", counting_frames(50))
    clip = read_clip(path, ClipSampling("first", 20, 32))
    np.testing.assert_allclose(grey_levels(clip.frames), 4 * np.arange(20), atol=3)


def test_short_clip_gives_all_its_frames(tmp_path):
    path = write_video(tmp_path / "short.avi", counting_frames(7))
    clip = read_clip(path, ClipSampling("uniform", 20, 32))
    assert len(clip.frames) == 7
    np.testing.assert_allclose(grey_levels(clip.frames), 4 * np.arange(7), atol=3)


def test_decoding_a_long_clip_holds_at_most_n_frames(tmp_path):
    width, height, size, n = 320, 240, 64, 20
    path = write_video(tmp_path / "long.avi", counting_frames(400, width, height))
    tracemalloc.start()
    try:
        clip = read_clip(path, ClipSampling("uniform", n, size))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(clip.frames) == n
    decoded_frame = width * height * 3
    # n model-sized frames, their stacked copy and a few decoded frames in flight;
    # holding the whole clip would need 400 decoded frames (92 MB).
    assert peak < 2 * n * size * size * 3 + 4 * decoded_frame


def peak_traced_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_for_a_three_minute_clip_stays_within_that_of_a_five_second_one(tmp_path):
    five_seconds = write_video(tmp_path / "short.avi", counting_frames(5 * 25, 64, 48))
    three_minutes = write_video(tmp_path / "long.avi", counting_frames(180 * 25, 64, 48))
    short_peak = peak_traced_bytes(lambda: read_clip(five_seconds, ClipSampling("uniform", 20, 64)))
    long_peak = peak_traced_bytes(lambda: read_clip(three_minutes, ClipSampling("uniform", 20, 64)))
    # Holding the long clip's frames would take 4500 * 9 kB = 41 MB against ~0.5 MB.
    assert long_peak <= 1.2 * short_peak, (long_peak, short_peak)


@pytest.mark.parametrize("name, fourcc", [("count.avi", "MJPG"), ("count.mp4", "mp4v")])
def test_seeking_lands_on_the_same_frames_as_grabbing(tmp_path, monkeypatch, name, fourcc):
    path = write_video(tmp_path / name, counting_frames(1000), fourcc=fourcc)  # sampled frames 50 apart
    monkeypatch.setattr(video, "_jpeg_packets", lambda capture: False)  # grabbing decodes with FFmpeg too
    seeking = read_clip(path, ClipSampling("uniform", 20, 32))
    grabbing = read_clip(path, ClipSampling("uniform", 20, 32), seek=False)
    np.testing.assert_array_equal(seeking.indices, grabbing.indices)
    # Consecutive frames differ in every pixel, so equal frames mean the very frames grabbing reaches.
    np.testing.assert_array_equal(seeking.frames, grabbing.frames)


def test_seek_past_the_end_of_a_truncated_file_is_noticed_and_the_clip_grabbed(tmp_path, monkeypatch):
    path = write_video(tmp_path / "cut.avi", counting_frames(1000))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    missed = []

    def recording_misses(capture, index, seek=video._seek_to):
        try:
            seek(capture, index)
        except video.InexactSeek:
            missed.append(index)
            raise

    monkeypatch.setattr(video, "_seek_to", recording_misses)
    clip = read_clip(path, ClipSampling("uniform", 20, 32))
    assert missed and min(missed) > clip.frame_count, "a seek beyond the real end reported where it landed"
    assert 400 < clip.frame_count < 600
    assert len(clip.frames) == 20 and clip.indices[-1] < clip.frame_count
    np.testing.assert_allclose(grey_levels(clip.frames), (4 * clip.indices) % 256, atol=3)


def test_mjpg_is_read_as_packets_and_only_the_sampled_frames_decoded(tmp_path, monkeypatch):
    path = write_video(tmp_path / "count.avi", counting_frames(250, 320, 240))
    decoded = []
    monkeypatch.setattr(video.cv2, "imdecode", lambda *args, imdecode=video.cv2.imdecode: decoded.append(1) or imdecode(*args))
    packets = read_clip(path, ClipSampling("uniform", 20, 64))
    assert len(decoded) == 20, "one JPEG decoded per sampled frame"
    monkeypatch.setattr(video, "_jpeg_packets", lambda capture: False)
    ffmpeg = read_clip(path, ClipSampling("uniform", 20, 64))
    np.testing.assert_array_equal(packets.indices, ffmpeg.indices)
    difference = np.abs(packets.frames.astype(int) - ffmpeg.frames)
    assert difference.mean() < 1 and difference.max() <= 8, "the same frames, as two JPEG decoders round them"


def test_a_packet_imdecode_cannot_read_sends_the_clip_to_ffmpeg(tmp_path, monkeypatch):
    path = write_video(tmp_path / "count.avi", counting_frames(60))
    with monkeypatch.context() as patched:
        patched.setattr(video, "_jpeg_packets", lambda capture: False)
        ffmpeg = read_clip(path, ClipSampling("uniform", 20, 32))
    monkeypatch.setattr(video.cv2, "imdecode", lambda *args: None)  # as for a JPEG without Huffman tables
    clip = read_clip(path, ClipSampling("uniform", 20, 32))
    np.testing.assert_array_equal(clip.frames, ffmpeg.frames)


def test_count_frames_reports_the_frames_written(tmp_path):
    assert count_frames(write_video(tmp_path / "c.avi", counting_frames(33))) == 33


def test_zero_frame_video_is_bad_input(tmp_path):
    path = write_video(tmp_path / "empty.avi", [], size=(64, 48))
    with pytest.raises(BadInputError, match="no frames"):
        read_clip(path, ClipSampling("uniform", 20, IMAGE_SIZE))


def test_file_that_is_not_a_video_is_bad_input(tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("not a video")
    with pytest.raises(BadInputError, match="notes.avi"):
        read_clip(path, ClipSampling("uniform", 20, IMAGE_SIZE))


def test_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        read_clip(tmp_path / "gone.avi", ClipSampling("uniform", 20, IMAGE_SIZE))


def test_truncated_file_is_sampled_from_the_frames_that_decode(tmp_path):
    path = write_video(tmp_path / "cut.avi", counting_frames(60))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert count_frames(path) == 60, "the container still claims every frame"
    clip = read_clip(path, ClipSampling("uniform", 20, 32))
    assert 20 <= clip.frame_count < 60
    assert len(clip.frames) == 20 and clip.indices[-1] < clip.frame_count
    np.testing.assert_allclose(grey_levels(clip.frames), 4 * clip.indices, atol=3)
