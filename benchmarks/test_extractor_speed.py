"""Extractor: one clip's sampled frames (20 at 224x224 in the full run) through each runtime.

Rows: Keras ``predict`` one frame at a time (the Keras example), Keras on the
batch, ONNX Runtime fp32 and int8 on the CPU, ONNX Runtime on CUDA and
TensorRT when a GPU provider really starts here, and LiteRT (XNNPACK) fp32
and int8 converted from the same Keras model (quick mode converts fp32
only). Every row's features are checked against Keras batched; GFLOP/s
counts the graph's convolutions.

Asserted (full run only): ONNX Runtime int8 frames/s at least 1.8x fp32
where the CPU has AVX-512 VNNI, 1.5x elsewhere (AVX2: uint8 by int8 products
summed in pairs, without VNNI's one-instruction dot product).
"""

import numpy as np
import pytest

from checks import same_features
from keras_example import prepare_single_video
from lite_models import LiteExtractor
from measure import FASTEST, KERAS, Row, cpu_flags, measure
from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import CUDA, TENSORRT, Engine, choose_providers, provider_problem

ROUNDS = 10
GPU_DEVICES = [device for device, provider in (("cuda", CUDA), ("tensorrt", TENSORRT)) if provider_problem(provider) is None]
GPU_ROWS = [(device, precision) for device in GPU_DEVICES for precision in ("fp32", "fp16")]


def extractor_row(clip, gflop_per_frame, variant: str, provider: str, precision: str, example: bool = False) -> Row:
    frames = len(clip.frames)
    return Row(variant, provider, precision, "frames", frames, gflop_per_frame * frames, example)


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


@pytest.mark.ratio
def test_onnx_runtime_int8_extractor_beats_fp32_as_the_cpu_allows():
    target = 1.8 if "avx512_vnni" in cpu_flags() else 1.5
    ratio = FASTEST["ONNX Runtime fp32 cpu"] / FASTEST["ONNX Runtime int8 cpu"]
    assert ratio >= target, f"int8 only {ratio:.2f}x fp32 (target {target}x on this CPU)"
