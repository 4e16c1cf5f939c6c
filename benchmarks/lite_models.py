"""The extractor in TensorFlow Lite (LiteRT), converted from the same Keras model, run by ``ai-edge-litert`` with XNNPACK.

fp32 is the plain conversion. int8 is full integer quantization: weights and
activations in int8, ranges calibrated on the frames ONNX Runtime's int8 is
calibrated on; input and output stay float, as the Keras model's.
"""

import os
from pathlib import Path

import numpy as np


def convert_extractor(extractor, precision: str, calibration_frames: np.ndarray, path: Path) -> None:
    """Write ``extractor`` (float RGB frames in [0, 255] → features) as a ``.tflite`` file."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(extractor)
    if precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([frame[None].astype(np.float32)] for frame in calibration_frames)
    path.write_bytes(converter.convert())


class LiteExtractor:
    """A ``.tflite`` extractor for batches of ``batch`` frames, on every core."""

    def __init__(self, path: Path, batch: int):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        size = self.interpreter.get_input_details()[0]["shape"][1]
        self.interpreter.resize_tensor_input(self.input, [batch, size, size, 3])
        self.interpreter.allocate_tensors()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input, frames.astype(np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)
