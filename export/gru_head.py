"""The sequence model as an ONNX graph of native ``GRU`` ops, written from the Keras weights.

tf2onnx turns each masked Keras GRU into a generic ``Loop``; ONNX Runtime
runs the native ``GRU`` op as one fused kernel (measured: 0.11 ms against
1.3 ms per clip for the Loop graph, best of 200 on a 2-core AVX2 CPU; see
benchmarks/test_precision.py). Keras' GRU (``reset_after``,
the default) is ONNX's ``linear_before_reset=1`` with the same gate order
(update, reset, candidate). The mask becomes ``sequence_lens = mask.sum(1)``:
that is exact because clips are back-padded, so the valid frames always lead
(a mask with holes in the middle would be read as its count of leading
frames). Past a clip's length the first GRU emits zeros and the second GRU's
final state is its state at the last valid frame, as Keras' masking gives.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vclf.train.keras_import import keras
from vclf.train.model import Standardize

from .convert import OPSET

IR_VERSION = 8  # what opset 17 needs; newer onnx writes versions older onnxruntime cannot read


def gru_weights(layer: keras.layers.GRU, prefix: str) -> list[onnx.TensorProto]:
    """W ``[1, 3H, in]``, R ``[1, 3H, H]`` and B ``[1, 6H]`` from a Keras GRU with ``reset_after``."""
    if not layer.cell.reset_after:
        raise ValueError(f"{layer.name}: only reset_after GRUs map to linear_before_reset")
    kernel, recurrent, bias = (np.asarray(w) for w in layer.get_weights())
    return [
        numpy_helper.from_array(kernel.T[None].astype(np.float32), f"{prefix}_W"),
        numpy_helper.from_array(recurrent.T[None].astype(np.float32), f"{prefix}_R"),
        numpy_helper.from_array(bias.reshape(1, -1).astype(np.float32), f"{prefix}_B"),
    ]


def build_gru_head(model: keras.Model, sequence_length: int, feature_size: int, opset: int) -> onnx.ModelProto:
    """``features`` ``[B, T, F]`` and ``mask`` ``[B, T]`` → ``probabilities`` ``[B, C]``."""
    layers = {type(layer).__name__: [] for layer in model.layers}
    for layer in model.layers:
        layers[type(layer).__name__].append(layer)
    first, second = layers["GRU"]
    hidden, dense = layers["Dense"]
    classes = dense.units
    initializers = [*gru_weights(first, "gru1"), *gru_weights(second, "gru2")]
    nodes = []
    x = "features"
    if "Standardize" in layers:
        norm: Standardize = layers["Standardize"][0]
        initializers += [
            numpy_helper.from_array(np.asarray(norm.mean, np.float32), "mean"),
            numpy_helper.from_array(np.asarray(norm.std, np.float32), "std"),
        ]
        nodes += [helper.make_node("Sub", [x, "mean"], ["centred"]), helper.make_node("Div", ["centred", "std"], ["scaled"])]
        x = "scaled"
    initializers += [
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
    ]
    for name, dense_layer in (("dense1", hidden), ("dense2", dense)):
        kernel, bias = (np.asarray(w, np.float32) for w in dense_layer.get_weights())
        initializers += [numpy_helper.from_array(kernel, f"{name}_W"), numpy_helper.from_array(bias, f"{name}_B")]
    nodes += [
        helper.make_node("Cast", ["mask"], ["mask_int"], to=TensorProto.INT32),
        helper.make_node("ReduceSum", ["mask_int", "axis1"], ["lengths"], keepdims=0),
        helper.make_node("Transpose", [x], ["time_major"], perm=[1, 0, 2]),
        helper.make_node(
            "GRU",
            ["time_major", "gru1_W", "gru1_R", "gru1_B", "lengths"],
            ["gru1_Y"],
            hidden_size=first.units,
            linear_before_reset=1,
        ),
        helper.make_node("Squeeze", ["gru1_Y", "axis1"], ["gru1_seq"]),
        helper.make_node(
            "GRU",
            ["gru1_seq", "gru2_W", "gru2_R", "gru2_B", "lengths"],
            ["", "gru2_last"],
            hidden_size=second.units,
            linear_before_reset=1,
        ),
        helper.make_node("Squeeze", ["gru2_last", "axis0"], ["state"]),
        helper.make_node("MatMul", ["state", "dense1_W"], ["dense1_mm"]),
        helper.make_node("Add", ["dense1_mm", "dense1_B"], ["dense1_pre"]),
        helper.make_node("Relu", ["dense1_pre"], ["dense1_out"]),
        helper.make_node("MatMul", ["dense1_out", "dense2_W"], ["dense2_mm"]),
        helper.make_node("Add", ["dense2_mm", "dense2_B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "sequence_model",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", sequence_length, feature_size]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["B", sequence_length]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["B", classes])],
        initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="vclf")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto


def convert_gru_head(model: keras.Model, sequence_length: int, feature_size: int, path: Path, opset: int = OPSET) -> None:
    """Write the head as native GRU ops; same inputs and outputs as the tf2onnx head."""
    onnx.save(build_gru_head(model, sequence_length, feature_size, opset), str(path))
