"""ONNX Runtime sessions for one graph, and the cache of CPU-optimised graphs that makes later starts fast.

A cache entry is a folder under ``cache_dir()/optimized``, keyed by the
graph's sha256, the onnxruntime version and the CPU's feature flags, and
written whole (built under a temporary name, then renamed). An entry whose
files do not match their recorded hashes is deleted and built again.
"""

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort

from .errors import BadModelError, first_line
from .files import cache_dir, file_sha256, fsync_path, fsync_tree, writable_folder
from .providers import CPU

CACHE_GRAPH, CACHE_DATA, CACHE_HASHES = "graph.onnx", "graph.onnx.data", "sha256.json"


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """The options of every session vclf makes; ``threads``: its intra-op threads (None: one per physical core)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    # Idle threads sleep instead of spinning: a spinning thread holds a core that the folder pipeline's
    # decoder or a live run's capture needs (measured on 2 cores, 12 clips: fp32 folder clips/s best of
    # four 2.21 against 1.95, median 2.08 against 1.79); the extractor alone is as fast (20 frames 395 ms
    # either way) and one frame 1.4 ms slower (23.9 against 22.5 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def create_session(
    path: os.PathLike,
    providers: list,
    sha256: str | None = None,
    report: Callable[[str], None] | None = None,
    threads: int | None = None,
) -> ort.InferenceSession:
    """A session for one graph (``threads``: as ``session_options``); an unloadable graph is a BadModelError naming it.

    On the CPU, a graph with a known ``sha256`` is optimised once and the
    optimised graph kept in the cache (``graph_cache``); later starts load it
    with the optimisers off (measured: 0.2-0.3 s instead of 0.5-1.8 s for
    InceptionV3). ``report`` gets a line when a damaged cache entry is rebuilt.
    """
    if sha256 and providers == [CPU]:
        entry = optimized_graph_path(sha256)
        session = load_cached_graph(entry, providers, report, threads)
        if session is not None:
            return session
        if writable_folder(entry.parent):
            return build_cached_graph(path, entry, providers, threads)
    return _session(path, path, session_options(threads), providers)


def _session(graph: os.PathLike, named: os.PathLike, options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(os.fspath(graph), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several unrelated types for bad graphs
        raise BadModelError(f"{named}: cannot load graph ({first_line(exc)})") from None


def load_cached_graph(
    entry: Path, providers: list, report: Callable[[str], None] | None, threads: int | None = None
) -> ort.InferenceSession | None:
    """The session of a cache entry whose files all match their recorded hashes; None when there is none.

    A damaged entry (a file missing, emptied, truncated or changed, or a graph
    that will not load) is deleted, so the caller rebuilds it from the bundle.
    """
    if not entry.exists():
        return None
    try:
        recorded = json.loads((entry / CACHE_HASHES).read_text())
        if set(recorded) != {p.name for p in entry.iterdir()} - {CACHE_HASHES} or CACHE_GRAPH not in recorded:
            raise ValueError("its files are not the ones it recorded")
        for name, digest in recorded.items():
            if file_sha256(entry / name) != digest:
                raise ValueError(f"{name} does not match its hash")
        options = session_options(threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return _session(entry / CACHE_GRAPH, entry, options, providers)
    except (OSError, ValueError, AttributeError, BadModelError) as exc:
        shutil.rmtree(entry, ignore_errors=True)
        if entry.exists() or entry.is_symlink():
            entry.unlink(missing_ok=True)
        if report:
            report(f"vclf: cached optimised graph {entry.name} was damaged ({first_line(exc)[:160]}); rebuilding it")
        return None


def build_cached_graph(path: os.PathLike, entry: Path, providers: list, threads: int | None = None) -> ort.InferenceSession:
    """A session for ``path`` with the optimisers on, its optimised graph kept as the cache ``entry``.

    The entry is a folder written whole: the graph, its initialisers in one
    file beside it (so graphs with external data are cached complete) and the
    hash of each, built under a temporary name and renamed into place. Of two
    processes building the same entry at once, the first rename wins.
    """
    try:
        scratch = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".tmp-{os.getpid()}-"))
    except OSError:
        return _session(path, path, session_options(threads), providers)
    try:
        options = session_options(threads)
        options.optimized_model_filepath = str(scratch / CACHE_GRAPH)
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", CACHE_DATA)
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        try:
            session = _session(path, path, options, providers)
        except BadModelError:  # writing the optimised graph may be what failed (a full disk): the graph alone decides
            return _session(path, path, session_options(threads), providers)
        try:
            hashes = {p.name: file_sha256(p) for p in sorted(scratch.iterdir())}
            (scratch / CACHE_HASHES).write_text(json.dumps(hashes))
            fsync_tree(scratch)
            scratch.rename(entry)
            fsync_path(entry.parent)
        except OSError:  # no room, or another process put the entry there first: the session is good either way
            pass
        return session
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def optimized_graph_path(sha256: str) -> Path:
    """The cache entry (a folder) for the graph with ``sha256`` on this CPU and onnxruntime version.

    The optimised graph holds layouts for this CPU's vector width, so the key
    includes the CPU's feature flags as well as the onnxruntime version.
    """
    flags = next((line for line in _cpuinfo().splitlines() if line.startswith("flags")), platform.machine())
    machine = hashlib.sha256(flags.encode()).hexdigest()[:8]
    return cache_dir() / "optimized" / f"{sha256[:32]}-ort{ort.__version__}-cpu{machine}"


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
