"""Shared fixtures: real videos written by OpenCV, and one real pipeline run.

The session fixtures run the commands a user runs (synth → fit → export) once;
every end-to-end, parity and CLI test reads the same run dir and bundle.
"""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

BIN = Path(sys.executable).parent
SEQUENCE_LENGTH = 20


def run_command(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a vclf console script as a user would; returns its output."""
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write BGR frames as an MJPG AVI with OpenCV."""
    height, width = frames[0].shape[:2] if frames else (48, 64)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def counting_frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames whose grey level tells their index: frame i is ``4 * i`` (mod 256)."""
    return [np.full((height, width, 3), (4 * i) % 256, np.uint8) for i in range(count)]


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """A synthetic dataset: 30 training and 10 test clips per class."""
    out = tmp_path_factory.mktemp("data") / "synth"
    run_command("vclf-train", "synth", out, "--seed", "0", "--videos-per-class", "30")
    return out


@pytest.fixture(scope="session")
def trained_run(dataset, tmp_path_factory) -> Path:
    """The default preset fitted on the synthetic set with random InceptionV3 weights."""
    run_dir = tmp_path_factory.mktemp("runs") / "default"
    run_command("vclf-train", "fit", dataset, "--out", run_dir, "--weights", "none")
    return run_dir


@pytest.fixture(scope="session")
def bundle(trained_run, tmp_path_factory) -> Path:
    bundle_dir = tmp_path_factory.mktemp("bundles") / "default"
    run_command("vclf-export", trained_run, "--out", bundle_dir)
    return bundle_dir
