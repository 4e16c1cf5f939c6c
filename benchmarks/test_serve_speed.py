"""What ``--serve`` costs the live loop: per-prediction latency without it, with it and no viewer, with two viewers.

One 25 fps MJPEG-over-HTTP source (the tests' ``MjpegServer``, looping a
320x240 clip) at the bundle's live stride, classified by ``vclf-run`` in
three arrangements, run in turn ``ROUNDS`` times (interleaved, so a change
in the machine's load falls on all three): ``plain`` (no ``--serve``),
``serve`` (``--serve``, nobody connected) and ``viewers`` (``--serve`` with
two clients reading the source's MJPEG stream, which draws and encodes
overlays at up to ``MAX_VIEW_FPS``). Each run measures ``SECONDS`` once the
source predicts: latency p50 and p95 (frame arrival to prediction, from the
predictions' own figures), predictions per second, and for ``viewers`` the
images each client got per second.

Asserted (full run only): ``serve``'s median p50 over the rounds is within
noise of ``plain``'s: no further from it than the spread of ``plain``'s own
rounds (max - min), or 5%, or 1 ms, whichever is largest. ``viewers`` is
reported. Quick mode (``make test``): one round of two seconds, outputs
checked, nothing timed.
"""

import json
import os
import platform
import signal
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from measure import cpu_flags
from support.commands import BackgroundCommand
from support.streaming import MjpegServer, MjpegViewer

from vclf.runtime.serve.watch import MAX_VIEW_FPS
from vclf.runtime.video_writer import write_video
from vclf.train.synth import random_spec, render_clip

SOURCE_FPS = 25.0
ROUNDS, QUICK_ROUNDS = 3, 1
SECONDS, QUICK_SECONDS = 15.0, 2.0
START_TIMEOUT_S = 120
ARRANGEMENTS = ("plain", "serve", "viewers")
VIEWERS = 2
RESULTS: dict[str, list["Figures"]] = {}


@dataclass(frozen=True)
class Figures:
    p50_ms: float
    p95_ms: float
    predictions_per_s: float
    images_per_s: float  # per viewer; 0 without viewers


def run_arrangement(arrangement: str, bundle: Path, source: str, seconds: float) -> tuple[list[dict], float]:
    """The predictions made during ``seconds`` once the source predicts, and each viewer's images per second."""
    serve = () if arrangement == "plain" else ("--serve", "0")
    run = BackgroundCommand("vclf-run", source, "--model", bundle, "--no-display", "--json", "--device", "cpu", *serve)
    viewers: list[MjpegViewer] = []
    try:
        run.wait_for_lines(1, START_TIMEOUT_S)
        if arrangement == "viewers":
            page = next(line for line in run.stderr if "serving http://" in line).split("serving ")[1].strip()
            viewers = [MjpegViewer(page + "stream/" + urllib.parse.quote(source, safe="")) for _ in range(VIEWERS)]
            for viewer in viewers:
                viewer.start()
        time.sleep(1.0)
        since, counted = time.time(), [viewer.images for viewer in viewers]
        time.sleep(seconds)
        until, images = time.time(), [viewer.images - before for viewer, before in zip(viewers, counted)]
    finally:
        for viewer in viewers:
            viewer.stop.set()
        run.process.send_signal(signal.SIGINT)
        code = run.finish(timeout=30)
    assert code == 0, run.stderr[-3:]
    records = [json.loads(line) for line in run.stdout if since <= json.loads(line)["timestamp"] < until]
    return records, float(np.mean(images)) / seconds if viewers else 0.0


@pytest.fixture(scope="module")
def stream_clip(tmp_path_factory) -> Path:
    spec = replace(random_spec("spin", np.random.default_rng(0)), width=320, height=240, length=100)
    return write_video(tmp_path_factory.mktemp("serve-speed") / "spin.avi", render_clip(spec), fps=SOURCE_FPS)


def test_latency_without_serve_with_serve_and_no_viewer_and_with_two_viewers(bundle, stream_clip, quick):
    meta = json.loads((bundle / "bundle.json").read_text())
    seconds = QUICK_SECONDS if quick else SECONDS
    server = MjpegServer(stream_clip, loop=True).start()
    try:
        for _ in range(QUICK_ROUNDS if quick else ROUNDS):
            for arrangement in ARRANGEMENTS:
                records, images = run_arrangement(arrangement, bundle, server.url, seconds)
                assert records and all({p["label"] for p in r["predictions"]} == set(meta["labels"]) for r in records)
                if arrangement == "viewers":
                    assert 0 < images <= MAX_VIEW_FPS * 1.1, "viewers get images, no more than the cap"
                p50, p95 = np.percentile([r["latency_ms"] for r in records], [50, 95])
                RESULTS.setdefault(arrangement, []).append(Figures(float(p50), float(p95), len(records) / seconds, images))
    finally:
        server.stop()
    if not quick:
        print_table(meta)


def print_table(meta: dict) -> None:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    flags = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "sse4", "fma", "amx"))))
    print(f"\n--serve cost, {meta['precision']} {meta['image_size']} px, stride {meta['live_stride']}, one {SOURCE_FPS:.0f} fps source")
    print(f"{cpu}, {os.cpu_count()} CPUs ({flags}); load average {os.getloadavg()[0]:.2f}")
    print(f"{'arrangement':<12}{'p50 ms (rounds)':<28}{'p95 ms':>9}{'pred/s':>9}{'img/s/viewer':>14}{'p50 vs plain':>14}")
    plain = float(np.median([f.p50_ms for f in RESULTS["plain"]]))
    for arrangement in ARRANGEMENTS:
        rounds = RESULTS[arrangement]
        p50 = float(np.median([f.p50_ms for f in rounds]))
        each = " ".join(f"{f.p50_ms:.1f}" for f in rounds)
        print(
            f"{arrangement:<12}{p50:>6.1f} ({each}){'':<{max(0, 20 - len(each))}}{np.median([f.p95_ms for f in rounds]):>9.1f}"
            f"{np.median([f.predictions_per_s for f in rounds]):>9.2f}{np.median([f.images_per_s for f in rounds]):>14.1f}{p50 / plain:>14.3f}"
        )


@pytest.mark.ratio
def test_serve_with_no_viewer_is_within_noise_of_no_serve():
    plain = [f.p50_ms for f in RESULTS["plain"]]
    serve = [f.p50_ms for f in RESULTS["serve"]]
    noise = max(max(plain) - min(plain), 0.05 * float(np.median(plain)), 1.0)
    assert abs(float(np.median(serve)) - float(np.median(plain))) <= noise, (plain, serve, noise)
