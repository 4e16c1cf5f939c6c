"""Run inside the arm64 root: the bundle on frames decoded on x86, and the clip as decoded here.

usage: python same_frames.py BUNDLE X86_FRAMES.npy CLIP OUT_DIR
writes OUT_DIR/probabilities.npy (the bundle on the x86 frames) and OUT_DIR/frames.npy (CLIP's sampled frames, decoded here).
"""

import sys
from pathlib import Path

import numpy as np

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.video import read_clip

bundle_dir, frames_file, clip_file, out = sys.argv[1:]
bundle = load_bundle(bundle_dir)
engine = Engine(bundle, "cpu")
np.save(Path(out) / "probabilities.npy", engine.classify_clip(np.load(frames_file)))
np.save(Path(out) / "frames.npy", read_clip(clip_file, bundle.sampling).frames)
