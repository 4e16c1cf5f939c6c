"""Which builds of ONNX Runtime and OpenCV this environment holds.

Both come as rival distributions that install the same module
(``onnxruntime`` / ``onnxruntime-gpu``, ``opencv-python`` /
``opencv-python-headless``); ``--version`` and ``--verbose`` name the one in use,
since it decides which providers exist and whether a window can open.
"""

from functools import cache
from importlib import metadata

import cv2
import onnxruntime as ort

NO_GUI = "NONE"


@cache
def distribution_of(module: str) -> str:
    """The installed distribution that provides ``module`` (``onnxruntime-gpu`` for ``onnxruntime``), or "unknown"."""
    names = metadata.packages_distributions().get(module) or ["unknown"]
    return ", ".join(sorted(set(names)))


def opencv_gui() -> str:
    """The GUI backend OpenCV was built with (``QT5``, ``GTK3``, ...), ``NONE`` for the headless build."""
    for line in cv2.getBuildInformation().splitlines():
        name, _, value = line.strip().partition(":")
        if name == "GUI":
            return value.strip() or NO_GUI
    return NO_GUI


def onnxruntime_build() -> str:
    """E.g. ``onnxruntime-gpu 1.31.1 (TensorrtExecutionProvider, CUDAExecutionProvider, CPUExecutionProvider)``."""
    return f"{distribution_of('onnxruntime')} {ort.__version__} ({', '.join(ort.get_available_providers())})"


def opencv_build() -> str:
    """E.g. ``opencv-python-headless 5.0.0 (GUI: NONE)``."""
    return f"{distribution_of('cv2')} {cv2.__version__} (GUI: {opencv_gui()})"
