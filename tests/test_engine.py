"""Which ONNX Runtime provider a bundle runs on, and how the engine runs a clip.

Provider choice is tested with the provider list, the driver's GPU count and
the library loader replaced: this machine has no GPU, so the GPU sessions
themselves are not started here.
"""

import json
import shutil
from importlib import metadata

import numpy as np
import onnxruntime as ort
import pytest
from support.commands import run_command, run_python

from vclf.runtime import providers as probing
from vclf.runtime.bundle import EXTRACTOR_FILE, load_bundle, write_bundle_json
from vclf.runtime.engine import Engine
from vclf.runtime.providers import CPU, CUDA, TENSORRT, DeviceUnavailableError, choose_providers
from vclf.runtime.sampling import ClipSampling, frame_mask, pad_sequence
from vclf.runtime.video import read_clip

ALL = [TENSORRT, CUDA, CPU]


def machine(monkeypatch, providers=ALL, gpus=1, missing=()):
    """Pretend onnxruntime lists ``providers``, the driver sees ``gpus``, and ``missing`` libraries fail to load."""

    def load_library(name, mode=0):
        for library in missing:
            if library in name:
                raise OSError(f"{library}: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(ort, "get_available_providers", lambda: providers)
    monkeypatch.setattr(probing, "cuda_devices", lambda: gpus)
    monkeypatch.setattr(probing, "load_library", load_library)


def test_auto_takes_tensorrt_first_when_everything_loads(monkeypatch):
    machine(monkeypatch)
    choice = choose_providers("auto")
    assert choice.providers == ALL and choice.fallback_note() is None


def test_auto_takes_cuda_when_tensorrt_libraries_are_missing_and_says_why(monkeypatch):
    # The TensorRT provider library is what needs libnvinfer; it fails to load without it.
    machine(monkeypatch, missing=["libonnxruntime_providers_tensorrt.so"])
    choice = choose_providers("auto")
    assert choice.providers == [CUDA, CPU]
    note = choice.fallback_note()
    assert TENSORRT in note and "cannot be loaded" in note and note.endswith(f"using {CUDA}")


def test_auto_falls_back_to_cpu_when_no_gpu_provider_loads(monkeypatch):
    machine(monkeypatch, missing=["libonnxruntime_providers_tensorrt.so", "libonnxruntime_providers_cuda.so"])
    choice = choose_providers("auto")
    assert choice.providers == [CPU]
    assert choice.fallback_note().count("cannot start") == 2 and "\n" not in choice.fallback_note()


@pytest.mark.parametrize("providers, gpus", [(ALL, 0), ([CPU], 1)], ids=["gpu-build-without-gpu", "cpu-build"])
def test_auto_is_quietly_cpu_where_there_is_no_gpu_to_use(monkeypatch, providers, gpus):
    machine(monkeypatch, providers=providers, gpus=gpus)
    choice = choose_providers("auto")
    assert choice.providers == [CPU] and choice.fallback_note() is None
    assert set(choice.passed_over) == {TENSORRT, CUDA}


def clip_frames(bundle) -> np.ndarray:
    """A clip's worth of noise frames: what these tests compare is where the graphs run, not what they see."""
    loaded = load_bundle(bundle)
    return np.random.default_rng(0).integers(0, 256, (loaded.sequence_length, loaded.image_size, loaded.image_size, 3), np.uint8)


def test_tensorrt_sessions_fall_back_through_cuda_to_cpu(monkeypatch, bundle):
    """The probe is told every GPU provider can start; real ONNX Runtime sessions are then given TensorRT,
    CUDA and CPU, and each provider that cannot start hands the graph to the next (here, without a GPU, the CPU)."""
    machine(monkeypatch)
    notices = []
    runner = Engine(load_bundle(bundle), "auto", notice=notices.append)
    used = runner.extractor.get_providers()
    assert used == runner.head.get_providers() == ALL[ALL.index(used[0]) :], "a tail of TensorRT, CUDA, CPU, in order"
    assert (notices == [f"vclf: {TENSORRT} did not start; using {used[0]}"]) == (used[0] != TENSORRT)
    frames = clip_frames(bundle)
    on_cpu = Engine(load_bundle(bundle), "cpu").classify_clip(frames)
    np.testing.assert_allclose(runner.classify_clip(frames), on_cpu, atol=1e-3)


@pytest.mark.parametrize(
    "device, gpus, missing, reason",
    [
        ("cuda", 0, (), "no NVIDIA GPU or driver"),
        ("tensorrt", 0, (), "no NVIDIA GPU or driver"),
        ("tensorrt", 1, ["libonnxruntime_providers_tensorrt.so"], "libonnxruntime_providers_tensorrt.so cannot be loaded"),
    ],
)
def test_asking_for_a_gpu_that_cannot_start_is_a_usage_error(monkeypatch, device, gpus, missing, reason):
    machine(monkeypatch, gpus=gpus, missing=missing)
    with pytest.raises(DeviceUnavailableError, match=f"{device}: not available on this machine \\({reason}\\)") as error:
        choose_providers(device)
    assert error.value.exit_code == 2


def test_cpu_is_always_available(monkeypatch, bundle):
    """A CPU-only build on a machine without a GPU or its libraries still runs a bundle: on the CPU, saying nothing."""
    machine(monkeypatch, providers=[CPU], gpus=0, missing=["libonnxruntime_providers_tensorrt.so", "libonnxruntime_providers_cuda.so"])
    assert choose_providers("cpu").providers == [CPU]
    notices = []
    runner = Engine(load_bundle(bundle), "cpu", notice=notices.append)
    assert runner.extractor.get_providers() == runner.head.get_providers() == [CPU] and notices == []
    probabilities = runner.classify_clip(clip_frames(bundle))
    assert probabilities.shape == (len(runner.bundle.labels),) and abs(probabilities.sum() - 1) < 1e-5


def test_tensorrt_keeps_its_engines_in_the_cache_in_the_bundle_precision(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("VCLF_CACHE", str(tmp_path))
    name, options = probing.provider_options(TENSORRT, load_bundle(bundle))
    assert name == TENSORRT and options["trt_engine_cache_enable"]
    assert options["trt_engine_cache_path"].startswith(str(tmp_path)) and not options["trt_fp16_enable"]


def test_a_clip_through_io_binding_matches_the_plain_calls_even_after_a_longer_clip(bundle, dataset):
    loaded = load_bundle(bundle)
    clips = [
        read_clip(dataset / "test" / name, ClipSampling(loaded.sampler, 20, loaded.image_size)).frames
        for name in ("grow_000.avi", "blink_000.avi")
    ]
    runner = Engine(loaded, "cpu")
    runner.classify_clip(clips[0])  # leaves 20 rows of features in the device buffer
    short = clips[1][:7]
    features = runner.extract(short)
    expected = runner.classify(pad_sequence(features, 20)[None], frame_mask(7, 20)[None])[0]
    np.testing.assert_allclose(runner.classify_clip(short), expected, atol=1e-6)


def test_cpu_sessions_keep_one_optimised_graph_per_graph_hash(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("VCLF_CACHE", str(tmp_path))
    loaded = load_bundle(bundle)
    first = Engine(loaded, "cpu")
    cached = sorted((tmp_path / "optimized").iterdir())
    assert [path.name[:32] for path in cached] == sorted(loaded.sha256[name][:32] for name in loaded.sha256)
    frames = np.random.default_rng(0).integers(0, 256, (3, loaded.image_size, loaded.image_size, 3), dtype=np.uint8)
    second = Engine(loaded, "cpu")
    assert sorted((tmp_path / "optimized").iterdir()) == cached
    np.testing.assert_allclose(second.extract(frames), first.extract(frames), rtol=1e-5, atol=1e-9)


def test_an_fp16_bundle_runs_on_the_cpu_with_one_warning(bundle, dataset, tmp_path):
    half = tmp_path / "fp16"
    shutil.copytree(bundle, half)
    convert = "import sys; from vclf.export.precision import convert_fp16; convert_fp16(*sys.argv[1:])"
    run_python(convert, bundle / EXTRACTOR_FILE, half / EXTRACTOR_FILE)  # export's converter, outside this process
    manifest = json.loads((half / "bundle.json").read_text())
    (half / "bundle.json").write_text(json.dumps({**manifest, "precision": "fp16"}))
    write_bundle_json(load_bundle(half, verify=False), half)
    result = run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", half, "--json", "--device", "cpu")
    assert json.loads(result.stdout)["provider"] == CPU
    assert result.stderr.count("fp16") == 1 and "slow" in result.stderr


def test_json_records_and_verbose_output_name_the_provider_and_the_onnx_runtime_build(bundle, dataset):
    result = run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", bundle, "--json", "--verbose")
    assert json.loads(result.stdout)["provider"] == CPU
    assert f"provider {CPU}" in result.stderr and "grow_000.avi" in result.stderr
    build = metadata.packages_distributions()["onnxruntime"][0]  # onnxruntime-gpu here (pyproject's markers)
    assert f"ONNX Runtime {build} {ort.__version__} (" in result.stderr


@pytest.mark.parametrize("gpus, preloads", [(1, 1), (0, 0)], ids=["gpu", "no-gpu"])
def test_gpu_probe_preloads_pip_cuda_libraries_once_where_a_gpu_is_and_prints_nothing(monkeypatch, capsys, gpus, preloads):
    machine(monkeypatch, gpus=gpus)
    calls = []

    def preload_dlls():
        calls.append(1)
        print("Failed to load libcublas.so.13")  # what onnxruntime prints for a library it does not find

    monkeypatch.setattr(ort, "preload_dlls", preload_dlls, raising=False)
    probing.preload_cuda_libraries.cache_clear()
    try:
        choose_providers("auto")
        choose_providers("auto")
    finally:
        probing.preload_cuda_libraries.cache_clear()
    assert len(calls) == preloads
    assert capsys.readouterr().out == ""


def test_sessions_take_the_threads_asked_for_built_or_cached_and_give_the_same_features(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("VCLF_CACHE", str(tmp_path))
    loaded = load_bundle(bundle)
    frames = np.random.default_rng(1).integers(0, 256, (2, loaded.image_size, loaded.image_size, 3), dtype=np.uint8)
    default = Engine(loaded, "cpu")  # builds the cache entries
    for threads in (1, 3):
        engine = Engine(loaded, "cpu", threads=threads)  # from the cache
        assert engine.extractor.get_session_options().intra_op_num_threads == threads
        assert engine.head.get_session_options().intra_op_num_threads == threads
        np.testing.assert_allclose(engine.extract(frames), default.extract(frames), rtol=1e-5, atol=1e-9)
    assert default.extractor.get_session_options().intra_op_num_threads == 0  # ONNX Runtime's default
    monkeypatch.setenv("VCLF_CACHE", str(tmp_path / "none-yet"))
    assert Engine(loaded, "cpu", threads=1).extractor.get_session_options().intra_op_num_threads == 1
