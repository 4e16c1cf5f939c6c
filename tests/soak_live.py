"""Soaks (``make soak``, not part of ``make test``); in each the process' memory stays flat.

- A 60 s live replay, every frame sampled, at four times the frame rate this
  machine's extractor keeps up with (50 to 400 fps), so inference stays
  behind the source the whole time; the buffer drops what it cannot keep.
- Five minutes of four 25 fps MJPEG-over-HTTP sources in one batching
  ``vclf-run``, each at the bundle's stride.
- Five minutes of one 25 fps MJPEG-over-HTTP source of changing actions with
  ``--serve`` (a viewer on its stream, another on ``/events``) and
  ``--record`` (pre- and post-roll, clips written throughout).
"""

import json
import signal
import time
import urllib.parse
from dataclasses import replace
from pathlib import Path

import numpy as np
from support.clips import extract_seconds
from support.commands import EVERY_ACTION, BackgroundCommand
from support.streaming import MjpegServer, MjpegViewer

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.video_writer import write_video
from vclf.train.synth import action_stream, random_spec, render_clip

SECONDS = 60
FPS_RANGE = (50.0, 400.0)
BEHIND = 4  # the source's rate over what one prediction's extractor call keeps up with
WARM_UP_S = 10
GROWTH_LIMIT_MB = 20
MULTI_SOURCES, MULTI_SECONDS, MULTI_FPS = 4, 300, 25.0


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def sample_memory(run: BackgroundCommand, seconds: float | None = None) -> list[tuple[float, float]]:
    """(seconds since start, resident MB) each second until the command ends, or ``seconds`` have passed."""
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    while run.process.poll() is None and (seconds is None or time.monotonic() - started < seconds):
        try:
            samples.append((time.monotonic() - started, resident_mb(run.process.pid)))
        except FileNotFoundError:
            break
        time.sleep(1.0)
    return samples


def memory_growth(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median MB once settled (10 s after warm-up), median MB of the last 10 s, and the growth between."""
    settled = float(np.median([mb for t, mb in samples if WARM_UP_S <= t < WARM_UP_S + 10]))
    final = float(np.median([mb for t, mb in samples if t >= samples[-1][0] - 10]))
    return settled, final, final - settled


def test_memory_stays_flat_over_a_60_s_live_replay(bundle, tmp_path):
    fps = float(np.clip(BEHIND / extract_seconds(Engine(load_bundle(bundle), "cpu")), *FPS_RANGE))
    clip = render_clip(replace(random_spec("grow", np.random.default_rng(0)), width=160, height=120, length=40))
    video = write_video(tmp_path / "minute.avi", clip * int(SECONDS * fps / len(clip)), fps=fps)
    run = BackgroundCommand("vclf-run", video, "--model", bundle, "--live", "--no-display", "--json", "--stride", "1")
    samples = sample_memory(run)
    assert run.finish(timeout=30) == 0, "\n".join(run.stderr[-5:])

    records = [json.loads(line) for line in run.stdout]
    settled, final, growth = memory_growth(samples)
    print(
        f"\nsoak: {samples[-1][0]:.0f} s at {fps:.0f} fps, {len(records)} predictions, {records[-1]['dropped']} dropped, "
        f"RSS {settled:.0f} MB at {WARM_UP_S}-{WARM_UP_S + 10} s, {final:.0f} MB in the last 10 s, "
        f"peak {max(mb for _, mb in samples):.0f} MB, growth {growth:+.1f} MB; {run.stderr[-1]}"
    )
    assert samples[-1][0] >= SECONDS * 0.95
    assert records[-1]["dropped"] > 0, "inference was behind the source"
    assert growth < GROWTH_LIMIT_MB


def test_memory_stays_flat_over_five_minutes_of_four_http_sources_in_one_process(bundle, tmp_path):
    clip = render_clip(replace(random_spec("spin", np.random.default_rng(1)), width=320, height=240, length=100))
    video = write_video(tmp_path / "camera.avi", clip, fps=MULTI_FPS)
    servers = [MjpegServer(video, loop=True).start() for _ in range(MULTI_SOURCES)]
    run = BackgroundCommand("vclf-run", *(s.url for s in servers), "--model", bundle, "--no-display", "--json")
    try:
        samples = sample_memory(run, MULTI_SECONDS)
        run.process.send_signal(signal.SIGINT)
        assert run.finish(timeout=30) == 0, "\n".join(run.stderr[-5:])
    finally:
        run.finish(timeout=5)
        for server in servers:
            server.stop()
    records = [json.loads(line) for line in run.stdout]
    per_source = {s.url: [r for r in records if r["source"] == s.url] for s in servers}
    settled, final, growth = memory_growth(samples)
    summaries = "; ".join(line.removeprefix("vclf-run: ") for line in run.stderr if "frames read" in line)
    print(
        f"\nmulti-source soak: {samples[-1][0]:.0f} s, {MULTI_SOURCES} sources at {MULTI_FPS:.0f} fps, "
        f"{len(records)} predictions ({', '.join(str(len(v)) for v in per_source.values())} per source), "
        f"dropped {[v[-1]['dropped'] for v in per_source.values()]}, RSS {settled:.0f} MB at {WARM_UP_S}-{WARM_UP_S + 10} s, "
        f"{final:.0f} MB in the last 10 s, peak {max(mb for _, mb in samples):.0f} MB, growth {growth:+.1f} MB; {summaries}"
    )
    assert samples[-1][0] >= MULTI_SECONDS * 0.95
    assert all(len(v) > 0 for v in per_source.values())
    assert growth < GROWTH_LIMIT_MB


def test_memory_stays_flat_over_five_minutes_serving_a_viewer_and_recording_events(bundle, tmp_path):
    frames = action_stream(("grow", "shrink", "spin", "blink"), 1, np.random.default_rng(4), 50)
    video = write_video(tmp_path / "camera.avi", frames, fps=MULTI_FPS)
    server = MjpegServer(video, loop=True).start()
    record = tmp_path / "clips"
    run = BackgroundCommand(
        "vclf-run", server.url, "--model", bundle, "--no-display", "--json", *EVERY_ACTION,
        "--serve", "0", "--record", record, "--pre", "2", "--post", "2",
    )  # fmt: skip
    viewers: list[MjpegViewer] = []
    try:
        run.wait_for_stderr("serving http://", 120)
        page = next(line for line in run.stderr if "serving http://" in line).split("serving ")[1].strip()
        viewers = [MjpegViewer(page + "stream/" + urllib.parse.quote(server.url, safe="")), MjpegViewer(page + "events")]
        for viewer in viewers:
            viewer.start()
        samples = sample_memory(run, MULTI_SECONDS)
        run.process.send_signal(signal.SIGINT)
        assert run.finish(timeout=60) == 0, "\n".join(run.stderr[-5:])
    finally:
        for viewer in viewers:
            viewer.stop.set()
        run.finish(timeout=5)
        server.stop()
    events = [json.loads(line) for line in run.stdout]
    clips = sorted(record.glob("*/*.avi"))
    settled, final, growth = memory_growth(samples)
    print(
        f"\nserve+record soak: {samples[-1][0]:.0f} s, {len(events)} event lines, {len(clips)} clips "
        f"({sum(c.stat().st_size for c in clips) / 2**20:.0f} MB), {viewers[0].images} images to the viewer, "
        f"RSS {settled:.0f} MB at {WARM_UP_S}-{WARM_UP_S + 10} s, {final:.0f} MB in the last 10 s, "
        f"peak {max(mb for _, mb in samples):.0f} MB, growth {growth:+.1f} MB; {run.stderr[-1]}"
    )
    assert samples[-1][0] >= MULTI_SECONDS * 0.95
    assert len(clips) >= 2 and viewers[0].images > MULTI_SECONDS
    assert not list(record.glob("*/.*")), "no temp clip left after the stop"
    assert growth < GROWTH_LIMIT_MB
