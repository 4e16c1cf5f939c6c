"""Folder decoders that misbehave on purpose: one that crashes its process, one that never returns."""

import os
import resource
import threading
from pathlib import Path

from vclf.runtime.video import Clip, read_clip


def decode_or_abort(path: Path, *settings) -> Clip:
    """``read_clip``, except that a file named ``*crash*`` kills the process, as a decoder crash would."""
    if "crash" in Path(path).name:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
        os.abort()
    return read_clip(path, *settings)


def decode_or_hang(path: Path, *settings) -> Clip:
    """``read_clip``, except that on a file named ``*hang*`` it never returns, as a decoder on a hung network mount."""
    if "hang" in Path(path).name:
        threading.Event().wait()
    return read_clip(path, *settings)


HANGING_RUN = Path(__file__).parents[1] / "hanging_run.py"  # vclf-run with decode_or_hang as its folder decoder
