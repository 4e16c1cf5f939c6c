"""Soak (``make soak``, not part of ``make test``): a 60 s live replay, every frame
sampled, at four times the frame rate this machine's extractor keeps up with
(50 to 400 fps), so inference stays behind the source the whole time. The
buffer drops what it cannot keep, and the process' memory stays flat.
"""

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from helpers import BackgroundCommand, extract_seconds
from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.train.synth import random_spec, render_clip, write_video

SECONDS = 60
FPS_RANGE = (50.0, 400.0)
BEHIND = 4  # the source's rate over what one prediction's extractor call keeps up with
WARM_UP_S = 10
GROWTH_LIMIT_MB = 20


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def test_memory_stays_flat_over_a_60_s_live_replay(bundle, tmp_path):
    fps = float(np.clip(BEHIND / extract_seconds(Engine(load_bundle(bundle), "cpu")), *FPS_RANGE))
    clip = render_clip(replace(random_spec("grow", np.random.default_rng(0)), width=160, height=120, length=40))
    video = write_video(tmp_path / "minute.avi", clip * int(SECONDS * fps / len(clip)), fps=fps)
    run = BackgroundCommand("vclf-run", video, "--model", bundle, "--live", "--no-display", "--json", "--stride", "1")
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    while run.process.poll() is None:
        try:
            samples.append((time.monotonic() - started, resident_mb(run.process.pid)))
        except FileNotFoundError:
            break
        time.sleep(1.0)
    assert run.finish(timeout=30) == 0, "\n".join(run.stderr[-5:])

    records = [json.loads(line) for line in run.stdout]
    settled = [mb for t, mb in samples if WARM_UP_S <= t < WARM_UP_S + 10]
    final = [mb for t, mb in samples if t >= samples[-1][0] - 10]
    growth = float(np.median(final) - np.median(settled))
    print(
        f"\nsoak: {samples[-1][0]:.0f} s at {fps:.0f} fps, {len(records)} predictions, {records[-1]['dropped']} dropped, "
        f"RSS {np.median(settled):.0f} MB at {WARM_UP_S}-{WARM_UP_S + 10} s, {np.median(final):.0f} MB in the last 10 s, "
        f"peak {max(mb for _, mb in samples):.0f} MB, growth {growth:+.1f} MB; {run.stderr[-1]}"
    )
    assert samples[-1][0] >= SECONDS * 0.95
    assert records[-1]["dropped"] > 0, "inference was behind the source"
    assert growth < GROWTH_LIMIT_MB
