"""ONNX Runtime sessions for a bundle's two graphs, on the best provider present."""

import ctypes
import os

import numpy as np
import onnxruntime as ort

from .bundle import Bundle
from .errors import BadModelError, VclfError

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}
EXTRACT_BATCH = 64


class DeviceUnavailableError(VclfError):
    """A device was asked for explicitly and this machine cannot provide it."""

    exit_code = 2


def cuda_driver_present() -> bool:
    """Whether an NVIDIA driver is installed (onnxruntime-gpu lists CUDA even without one)."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def choose_providers(device: str) -> list[str]:
    """Execution providers for ``device``; ``auto`` is CUDA when usable, else CPU."""
    if device not in DEVICES:
        raise DeviceUnavailableError(f"{device}: unknown device; choose from {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if _cuda_usable() else "cpu"
    providers = _PROVIDERS[device]
    if providers[0] not in ort.get_available_providers() or (device != "cpu" and not cuda_driver_present()):
        raise DeviceUnavailableError(f"{device}: not available on this machine")
    return providers


def _cuda_usable() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers() and cuda_driver_present()


def create_session(path: os.PathLike, providers: list[str]) -> ort.InferenceSession:
    """A session for one graph; an unloadable graph is a BadModelError naming it."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(os.fspath(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several unrelated types for bad graphs
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadModelError(f"{path}: cannot load graph ({first_line})") from None


class Engine:
    """Both graphs of a bundle, loaded once and run many times."""

    def __init__(self, bundle: Bundle, device: str = "auto"):
        self.bundle = bundle
        providers = choose_providers(device)
        self.extractor = create_session(bundle.extractor_path, providers)
        self.head = create_session(bundle.head_path, providers)
        if device != "auto" and self.extractor.get_providers()[0] != providers[0]:
            raise DeviceUnavailableError(f"{device}: onnxruntime could not start {providers[0]}")

    @property
    def provider(self) -> str:
        return self.extractor.get_providers()[0]

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
