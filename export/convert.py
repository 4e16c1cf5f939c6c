"""Keras → ONNX for the two graphs of a bundle, through tf2onnx."""

import logging
from pathlib import Path

import onnx
import tf2onnx

from vclf.train.keras_import import keras
from vclf.train.keras_import import tensorflow as tf

OPSET = 17

logging.getLogger("tf2onnx").setLevel(logging.ERROR)


def uint8_extractor(extractor: keras.Model, image_size: int) -> keras.Model:
    """The run's extractor behind a uint8 input, so the graph takes decoded frames as they are."""
    frames = keras.Input((image_size, image_size, 3), dtype="uint8", name="frames")
    features = extractor(keras.ops.cast(frames, "float32"))
    return keras.Model(frames, features, name="extractor")


def convert_extractor(extractor: keras.Model, image_size: int, path: Path, opset: int = OPSET) -> None:
    """``frames`` uint8 ``[N, S, S, 3]`` → ``features`` float32 ``[N, F]``."""
    model = uint8_extractor(extractor, image_size)
    signature = (tf.TensorSpec((None, image_size, image_size, 3), tf.uint8, name="frames"),)

    normalizations = [layer for layer in nested_layers(model) if isinstance(layer, keras.layers.Normalization)]

    @tf.function(input_signature=signature)
    def graph(frames):
        # Normalization keeps its statistics as tensors made outside any graph, which tf2onnx
        # would leave as graph inputs; made again while tracing, they become constants.
        for layer in normalizations:
            layer.finalize_state()
        return {"features": model(frames, training=False)}

    try:
        _convert(graph, signature, path, opset, {"frames": ["N"], "features": ["N"]})
    finally:
        for layer in normalizations:  # eager tensors again, for the Keras side of the parity check
            layer.finalize_state()


def nested_layers(model: keras.Model):
    """Every layer of ``model``, inside nested models too."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from nested_layers(layer)


def convert_head(model: keras.Model, sequence_length: int, feature_size: int, path: Path, opset: int = OPSET) -> None:
    """``features`` float32 ``[B, T, F]`` and ``mask`` bool ``[B, T]`` → ``probabilities`` ``[B, C]``."""
    signature = (
        tf.TensorSpec((None, sequence_length, feature_size), tf.float32, name="features"),
        tf.TensorSpec((None, sequence_length), tf.bool, name="mask"),
    )

    @tf.function(input_signature=signature)
    def graph(features, mask):
        return {"probabilities": model([features, mask], training=False)}

    _convert(graph, signature, path, opset, {"features": ["B"], "mask": ["B"], "probabilities": ["B"]})


def _convert(graph, signature, path: Path, opset: int, dynamic: dict[str, list[str]]) -> None:
    proto, _ = tf2onnx.convert.from_function(graph, input_signature=signature, opset=opset)
    for value in (*proto.graph.input, *proto.graph.output):
        names = dynamic.get(value.name, [])
        dims = [d for d in value.type.tensor_type.shape.dim if d.dim_param]
        for dim, name in zip(dims, names):
            dim.dim_param = name
    onnx.save(proto, str(path))
