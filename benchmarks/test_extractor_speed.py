"""Extractor: one clip's sampled frames (20 at 224x224 in the full run) through each runtime.

Rows: Keras ``predict`` one frame at a time (the Keras example), Keras on the
batch, ONNX Runtime fp32 and int8 on the CPU, ONNX Runtime on CUDA and
TensorRT when a GPU provider really starts here, and LiteRT (XNNPACK) fp32
and int8 converted from the same Keras model (quick mode converts fp32
only). Then the same frames through another network, EfficientNet-Lite0
with its ImageNet weights (the edge backbone): ONNX Runtime fp32 and int8
as export writes them, LiteRT fp32 and int8 (quick mode: LiteRT fp32 only,
one conversion). Every row's features are checked against Keras batched
(its own network's); GFLOP/s counts the graph's convolutions.

Asserted (full run only): ONNX Runtime int8 frames/s at least 1.8x fp32
where the CPU has AVX-512 VNNI, 1.5x elsewhere (AVX2: uint8 by int8 products
summed in pairs, without VNNI's one-instruction dot product).
"""

import numpy as np
import pytest
from checks import same_features
from keras_example import prepare_single_video
from lite_models import LiteExtractor
from measure import FASTEST, KERAS, Row, cpu_flags, graph_gflop, measure

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.graph_cache import create_session
from vclf.runtime.providers import CPU, CUDA, TENSORRT, choose_providers, provider_problem

ROUNDS = 10
GPU_DEVICES = [device for device, provider in (("cuda", CUDA), ("tensorrt", TENSORRT)) if provider_problem(provider) is None]
LITE0_ROWS = "EfficientNet-Lite0 ImageNet"  # its rows' names: another network on the same frames
# Pretrained Lite0's raw features lose more to int8 than random weights do (the guard judges bundles in the
# head's space instead). Lowest frame cosine with Keras, measured on the full run's clip at 224 px (and on
# another synthetic clip at 112): ONNX Runtime int8, stem and block 0 float as export quantizes it, 0.985
# (0.955); LiteRT int8, every layer, 0.900 (0.923).
LITE0_INT8_MIN_COSINE = 0.85
GPU_ROWS = [(device, precision) for device in GPU_DEVICES for precision in ("fp32", "fp16")]


def extractor_row(clip, gflop_per_frame: float | None, variant: str, provider: str, precision: str, example: bool = False) -> Row:
    frames = len(clip.frames)
    return Row(variant, provider, precision, "frames", frames, None if gflop_per_frame is None else gflop_per_frame * frames, example)


@pytest.mark.benchmark(group="extractor")
def test_keras_per_frame_predict(benchmark, keras_models, clip, gflop_per_frame, sgemm):
    def load():
        length, size = clip.features.shape
        return lambda: prepare_single_video(clip.frames, keras_models.extractor, length, size)[0][0]

    row = extractor_row(clip, gflop_per_frame, "Keras predict per frame (the example)", KERAS, "fp32", example=True)
    measure(benchmark, row, load, same_features(clip.features, "fp32"), ROUNDS // 2, sgemm)


@pytest.mark.benchmark(group="extractor")
def test_keras_batched(benchmark, keras_models, clip, gflop_per_frame, sgemm):
    def load():
        frames = clip.frames.astype(np.float32)
        return lambda: keras_models.extractor.predict_on_batch(frames)

    row = extractor_row(clip, gflop_per_frame, "Keras predict_on_batch", KERAS, "fp32")
    measure(benchmark, row, load, same_features(clip.features, "fp32"), ROUNDS, sgemm)


@pytest.mark.benchmark(group="extractor")
@pytest.mark.parametrize("device, precision", [("cpu", "fp32"), ("cpu", "int8"), *GPU_ROWS])
def test_onnx_runtime(benchmark, bundles, clip, gflop_per_frame, sgemm, request, device, precision):
    def load():
        engine = Engine(load_bundle(folder), device)
        return lambda: engine.extract(clip.frames)

    folder = bundles[precision] if precision in bundles else request.getfixturevalue("fp16_bundle")
    provider = choose_providers(device).providers[0]
    row = extractor_row(clip, gflop_per_frame, f"ONNX Runtime {precision} {device}", provider, precision)
    measure(benchmark, row, load, same_features(clip.features, precision), ROUNDS, sgemm)


@pytest.mark.benchmark(group="extractor")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_litert(benchmark, lite_model, clip, gflop_per_frame, sgemm, quick, precision):
    if quick and precision == "int8":
        pytest.skip("quick mode leaves out the LiteRT int8 conversion (about a minute); make bench runs it")

    def load():
        extractor = LiteExtractor(lite_model(precision), len(clip.frames))
        return lambda: extractor(clip.frames)

    row = extractor_row(clip, gflop_per_frame, f"LiteRT {precision}", "LiteRT XNNPACK CPU", precision)
    measure(benchmark, row, load, same_features(clip.features, precision), ROUNDS, sgemm)


@pytest.mark.benchmark(group="extractor")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_runtime_lite0(benchmark, lite0, clip, sgemm, quick, precision):
    if quick:
        pytest.skip("quick mode converts one EfficientNet-Lite0 graph, to LiteRT fp32; make bench runs these")

    def load():
        session = create_session(lite0.onnx(precision), [CPU])
        return lambda: session.run(None, {"frames": clip.frames})[0]

    row = extractor_row(clip, graph_gflop(lite0.onnx("fp32")), f"ONNX Runtime {precision} cpu, {LITE0_ROWS}", CPU, precision)
    measure(benchmark, row, load, same_features(lite0.features, precision, LITE0_INT8_MIN_COSINE), ROUNDS, sgemm)


@pytest.mark.benchmark(group="extractor")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_litert_lite0(benchmark, lite0, clip, sgemm, quick, precision):
    if quick and precision == "int8":
        pytest.skip("quick mode converts one EfficientNet-Lite0 graph, to LiteRT fp32; make bench runs int8")

    def load():
        extractor = LiteExtractor(lite0.litert(precision), len(clip.frames))
        return lambda: extractor(clip.frames)

    gflop = None if quick else graph_gflop(lite0.onnx("fp32"))  # quick mode times nothing and converts no ONNX graph
    row = extractor_row(clip, gflop, f"LiteRT {precision}, {LITE0_ROWS}", "LiteRT XNNPACK CPU", precision)
    measure(benchmark, row, load, same_features(lite0.features, precision, LITE0_INT8_MIN_COSINE), ROUNDS, sgemm)


@pytest.mark.ratio
def test_onnx_runtime_int8_extractor_beats_fp32_as_the_cpu_allows():
    target = 1.8 if "avx512_vnni" in cpu_flags() else 1.5
    ratio = FASTEST["ONNX Runtime fp32 cpu"] / FASTEST["ONNX Runtime int8 cpu"]
    assert ratio >= target, f"int8 only {ratio:.2f}x fp32 (target {target}x on this CPU)"
