"""The sequence model of the Keras example, with optional feature standardisation."""

import numpy as np

from vclf.runtime.sampling import SEQUENCE_LENGTH

from .backbones import BACKBONES, DEFAULT_BACKBONE
from .keras_import import keras


@keras.saving.register_keras_serializable(package="vclf")
class Standardize(keras.layers.Layer):
    """``(x - mean) / std`` per feature, with statistics fixed from the training set.

    The statistics are layer weights, so they are saved with the model's
    weights and exported inside the head graph.
    """

    def build(self, input_shape):
        size = input_shape[-1]
        self.mean = self.add_weight(shape=(size,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(size,), initializer="ones", trainable=False, name="std")

    def call(self, inputs):
        return (inputs - self.mean) / self.std

    def set_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean.assign(mean.astype(np.float32))
        self.std.assign(std.astype(np.float32))


def feature_statistics(features: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation over real (unmasked) frames.

    A feature that never varies gets std 1, so it passes through centred.
    """
    frames = features[mask]
    mean = frames.mean(axis=0)
    std = frames.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def build_sequence_model(
    num_classes: int,
    sequence_length: int = SEQUENCE_LENGTH,
    feature_size: int = BACKBONES[DEFAULT_BACKBONE].feature_size,
    standardize: bool = False,
) -> keras.Model:
    """GRU(16) → GRU(8) → Dropout(0.4) → Dense(8, relu) → Dense(classes, softmax), masked; uncompiled."""
    frame_features_input = keras.Input((sequence_length, feature_size), name="features")
    mask_input = keras.Input((sequence_length,), dtype="bool", name="mask")
    x = Standardize(name="standardize")(frame_features_input) if standardize else frame_features_input
    x = keras.layers.GRU(16, return_sequences=True)(x, mask=mask_input)
    x = keras.layers.GRU(8)(x)
    x = keras.layers.Dropout(0.4)(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    output = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model([frame_features_input, mask_input], output, name="sequence_model")
