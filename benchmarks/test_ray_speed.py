"""``vclf-run --engine ray`` against the local engine on this machine, and what a clip costs where.

Rows (full run only; quick mode skips the module: starting Ray costs more
than ``make test`` can spend, and tests/test_ray.py checks the answers):
- folder: 16 ten-second 320x240 clips through ``vclf-run --json``, local,
  then on a local Ray runtime with 1 and 2 workers; the Ray rows' answers
  checked against the local row's (1e-6). Each row reports the whole command
  and the clips/s of its summary line, which counts from the moment the
  models are loaded (Ray's start and the actors' loading are left out).
- cost per clip: decoding one clip (``read_clip``) and extracting its
  features (one ONNX Runtime call), each alone on this machine, and the bytes
  a clip moves between a decoding task and a worker, and back to the driver.
  README's scaling for N nodes is worked out from these.
"""

import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from measure import Command, Row, measure, printed_results

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.providers import CPU
from vclf.runtime.video import read_clip
from vclf.runtime.video_writer import FPS, write_video
from vclf.train.synth import CLASSES, random_spec, render_clip

CLIPS, SECONDS, SIZE = 16, 10, (320, 240)
ENGINES = {"local": (), "ray, 1 worker": ("--engine", "ray", "--workers", "1"), "ray, 2 workers": ("--engine", "ray", "--workers", "2")}
ANSWERS: dict[str, dict[str, np.ndarray]] = {}  # the local row's answers, for the Ray rows


@pytest.fixture(scope="module", autouse=True)
def full_run_only(quick):
    if quick:
        pytest.skip("quick mode: starting Ray costs more than make test spends; tests/test_ray.py checks the answers")


@pytest.fixture(scope="module")
def ray_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ray-folder")
    rng = np.random.default_rng(1)
    for i in range(CLIPS):
        label = CLASSES[i % len(CLASSES)]
        spec = replace(random_spec(label, rng), width=SIZE[0], height=SIZE[1], length=int(SECONDS * FPS))
        write_video(out / f"{label}_{i:02d}.avi", render_clip(spec))
    return out


def summary_rate(stderr: str) -> float:
    return float(re.search(r"([\d.]+) clips/s", stderr.strip().splitlines()[-1]).group(1))


@pytest.mark.benchmark(group="ray")
@pytest.mark.parametrize("engine", list(ENGINES))
def test_folder_on_each_engine(benchmark, bundles, ray_folder, engine):
    labels = load_bundle(bundles["fp32"]).labels
    parse, rates = printed_results(labels), []

    def parse_and_keep_rate(finished):
        rates.append(summary_rate(finished.stderr))
        return parse(finished)

    def check(answers: dict[str, np.ndarray]) -> None:
        assert len(answers) == CLIPS
        if engine == "local":
            ANSWERS.update(answers)
        for source, expected in ANSWERS.items():
            np.testing.assert_allclose(answers[source], expected, atol=1e-6, err_msg=f"{engine}: {source}")

    command = Command(
        "vclf-run", ray_folder, "--model", bundles["fp32"], "--json", "--device", "cpu", *ENGINES[engine], parse=parse_and_keep_rate
    )
    row = Row(f"vclf-run folder of {CLIPS} clips, {engine}", CPU, "fp32", "clips", CLIPS)
    measure(benchmark, row, lambda: command, check, rounds=1, warm_up=False)
    benchmark.extra_info["summary_clips_per_second"] = rates[-1]


@pytest.mark.benchmark(group="ray")
def test_cost_per_clip_decode_extract_and_bytes_moved(benchmark, bundles, ray_folder):
    bundle = load_bundle(bundles["fp32"])
    engine = Engine(bundle, "cpu")
    paths = sorted(ray_folder.glob("*.avi"))
    clips = [read_clip(path, bundle.sampling) for path in paths]
    engine.extract(clips[0].frames)  # warm

    def seconds(step, items) -> float:
        times = []
        for item in items:
            started = time.perf_counter()
            step(item)
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    decode_s = seconds(lambda path: read_clip(path, bundle.sampling), paths)
    extract_s = benchmark.pedantic(lambda: seconds(lambda clip: engine.extract(clip.frames), clips), rounds=1, iterations=1)
    frames_bytes = float(np.median([clip.frames.nbytes for clip in clips]))
    answer_bytes = 4 * len(bundle.labels) + 64  # probabilities and the clip's counts back to the driver
    benchmark.extra_info.update(
        decode_ms_per_clip=decode_s * 1e3,
        extract_ms_per_clip=extract_s * 1e3,
        frames_bytes_per_clip=frames_bytes,
        answer_bytes_per_clip=answer_bytes,
    )
    print(
        f"\nper clip: decode {decode_s * 1e3:.0f} ms (one core), extract {extract_s * 1e3:.0f} ms (all cores), "
        f"{frames_bytes / 1e6:.2f} MB of frames to the worker, ~{answer_bytes} B back"
    )
