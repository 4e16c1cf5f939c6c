"""Reduced-precision extractors: int8 for CPUs, fp16 for GPUs. The head always stays fp32.

int8 is ONNX Runtime static quantization: the graph is pre-processed (shape
inference, constant folding), activation ranges come from MinMax calibration
on real frames, and QuantizeLinear/DequantizeLinear pairs (QDQ) with
per-channel int8 weights go around each convolution. Weights use 7 of their
8 bits (``reduce_range``): x86 CPUs without VNNI multiply uint8 by int8 in
pairs summed into int16, which saturates with full-range weights; measured
on the synthetic set, mean feature cosine 0.99980 against 0.99934 and top-1
agreement 1.0 against 0.975 over 40 test clips. The final pooling to
features stays float: quantized, it would round every feature to one of 256
levels across the whole feature range (measured: top-1 agreement 0.90
against 0.975 left float, before ``reduce_range``). A backbone can keep its
first convolutions float too (``int8_float_convolutions`` in its row):
EfficientNet-Lite0's ImageNet weights, quantized whole, give features of
raw cosine 0.876 against fp32 on the frames of 8 synthetic test clips at 224 px; with the stem
and block 0 (3 convolutions, about 5% of its multiply-adds) left float,
0.981.

fp16 converts weights and arithmetic to half precision while the graph keeps
its uint8 input and float32 output, so the runtime feeds it as the fp32 graph.
"""

import tempfile
from pathlib import Path

import numpy as np

CALIBRATION_FRAMES = 128
CALIBRATION_FRAMES_PER_CLIP = 4
CALIBRATION_BATCH = 8
FLOAT_TAIL = ("GlobalAveragePool", "Squeeze")  # pooled features → output


class FrameReader:
    """Feeds calibration frames to the quantizer in small batches (a ``CalibrationDataReader``: it has ``get_next``).

    ONNX and its quantizer are imported by the functions that use them, so
    ``vclf-export --help`` reads these defaults without loading them.
    """

    def __init__(self, frames: np.ndarray):
        self._batches = iter(np.array_split(frames, max(1, len(frames) // CALIBRATION_BATCH)))

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return None if batch is None else {"frames": batch}


def quantize_int8(fp32_path: Path, out_path: Path, calibration_frames: np.ndarray, float_convolutions: int = 0) -> None:
    """Static QDQ int8 extractor from the fp32 graph, calibrated on uint8 frames ``[N, S, S, 3]``;
    the first ``float_convolutions`` convolutions of the graph stay float."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=out_path.parent) as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared))
        nodes = onnx.load(str(prepared)).graph.node
        pooling = [node.name for node in nodes if node.op_type in FLOAT_TAIL]
        leading = [node.name for node in nodes if node.op_type == "Conv"][:float_convolutions]
        quantize_static(
            str(prepared),
            str(out_path),
            FrameReader(calibration_frames),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=True,
            nodes_to_exclude=pooling + leading,
        )


def convert_fp16(fp32_path: Path, out_path: Path) -> None:
    """Half-precision extractor that still takes uint8 frames and gives float32 features."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(model, str(out_path))
