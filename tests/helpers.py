"""Helpers for tests: running the commands as a user would, frames that tell their index, a decoder that crashes."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

from vclf.runtime.video import Clip, read_clip

BIN = Path(sys.executable).parent


def run_command(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a vclf console script as a user would; returns its output."""
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def counting_frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames whose grey level tells their index: frame i is ``4 * i`` (mod 256)."""
    return [np.full((height, width, 3), (4 * i) % 256, np.uint8) for i in range(count)]


def decode_or_abort(path: Path, *settings) -> Clip:
    """``read_clip``, except that a file named ``*crash*`` kills the process, as a decoder crash would."""
    if "crash" in Path(path).name:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
        os.abort()
    return read_clip(path, *settings)
