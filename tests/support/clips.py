"""Clips for tests: frames that tell their index, the training set's action scenes as a replay, a frame rate this machine keeps up with."""

import json
import time
from pathlib import Path

import numpy as np

from support.commands import run_command
from vclf.runtime.engine import Engine


def extract_seconds(engine: Engine) -> float:
    """What one live step's extractor call on one frame takes on this machine now."""
    frame = np.zeros((engine.bundle.image_size,) * 2 + (3,), np.uint8)[None]
    engine.extract(frame)
    started = time.perf_counter()
    for _ in range(3):
        engine.extract(frame)
    return (time.perf_counter() - started) / 3


def replay_fps(engine: Engine) -> float:
    """A frame rate at which this machine classifies every stride-th frame of a replay with
    time to spare: a loaded machine gets a slower replay, not dropped frames."""
    return float(np.clip(engine.bundle.live_stride / (2 * extract_seconds(engine)), 2, 20))


def counting_frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames whose grey level tells their index: frame i is ``4 * i`` (mod 256)."""
    return [np.full((height, width, 3), (4 * i) % 256, np.uint8) for i in range(count)]


RENDER_ACTIONS = Path(__file__).parents[1] / "render_actions.py"


def action_replay(path: Path, labels: tuple[str, ...], seed: int, length: int, fps: float, clips: int = 1) -> Path:
    """What a camera sees while the action changes (``vclf.train.synth.action_stream``), written to ``path`` at ``fps``.

    Rendered in a subprocess, as the session's run is trained in one: the test process never imports vclf.train.
    """
    settings = {"path": str(path), "labels": list(labels), "clips": clips, "seed": seed, "length": length, "fps": fps}
    run_command("python", RENDER_ACTIONS, json.dumps(settings))
    return Path(path)
