"""Backbones from one table: pixels scaled once, every one exported with parity and int8, usage checked.

InceptionV3's export, parity and int8 guard go through the session fixtures
(``trained_run``, ``bundle``, ``int8_bundle``); every other backbone runs
export's own steps here at 32 px, its smallest, with random weights. The
whole path (fit, bundle, runtime) for another backbone is in ``test_sweep``.
"""

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from vclf.export.convert import convert_extractor
from vclf.export.guard import RAW_MIN_COSINE, feature_cosines
from vclf.export.parity import EXTRACTOR_TOLERANCE, extractor_parity
from vclf.export.precision import quantize_int8
from vclf.runtime.graph_cache import create_session
from vclf.runtime.providers import CPU
from vclf.runtime.sampling import ClipSampling
from vclf.runtime.video import read_clip
from vclf.train.backbones import BACKBONES
from vclf.train.cli import main as train_main
from vclf.train.features import build_feature_extractor, extractor_identity

OTHER_BACKBONES = [name for name in BACKBONES if name != "inception_v3"]
SIZE, LENGTH = 32, 4

# What the first convolution of each backbone sees for pixels 0 and 255 with random
# weights: scaled once, by preprocess_input or by the backbone's own layers.
FIRST_CONVOLUTION_RANGE = {
    "inception_v3": (-1.0, 1.0),  # x / 127.5 - 1
    "mobilenet_v3_small": (-1.0, 1.0),  # its Rescaling layer (include_preprocessing)
    "mobilenet_v3_large": (-1.0, 1.0),
    "efficientnet_b0": (0.0, 1.0),  # its Rescaling(1/255); Normalization is identity until ImageNet weights
    "resnet50": (-123.68, 255 - 103.939),  # caffe: BGR minus the ImageNet mean
    "efficientnet_lite0": (-127 / 128, 1.0),  # (x - 127) / 128, the TensorFlow Lite checkpoints' scaling
}


def first_convolution_range(extractor: keras.Model, backbone: str) -> tuple[float, float]:
    """Least and greatest value the backbone's first convolution sees for black and white frames."""
    size = extractor.input_shape[1]
    core = extractor.get_layer(backbone)
    convolution = next(layer for layer in core.layers if isinstance(layer, keras.layers.Conv2D))
    before_convolution = keras.Model(core.inputs, convolution.input)
    frames = np.zeros((2, size, size, 3), np.float32)
    frames[1] = 255
    preprocessed = extractor.get_layer("preprocess_input")(keras.ops.convert_to_tensor(frames))
    seen = keras.ops.convert_to_numpy(before_convolution(preprocessed))
    return float(seen.min()), float(seen.max())


def test_inception_v3_scales_pixels_once_before_its_first_convolution():
    extractor = build_feature_extractor(None, BACKBONES["inception_v3"].min_image_size, "inception_v3")
    assert first_convolution_range(extractor, "inception_v3") == pytest.approx(FIRST_CONVOLUTION_RANGE["inception_v3"])


@pytest.mark.parametrize("backbone", OTHER_BACKBONES)
def test_every_backbone_scales_pixels_once_and_exports_with_parity_and_int8_cosine(backbone, tiny_dataset, tmp_path):
    """The export's own steps on each backbone's random extractor: convert, parity against Keras, int8, cosine."""
    keras.utils.set_random_seed(0)
    extractor = build_feature_extractor(None, SIZE, backbone)
    assert first_convolution_range(extractor, backbone) == pytest.approx(FIRST_CONVOLUTION_RANGE[backbone], rel=1e-5)
    assert extractor.output_shape == (None, BACKBONES[backbone].feature_size)
    assert extractor_identity(extractor)["backbone"] == backbone, "the feature cache keys on the backbone"
    clips = sorted((tiny_dataset / "test").glob("*.avi"))
    frames = np.concatenate([read_clip(path, ClipSampling("uniform", LENGTH, SIZE)).frames for path in clips])
    fp32, int8 = tmp_path / "extractor.onnx", tmp_path / "extractor.int8.onnx"
    convert_extractor(extractor, SIZE, fp32)
    report = extractor_parity(extractor, create_session(fp32, [CPU]), frames)
    assert report.difference <= EXTRACTOR_TOLERANCE and report.samples == len(frames)
    quantize_int8(fp32, int8, frames, BACKBONES[backbone].int8_float_convolutions)
    int8_features = create_session(int8, [CPU]).run(None, {"frames": frames})[0]
    cosines = feature_cosines(np.asarray(extractor.predict_on_batch(frames.astype(np.float32))), int8_features)
    assert cosines.mean() >= RAW_MIN_COSINE, cosines


@pytest.mark.parametrize(
    "backbone, size, smallest",
    [("inception_v3", 74, 75), ("mobilenet_v3_small", 31, 32), ("resnet50", 16, 32)],
)
def test_an_image_size_below_the_backbones_smallest_is_a_usage_error(backbone, size, smallest, tmp_path):
    args = ["fit", str(tmp_path), "--out", str(tmp_path / "run"), "--backbone", backbone, "--image-size", str(size)]
    result = CliRunner().invoke(train_main, args)
    assert result.exit_code == 2
    assert f"--image-size {size}: {backbone} takes frames of at least {smallest} px" in result.stderr
    assert not (tmp_path / "run").exists()


def test_an_unknown_backbone_or_empty_sequence_is_a_usage_error(tmp_path):
    for extra in (["--backbone", "vgg16"], ["--seq-len", "0"]):
        result = CliRunner().invoke(train_main, ["fit", str(tmp_path), "--out", str(tmp_path / "run"), *extra])
        assert result.exit_code == 2, extra
    assert not (tmp_path / "run").exists()
