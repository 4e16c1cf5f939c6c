"""The feature cache: one entry per clip, shared by every run on this machine.

An entry is keyed by everything that decides a clip's features: the file
(size, modification time and sha256 of its bytes), how frames are read from
it (``READER_VERSION``), the sampler, sequence length and image size, and
the extractor (backbone name and a sha256 of its weights). Change any of them and the key changes, so a stale entry is never
read; it is simply not found. Entries are written to scratch and renamed, and
each holds a checksum of its features: a truncated or damaged entry reads as
missing and is recomputed.
"""

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from vclf.runtime.files import atomic_write, cache_dir, file_sha256
from vclf.runtime.video import READER_VERSION

ENTRY_SUFFIX = ".npz"


def default_cache_dir() -> Path:
    """``features/`` in vclf's cache folder (``$VCLF_CACHE``, else ``$XDG_CACHE_HOME/vclf`` or ``~/.cache/vclf``)."""
    return cache_dir() / "features"


def clip_identity(path: Path) -> dict:
    """What identifies a clip's content: size, modification time and a hash of its bytes."""
    stat = Path(path).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def features_checksum(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features, np.float32).tobytes()).hexdigest()


class FeatureCache:
    """Per-clip features ``[n, F]`` (the sampled frames only; the mask follows from ``n``).

    ``settings`` is everything besides the clip that decides its features
    (sampler, sequence length, image size, extractor identity); it is part of
    every key.
    """

    def __init__(self, folder: Path, settings: dict):
        self.folder = Path(folder)
        self.settings = settings
        self.recomputed = 0  # entries found damaged and recomputed

    def key(self, path: Path) -> str:
        described = json.dumps({"clip": clip_identity(path), "reader": READER_VERSION, **self.settings}, sort_keys=True)
        return hashlib.sha256(described.encode()).hexdigest()

    def entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def load(self, key: str) -> np.ndarray | None:
        """The cached features, or None when absent or damaged (a damaged entry is removed)."""
        entry = self.entry(key)
        if not entry.is_file():
            return None
        try:
            with np.load(entry) as saved:
                features, checksum = saved["features"], str(saved["checksum"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            features, checksum = None, None
        if features is None or features.ndim != 2 or checksum != features_checksum(features):
            entry.unlink(missing_ok=True)
            self.recomputed += 1
            return None
        return features

    def store(self, key: str, features: np.ndarray) -> None:
        entry = self.entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        features = np.ascontiguousarray(features, np.float32)
        checksum = np.array(features_checksum(features))
        atomic_write(entry, lambda tmp: np.savez(tmp, features=features, checksum=checksum))
