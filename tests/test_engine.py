"""Which ONNX Runtime provider a bundle runs on."""

import pytest

from vclf.runtime import engine
from vclf.runtime.engine import DeviceUnavailableError, choose_providers

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def gpu_machine(monkeypatch):
    monkeypatch.setattr(engine.ort, "get_available_providers", lambda: ALL)
    monkeypatch.setattr(engine, "cuda_driver_present", lambda: True)


@pytest.fixture
def cpu_machine_with_gpu_package(monkeypatch):
    """onnxruntime-gpu lists CUDA even where no NVIDIA driver is installed."""
    monkeypatch.setattr(engine.ort, "get_available_providers", lambda: ALL)
    monkeypatch.setattr(engine, "cuda_driver_present", lambda: False)


def test_auto_picks_cuda_with_cpu_fallback_on_a_gpu_machine(gpu_machine):
    assert choose_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_auto_picks_cpu_when_no_driver_is_present(cpu_machine_with_gpu_package):
    assert choose_providers("auto") == ["CPUExecutionProvider"]


def test_tensorrt_falls_back_through_cuda_to_cpu(gpu_machine):
    assert choose_providers("tensorrt") == ALL


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_asking_for_a_gpu_without_one_is_a_usage_error(cpu_machine_with_gpu_package, device):
    with pytest.raises(DeviceUnavailableError, match=f"{device}: not available") as error:
        choose_providers(device)
    assert error.value.exit_code == 2


def test_cpu_is_always_available():
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
