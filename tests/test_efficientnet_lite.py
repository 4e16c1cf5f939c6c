"""EfficientNet-Lite0 with its ImageNet checkpoint: real photos ranked as ImageNet does, the input scaling
measured, the checkpoint read by a restricted unpickler that runs nothing and uses every tensor once.

The photos are scikit-image's (``skimage.data``), prepared as ImageNet
evaluation does: short side 256, centre crop 224.
"""

import pickle

import cv2
import keras
import numpy as np
import pytest
import skimage.data
from support.commands import run_command

from vclf.runtime.errors import BadModelError
from vclf.train import efficientnet_lite
from vclf.train.features import build_feature_extractor
from vclf.train.pth import MAGIC_NUMBER, PROTOCOL_VERSION, PthError, read_state_dict

# ImageNet class indices each photo may rank in its top 5.
PHOTOS = {
    "chelsea": (skimage.data.chelsea, {281, 282, 285}),  # tabby, tiger cat, Egyptian cat
    "coffee": (skimage.data.coffee, {967, 968, 504}),  # espresso, cup, coffee mug
    "rocket": (skimage.data.rocket, {812, 657, 744}),  # space shuttle, missile, projectile
    "motorcycle": (lambda: skimage.data.stereo_motorcycle()[0], {670, 665}),  # motor scooter, moped
}
# The scaling PyTorch's ImageNet models usually take, the alternative the statistics test rules out.
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255


def imagenet_crop(image: np.ndarray) -> np.ndarray:
    """Short side to 256, then the centre 224 x 224: ImageNet's evaluation crop."""
    height, width = image.shape[:2]
    scale = 256 / min(height, width)
    resized = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    top, left = (resized.shape[0] - 224) // 2, (resized.shape[1] - 224) // 2
    return resized[top : top + 224, left : left + 224]


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.stack([imagenet_crop(load()[..., :3]) for load, _ in PHOTOS.values()]).astype(np.float32)


@pytest.fixture(scope="module")
def checkpoint() -> dict[str, np.ndarray]:
    return read_state_dict(efficientnet_lite.installed_checkpoint())


def test_imagenet_efficientnet_lite0_ranks_real_photos_as_imagenet_does(photos, checkpoint):
    """The extractor ``--weights imagenet`` builds, with the checkpoint's own classifier on its features."""
    extractor = build_feature_extractor("imagenet", 224, "efficientnet_lite0")
    features = np.asarray(extractor.predict_on_batch(photos))
    logits = features @ checkpoint["_fc.weight"].T + checkpoint["_fc.bias"]
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    for (name, (_, expected)), row in zip(PHOTOS.items(), probabilities):
        top5 = np.argsort(row)[::-1][:5]
        ranked = ", ".join(f"{i} {row[i]:.3f}" for i in top5)
        print(f"{name}: {ranked}")
        assert expected & set(top5.tolist()), f"{name}: top 5 {ranked}, none of {sorted(expected)}"


def stem_variance_ratio(stem: keras.layers.Layer, pixels: np.ndarray, running_var: np.ndarray) -> float:
    """The stem convolution's output variance on ``pixels``, summed over channels, over the stored variance's sum
    (summed: some channels are dead, stored variance 0)."""
    output = keras.ops.convert_to_numpy(stem(keras.ops.convert_to_tensor(pixels.astype(np.float32))))
    return float(output.reshape(-1, output.shape[-1]).var(0).sum() / running_var.sum())


def test_the_stem_batch_norm_statistics_say_the_checkpoint_takes_pixels_scaled_as_x_minus_127_over_128(photos, checkpoint):
    """Batch norm stored the variance its stem saw in training: the scaling baked into the graph comes
    near it on real photos, ImageNet mean/std (what PyTorch models usually take) does not."""
    model = efficientnet_lite.EfficientNetLite0(input_shape=(224, 224, 3))
    efficientnet_lite.load_checkpoint(model, efficientnet_lite.installed_checkpoint())
    stem, running_var = model.get_layer("conv_stem"), checkpoint["_bn0.running_var"]
    baked = stem_variance_ratio(stem, keras.ops.convert_to_numpy(efficientnet_lite.preprocess_input(photos)), running_var)
    mean_std = stem_variance_ratio(stem, (photos - IMAGENET_MEAN) / IMAGENET_STD, running_var)
    print(f"stem variance / running_var: (x - 127) / 128 {baked:.2f}, ImageNet mean/std {mean_std:.2f}")
    assert 0.5 < baked < 1.5, baked
    assert abs(np.log(mean_std)) > 2 * abs(np.log(baked)), (baked, mean_std)
    batches = [value for name, value in checkpoint.items() if name.endswith("num_batches_tracked")]
    assert len(batches) == 49 and not any(batches), "converted from TensorFlow: no PyTorch training steps"


def test_the_checkpoint_is_read_whole_with_every_tensor_in_its_place(checkpoint):
    assert len(checkpoint) == 296
    assert sum(value.size for value in checkpoint.values()) == 4_694_073
    assert checkpoint["_conv_stem.weight"].shape == (32, 3, 3, 3) and checkpoint["_fc.weight"].shape == (1000, 1280)
    model = efficientnet_lite.EfficientNetLite0(input_shape=(224, 224, 3))
    efficientnet_lite.load_checkpoint(model, efficientnet_lite.installed_checkpoint())
    depthwise = model.get_layer("blocks_5_depthwise_conv").weights[0].numpy()
    assert np.array_equal(depthwise[:, :, 7, 0], checkpoint["_blocks.5._depthwise_conv.weight"][7, 0])
    project = model.get_layer("blocks_5_project_conv").weights[0].numpy()
    assert np.array_equal(project[0, 0], checkpoint["_blocks.5._project_conv.weight"][:, :, 0, 0].T)


def legacy_file(tmp_path, main_pickle: bytes):
    """A legacy ``.pth`` whose header is real and whose state dict is ``main_pickle``."""
    path = tmp_path / "model.pth"
    info = {"protocol_version": PROTOCOL_VERSION, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    path.write_bytes(b"".join(pickle.dumps(value, protocol=2) for value in (MAGIC_NUMBER, PROTOCOL_VERSION, info)) + main_pickle)
    return path


def test_a_pickle_naming_os_system_is_refused_with_exit_4_and_runs_nothing(tiny_dataset, tmp_path):
    marker = tmp_path / "ran"
    evil = legacy_file(tmp_path, b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(PthError, match="os.system"):
        read_state_dict(evil)
    result = run_command(
        "vclf-train",
        "fit",
        tiny_dataset,
        "--out",
        tmp_path / "run",
        "--backbone",
        "efficientnet_lite0",
        "--weights",
        evil,
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--no-cache",
        check=False,
    )
    assert result.returncode == 4, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert str(evil) in last_line and "os.system" in last_line and "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_checkpoint_missing_a_tensor_is_refused_naming_it(tmp_path):
    raw = efficientnet_lite.installed_checkpoint().read_bytes()
    renamed = tmp_path / "renamed.pth"
    renamed.write_bytes(raw.replace(b"_conv_head.weight", b"_conv_heax.weight", 1))
    with pytest.raises(BadModelError, match=r"missing tensor _conv_head\.weight"):
        efficientnet_lite.load_checkpoint(efficientnet_lite.EfficientNetLite0(input_shape=(32, 32, 3)), renamed)


def test_a_checkpoint_with_a_tensor_left_over_is_refused_naming_it(monkeypatch, checkpoint):
    extra = {**checkpoint, "_blocks.16._bn0.weight": np.ones(8, np.float32)}
    monkeypatch.setattr(efficientnet_lite, "read_state_dict", lambda path: dict(extra))
    with pytest.raises(BadModelError, match=r"left over.*_blocks\.16\._bn0\.weight"):
        efficientnet_lite.load_checkpoint(efficientnet_lite.EfficientNetLite0(input_shape=(32, 32, 3)), "model.pth")


def test_an_installed_checkpoint_that_is_not_the_pinned_one_is_refused(monkeypatch):
    monkeypatch.setattr(efficientnet_lite, "CHECKPOINT_SHA256", "0" * 64)
    with pytest.raises(BadModelError, match="not the pinned"):
        efficientnet_lite.installed_checkpoint()
