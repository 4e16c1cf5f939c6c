"""Which ONNX Runtime provider runs a bundle: the best one that can really start on this machine.

ONNX Runtime lists every provider its build contains, whether or not the
machine can run it (``onnxruntime-gpu`` lists CUDA and TensorRT on a machine
without a GPU). A provider counts here only when the NVIDIA driver reports a
GPU and the provider's own library loads, which needs the CUDA, cuDNN and
(for TensorRT) TensorRT libraries it was linked against. onnxruntime itself
is imported when a provider is probed, so the command line's ``--device``
choices cost nothing to show.
"""

import contextlib
import ctypes
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

from .bundle import EXTRACTOR_FILE, Bundle
from .errors import VclfError
from .files import cache_dir, writable_folder

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
_PROVIDERS = {"cpu": [CPU], "cuda": [CUDA, CPU], "tensorrt": [TENSORRT, CUDA, CPU]}
_PROVIDER_LIBRARIES = {CUDA: "libonnxruntime_providers_cuda.so", TENSORRT: "libonnxruntime_providers_tensorrt.so"}
NOT_BUILT, NO_GPU = "not in this onnxruntime build", "no NVIDIA GPU or driver"


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
    import onnxruntime as ort

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
    import onnxruntime as ort

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
    passed_over: dict[str, str] = {}
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
        "trt_engine_cache_enable": writable_folder(engines),
        "trt_engine_cache_path": str(engines),
        "trt_fp16_enable": bundle.precision == "fp16",
        "trt_int8_enable": bundle.precision == "int8",
    }
