"""``vclf-run`` on folders and long files, timed as a user runs it: whole processes, start-up included.

Rows:
- folder: 12 ten-second 320x240 clips through ``vclf-run``, fp32 and int8,
  and the same files through the Keras example's own path on the same
  weights, run as a process too (``keras_example.py``: TensorFlow's start and
  the model's load included, as vclf-run's are); every clip's answer checked
  against Keras. The vclf-run rows also keep vclf-run's own clips/s (its
  summary line, best round) against the extractor bound: the extractor
  row's frames/s (its throughput column, from the median call) over the
  frames a clip uses.
- long clip: a 10-minute and a 10-second 640x480 clip of the same encoding,
  mp4 (mp4v) and avi (MJPG).

Asserted (full run only): vclf-run's clips/s at least 90% of the extractor
bound, fp32 and int8; the folder at least 4x faster than the Keras example
path with fp32 and 6x with int8; a 10-minute clip at most 2x a 10-second
one. Quick mode makes shorter files, and fewer.
"""

import json
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from checks import each_clip_matches
from keras_example import first_frames_answer, keras_answer
from measure import FASTEST, KERAS, MEDIAN, Command, Row, measure, printed_results

from vclf.runtime.providers import CPU
from vclf.runtime.sampling import ClipSampling
from vclf.runtime.video import read_clip
from vclf.runtime.video_writer import FPS, write_video
from vclf.train.run import load_run
from vclf.train.synth import CLASSES, random_spec, render_clip

FOLDER_CLIPS, FOLDER_SECONDS, FOLDER_SIZE = 12, 10, (320, 240)
LONG_MINUTES, LONG_SIZE = 10, (640, 480)
ENCODINGS = [("mp4", "mp4v"), ("avi", "MJPG")]
KERAS_EXAMPLE = Path(__file__).with_name("keras_example.py")
ROUNDS = 3
MIN_SHARE_OF_BOUND = 0.9
MIN_SPEED_UP = {"fp32": 4.0, "int8": 6.0}  # over the Keras example path
KERAS_FOLDER = "Keras example path, folder, process"
SUMMARY_RATE: dict[str, float] = {}  # precision → vclf-run's own clips/s on the folder, its best round


@pytest.fixture(scope="session")
def folder(tmp_path_factory, quick) -> Path:
    """Ten-second 320x240 MJPG clips of the synthetic classes, written by OpenCV (quick mode: two of 2 s)."""
    out = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    width, height = FOLDER_SIZE
    clips, seconds = (2, 2) if quick else (FOLDER_CLIPS, FOLDER_SECONDS)
    for i in range(clips):
        label = CLASSES[i % len(CLASSES)]
        spec = replace(random_spec(label, rng), width=width, height=height, length=int(seconds * FPS))
        write_video(out / f"{label}_{i:02d}.avi", render_clip(spec))
    return out


def keras_on_sampled_frames(keras_models, bundle_folder: Path, path: Path) -> np.ndarray:
    """Keras on the frames vclf-run samples from ``path``: what its answer must match."""
    bundle = json.loads((bundle_folder / "bundle.json").read_text())
    frames = read_clip(path, ClipSampling(bundle["sampler"], bundle["sequence_length"], bundle["image_size"])).frames
    return keras_answer(keras_models.extractor, keras_models.head, frames)[1]


def summary_clips_per_second(stderr: str) -> float:
    return float(re.search(r"([\d.]+) clips/s", stderr.strip().splitlines()[-1]).group(1))


def folder_row(precision: str) -> str:
    return f"vclf-run folder, {precision}"


@pytest.mark.benchmark(group="folder")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_vclf_run_on_a_folder(benchmark, bundles, keras_models, clip, folder, precision):
    paths = sorted(folder.glob("*.avi"))
    labels = json.loads((bundles[precision] / "bundle.json").read_text())["labels"]
    expected = {str(path): keras_on_sampled_frames(keras_models, bundles[precision], path) for path in paths}
    rates = []
    parse = printed_results(labels)

    def parse_and_keep_rate(finished) -> dict[str, np.ndarray]:
        rates.append(summary_clips_per_second(finished.stderr))
        return parse(finished)

    command = Command("vclf-run", folder, "--model", bundles[precision], "--json", "--device", "cpu", parse=parse_and_keep_rate)
    row = Row(folder_row(precision), CPU, precision, "clips", len(paths))
    measure(benchmark, row, lambda: command, each_clip_matches(expected, precision), ROUNDS)
    if not benchmark.disabled:
        bound = 1 / MEDIAN[f"ONNX Runtime {precision} cpu"]  # one extractor call on a clip's frames
        SUMMARY_RATE[precision] = max(rates)
        benchmark.extra_info.update(
            vclf_run_summary_clips_per_second=max(rates),
            extractor_bound_clips_per_second=bound,
            share_of_extractor_bound=max(rates) / bound,
        )


@pytest.mark.benchmark(group="folder")
def test_keras_example_path_on_a_folder(benchmark, run_dir, keras_models, folder, quick):
    if quick:
        pytest.skip("quick mode: the clip group's row runs the same Keras example path")
    paths = sorted(folder.glob("*.avi"))
    models = keras_models
    expected = {str(p): first_frames_answer(models.extractor, models.head, p, models.image_size) for p in paths}
    command = Command("python", KERAS_EXAMPLE, run_dir, *paths, parse=printed_results(load_run(run_dir).labels))
    row = Row(KERAS_FOLDER, KERAS, "fp32", "clips", len(paths), example=True)
    measure(benchmark, row, lambda: command, each_clip_matches(expected, "fp32"), 1, warm_up=False)


@pytest.mark.ratio
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_folder_runs_at_90_percent_of_the_extractor_bound(precision):
    bound = 1 / MEDIAN[f"ONNX Runtime {precision} cpu"]
    share = SUMMARY_RATE[precision] / bound
    assert share >= MIN_SHARE_OF_BOUND, f"{precision}: {SUMMARY_RATE[precision]:.3f} clips/s, {share:.0%} of the bound {bound:.3f}"


@pytest.mark.ratio
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_folder_beats_the_keras_example_path(precision):
    speed_up = FASTEST[KERAS_FOLDER] / FASTEST[folder_row(precision)]
    assert speed_up >= MIN_SPEED_UP[precision], f"{precision}: {speed_up:.2f}x the Keras example path, not {MIN_SPEED_UP[precision]}x"


def moving_frames(count: int, size: tuple[int, int]):
    """Frames with a gradient, a moving disc and grain: not trivially compressible, cheap to make."""
    width, height = size
    rng = np.random.default_rng(0)
    grains = [rng.normal(0, 6, (height, width, 3)) for _ in range(8)]
    gradient = np.linspace(40, 120, width)[None, :, None] + np.zeros((height, 1, 3))
    backgrounds = [np.clip(gradient + grain, 0, 255).astype(np.uint8) for grain in grains]
    for i in range(count):
        frame = backgrounds[i % len(backgrounds)].copy()
        angle = 2 * np.pi * i / 97
        centre = (int(width / 2 + width / 4 * np.cos(angle)), int(height / 2 + height / 4 * np.sin(angle)))
        cv2.circle(frame, centre, height // 8, (40, 200, 230), -1)
        yield frame


@pytest.fixture(scope="session")
def long_clips(tmp_path_factory, quick) -> dict[tuple[str, str], Path]:
    """Per encoding and length (``short``: 10 s; ``long``: 10 min; quick mode 1 s and 10 s), one 640x480 file."""
    out = tmp_path_factory.mktemp("long")
    lengths = (("short", 1), ("long", 10)) if quick else (("short", 10), ("long", LONG_MINUTES * 60))
    clips = {}
    for suffix, fourcc in ENCODINGS:
        for length, seconds in lengths:
            frames = moving_frames(int(seconds * FPS), LONG_SIZE)
            clips[suffix, length] = write_video(out / f"{length}.{suffix}", frames, size=LONG_SIZE, fourcc=fourcc)
    return clips


@pytest.mark.benchmark(group="long clip")
@pytest.mark.parametrize("length", ["short", "long"])
@pytest.mark.parametrize("suffix", [suffix for suffix, _ in ENCODINGS])
def test_vclf_run_on_a_long_clip(benchmark, bundles, keras_models, long_clips, suffix, length):
    path = long_clips[suffix, length]
    labels = json.loads((bundles["fp32"] / "bundle.json").read_text())["labels"]
    expected = {str(path): keras_on_sampled_frames(keras_models, bundles["fp32"], path)}
    command = Command("vclf-run", path, "--model", bundles["fp32"], "--json", "--device", "cpu", parse=printed_results(labels))
    row = Row(f"vclf-run {length} .{suffix}", CPU, "fp32", "clips")
    measure(benchmark, row, lambda: command, each_clip_matches(expected, "fp32"), ROUNDS)


@pytest.mark.parametrize("suffix", [suffix for suffix, _ in ENCODINGS])
@pytest.mark.ratio
def test_a_ten_minute_clip_takes_at_most_twice_a_ten_second_one(suffix):
    ratio = FASTEST[f"vclf-run long .{suffix}"] / FASTEST[f"vclf-run short .{suffix}"]
    assert ratio <= 2, f"the 10-minute .{suffix} clip took {ratio:.2f}x the 10-second one"
