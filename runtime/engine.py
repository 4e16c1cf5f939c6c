"""ONNX Runtime sessions for a bundle's two graphs, on the best provider that can really start.

ONNX Runtime lists every provider its build contains, whether or not the
machine can run it (``onnxruntime-gpu`` lists CUDA and TensorRT on a machine
without a GPU). A provider counts here only when the NVIDIA driver reports a
GPU and the provider's own library loads, which needs the CUDA, cuDNN and
(for TensorRT) TensorRT libraries it was linked against.
"""

import contextlib
import ctypes
import functools
import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
import onnxruntime as ort

from .bundle import EXTRACTOR_FILE, HEAD_FILE, Bundle, check_graph
from .errors import BadModelError, VclfError, first_line
from .files import cache_dir, file_sha256, fsync_path, fsync_tree
from .sampling import frame_mask

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
_PROVIDERS = {"cpu": [CPU], "cuda": [CUDA, CPU], "tensorrt": [TENSORRT, CUDA, CPU]}
_PROVIDER_LIBRARIES = {CUDA: "libonnxruntime_providers_cuda.so", TENSORRT: "libonnxruntime_providers_tensorrt.so"}
EXTRACT_BATCH = 64  # frames per extractor call, at most
NOT_BUILT, NO_GPU = "not in this onnxruntime build", "no NVIDIA GPU or driver"
CACHE_GRAPH, CACHE_DATA, CACHE_HASHES = "graph.onnx", "graph.onnx.data", "sha256.json"


class DeviceUnavailableError(VclfError):
    """A device was asked for explicitly and this machine cannot provide it."""

    exit_code = 2


def load_library(name: str, mode: int = ctypes.DEFAULT_MODE) -> ctypes.CDLL:
    """``dlopen``; an OSError names the library that is missing."""
    return ctypes.CDLL(name, mode=mode)


def cuda_devices() -> int:
    """NVIDIA GPUs the driver reports (``cuInit`` + ``cuDeviceGetCount``); 0 without a driver."""
    try:
        driver = load_library("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def provider_problem(provider: str) -> str | None:
    """Why ``provider`` cannot start on this machine, or None when it can."""
    if provider == CPU:
        return None
    if provider not in ort.get_available_providers():
        return NOT_BUILT
    if cuda_devices() == 0:
        return NO_GPU
    preload_cuda_libraries()
    capi = Path(ort.__file__).parent / "capi"
    try:
        load_library(str(capi / "libonnxruntime_providers_shared.so"), ctypes.RTLD_GLOBAL)
        load_library(str(capi / _PROVIDER_LIBRARIES[provider]))
    except OSError as exc:
        return str(exc).split(":")[0] + " cannot be loaded"
    return None


@functools.cache
def preload_cuda_libraries() -> None:
    """Load CUDA and cuDNN from pip's ``nvidia-*`` packages where they are installed (``onnxruntime-gpu[cuda,cudnn]``).

    ONNX Runtime's CUDA provider finds those libraries only on the loader's
    path unless ``onnxruntime.preload_dlls`` loads them first; where PyTorch
    with the same CUDA was imported before, they are loaded already. What it
    prints (libraries it did not find) stays off stdout, which carries
    ``--json`` results; a library still missing shows when the provider loads.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(OSError, RuntimeError):
        preload()


@dataclass(frozen=True)
class ProviderChoice:
    """The providers to ask ONNX Runtime for, best first, and why better ones were passed over."""

    providers: list[str]
    passed_over: dict[str, str] = field(default_factory=dict)

    def fallback_note(self) -> str | None:
        """One line for stderr when a GPU is present but a provider for it cannot start.

        A build without GPU providers, or a machine without a GPU, falls back
        to the CPU silently: that is what its user expects.
        """
        reasons = [f"{name} cannot start ({why})" for name, why in self.passed_over.items() if why not in (NOT_BUILT, NO_GPU)]
        return f"{'; '.join(reasons)}; using {self.providers[0]}" if reasons else None


def choose_providers(device: str) -> ProviderChoice:
    """Providers for ``device``: ``auto`` takes TensorRT, then CUDA, then CPU, the first that can start.

    An explicit ``cuda`` or ``tensorrt`` that cannot start is a DeviceUnavailableError.
    """
    if device not in DEVICES:
        raise DeviceUnavailableError(f"{device}: unknown device; choose from {', '.join(DEVICES)}")
    if device != "auto":
        problem = provider_problem(_PROVIDERS[device][0])
        if problem:
            raise DeviceUnavailableError(f"{device}: not available on this machine ({problem})")
        return ProviderChoice(_PROVIDERS[device])
    passed_over = {}
    for candidate in ("tensorrt", "cuda"):
        provider = _PROVIDERS[candidate][0]
        problem = provider_problem(provider)
        if problem is None:
            return ProviderChoice(_PROVIDERS[candidate], passed_over)
        passed_over[provider] = problem
    return ProviderChoice(_PROVIDERS["cpu"], passed_over)


def provider_options(provider: str, bundle: Bundle) -> tuple[str, dict] | str:
    """TensorRT builds an engine per graph on first start: keep it in the cache, in the bundle's precision."""
    if provider != TENSORRT:
        return provider
    engines = cache_dir() / "tensorrt" / bundle.sha256.get(EXTRACTOR_FILE, "unhashed")[:16]
    return provider, {
        "trt_engine_cache_enable": _writable(engines),
        "trt_engine_cache_path": str(engines),
        "trt_fp16_enable": bundle.precision == "fp16",
        "trt_int8_enable": bundle.precision == "int8",
    }


def session_options() -> ort.SessionOptions:
    """The options of every session vclf makes."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle threads sleep instead of spinning: a spinning thread holds a core that the folder pipeline's
    # decoder or a live run's capture needs (measured on 2 cores, 12 clips: fp32 folder clips/s best of
    # four 2.21 against 1.95, median 2.08 against 1.79); the extractor alone is as fast (20 frames 395 ms
    # either way) and one frame 1.4 ms slower (23.9 against 22.5 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def create_session(
    path: os.PathLike, providers: list, sha256: str | None = None, report: Callable[[str], None] | None = None
) -> ort.InferenceSession:
    """A session for one graph; an unloadable graph is a BadModelError naming it.

    On the CPU, a graph with a known ``sha256`` is optimised once and the
    optimised graph kept in the cache (``graph_cache``); later starts load it
    with the optimisers off (measured: 0.2-0.3 s instead of 0.5-1.8 s for
    InceptionV3). ``report`` gets a line when a damaged cache entry is rebuilt.
    """
    if sha256 and providers == [CPU]:
        entry = optimized_graph_path(sha256)
        session = load_cached_graph(entry, providers, report)
        if session is not None:
            return session
        if _writable(entry.parent):
            return build_cached_graph(path, entry, providers)
    return _session(path, path, session_options(), providers)


def _session(graph: os.PathLike, named: os.PathLike, options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(os.fspath(graph), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several unrelated types for bad graphs
        raise BadModelError(f"{named}: cannot load graph ({first_line(exc)})") from None


def load_cached_graph(entry: Path, providers: list, report: Callable[[str], None] | None) -> ort.InferenceSession | None:
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
        options = session_options()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return _session(entry / CACHE_GRAPH, entry, options, providers)
    except (OSError, ValueError, AttributeError, BadModelError) as exc:
        shutil.rmtree(entry, ignore_errors=True)
        if entry.exists() or entry.is_symlink():
            entry.unlink(missing_ok=True)
        if report:
            report(f"vclf: cached optimised graph {entry.name} was damaged ({first_line(exc)[:160]}); rebuilding it")
        return None


def build_cached_graph(path: os.PathLike, entry: Path, providers: list) -> ort.InferenceSession:
    """A session for ``path`` with the optimisers on, its optimised graph kept as the cache ``entry``.

    The entry is a folder written whole: the graph, its initialisers in one
    file beside it (so graphs with external data are cached complete) and the
    hash of each, built under a temporary name and renamed into place. Of two
    processes building the same entry at once, the first rename wins.
    """
    try:
        scratch = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".tmp-{os.getpid()}-"))
    except OSError:
        return _session(path, path, session_options(), providers)
    try:
        options = session_options()
        options.optimized_model_filepath = str(scratch / CACHE_GRAPH)
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name", CACHE_DATA)
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        try:
            session = _session(path, path, options, providers)
        except BadModelError:  # writing the optimised graph may be what failed (a full disk): the graph alone decides
            return _session(path, path, session_options(), providers)
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


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


class Engine:
    """Both graphs of a bundle, loaded once and run many times.

    A clip runs through I/O binding: its uint8 frames go to the provider's
    device once, the extractor writes features into a ``[T, F]`` buffer that
    stays there, and the head reads that buffer as ``[1, T, F]``. Rows past
    the clip's frames hold whatever the previous clip left; the mask hides
    them (the head ignores masked positions, which export checks).
    """

    def __init__(
        self, bundle: Bundle, device: str = "auto", notice=lambda line: click.echo(line, err=True), verbose: bool = False
    ):
        self.bundle = bundle
        choice = choose_providers(device)
        providers = [provider_options(p, bundle) for p in choice.providers]
        repairs = notice if verbose else None
        self.extractor = create_session(bundle.extractor_path, providers, bundle.sha256.get(EXTRACTOR_FILE), repairs)
        self.head = create_session(bundle.head_path, providers, bundle.sha256.get(HEAD_FILE), repairs)
        for name, session in ((EXTRACTOR_FILE, self.extractor), (HEAD_FILE, self.head)):
            check_graph(bundle, name, session.get_inputs(), session.get_outputs())
        if self.provider != choice.providers[0]:
            if device != "auto":
                raise DeviceUnavailableError(f"{device}: onnxruntime could not start {choice.providers[0]}")
            notice(f"vclf: {choice.providers[0]} did not start; using {self.provider}")
        elif choice.fallback_note():
            notice(f"vclf: {choice.fallback_note()}")
        if bundle.precision == "fp16" and self.provider == CPU:
            notice("vclf: this fp16 bundle is made for GPUs and runs slowly on the CPU; export fp32 or int8 for CPUs")
        self.passed_over = choice.passed_over
        self._device = "cpu" if self.provider == CPU else "cuda"
        self._features = ort.OrtValue.ortvalue_from_shape_and_type(
            [bundle.sequence_length, bundle.feature_size], np.float32, self._device, 0
        )

    @property
    def provider(self) -> str:
        return self.extractor.get_providers()[0]

    @property
    def folder_batch_frames(self) -> int:
        """Frames a folder run puts in one extractor call: several clips' on a GPU, one clip's on the CPU.

        On the CPU the cost per frame does not fall with the batch (measured:
        20 and 60 frames, the same per frame) and each new batch shape runs
        cold once; five interleaved folder runs of 12 clips gave int8 3.63
        clips/s (median) with one clip per call against 3.02 with 64 frames,
        fp32 1.77 against 1.72.
        """
        return EXTRACT_BATCH if self.provider != CPU else self.bundle.sequence_length

    def extract(self, frames: np.ndarray) -> np.ndarray:
        """float32 ``[N, F]`` features for uint8 RGB frames ``[N, S, S, 3]``, batched."""
        chunks = [
            self.extractor.run(None, {"frames": frames[start : start + EXTRACT_BATCH]})[0]
            for start in range(0, len(frames), EXTRACT_BATCH)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.bundle.feature_size), np.float32)

    def classify(self, features: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Probabilities ``[B, C]`` for features ``[B, T, F]`` and mask ``[B, T]``."""
        return self.head.run(None, {"features": features.astype(np.float32), "mask": mask.astype(bool)})[0]

    def classify_clip(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities ``[C]`` for one clip's frames ``[n, S, S, 3]``, ``n`` at most the sequence length."""
        length, size = self.bundle.sequence_length, self.bundle.feature_size
        if not 0 < len(frames) <= length:
            raise ValueError(f"a clip has 1 to {length} frames, not {len(frames)}")
        pointer = self._features.data_ptr()
        extract = self.extractor.io_binding()
        extract.bind_cpu_input("frames", np.ascontiguousarray(frames))
        extract.bind_output("features", self._device, 0, np.float32, [len(frames), size], pointer)
        self.extractor.run_with_iobinding(extract)
        extract.synchronize_outputs()
        head = self.head.io_binding()
        head.bind_input("features", self._device, 0, np.float32, [1, length, size], pointer)
        head.bind_cpu_input("mask", frame_mask(len(frames), length)[None])
        head.bind_output("probabilities")
        self.head.run_with_iobinding(head)
        return head.copy_outputs_to_cpu()[0][0]
