"""Where a backbone's weights come from: a local file, Keras' download, or nowhere (random)."""

import http.server
import threading
from dataclasses import replace

import keras
import numpy as np
import pytest

from vclf.runtime.errors import BadInputError, SourceUnavailableError
from vclf.train.backbones import BACKBONES
from vclf.train.features import build_feature_extractor, resolve_weights

SIZE = 75  # InceptionV3's smallest input keeps these tests quick


def backbone_weights(extractor: keras.Model) -> list[np.ndarray]:
    return [w.numpy() for w in extractor.get_layer("inception_v3").weights]


def test_weights_are_loaded_from_a_local_file(tmp_path):
    keras.utils.set_random_seed(1)
    source = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    path = tmp_path / "inception.weights.h5"
    source.save_weights(path)
    keras.utils.set_random_seed(2)
    extractor = build_feature_extractor(resolve_weights(str(path)), SIZE)
    loaded = backbone_weights(extractor)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(loaded, source.weights))
    keras.utils.set_random_seed(2)
    random = backbone_weights(build_feature_extractor(resolve_weights("none"), SIZE))
    assert not all(np.array_equal(a, b) for a, b in zip(loaded, random))


def test_a_missing_weights_file_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="no such weights file"):
        resolve_weights(str(tmp_path / "missing.h5"))


class NotFound(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):
        NotFound.requests.append(self.path)
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("backbone", [name for name, spec in BACKBONES.items() if spec.imagenet_url])
def test_imagenet_that_cannot_be_downloaded_says_how_to_supply_the_file(backbone, tmp_path, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    NotFound.requests = []
    spec = BACKBONES[backbone]
    try:
        url = f"http://127.0.0.1:{server.server_port}/weights/{spec.imagenet_file}"
        monkeypatch.setitem(BACKBONES, backbone, replace(spec, imagenet_url=url))
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        with pytest.raises(SourceUnavailableError) as error:
            build_feature_extractor(resolve_weights("imagenet"), spec.min_image_size, backbone)
    finally:
        server.shutdown()
    assert NotFound.requests == [f"/weights/{spec.imagenet_file}"], "the download really went through Keras"
    message = str(error.value)
    assert message.startswith(f"imagenet: could not download the {backbone} weights")
    assert spec.imagenet_file in message and "--weights PATH" in message


def test_efficientnet_given_the_imagenet_file_computes_what_keras_imagenet_efficientnet_computes(tmp_path, monkeypatch):
    """Keras adds a per-channel division after Normalization only for ``weights="imagenet"``; vclf folds it in."""
    import h5py
    from keras.src.applications import efficientnet
    from keras.src.legacy.saving import legacy_h5_format

    spec = BACKBONES["efficientnet_b0"]
    source = spec.build(32)
    normalization = next(layer for layer in source.layers if isinstance(layer, keras.layers.Normalization))
    normalization.adapt_mean.assign([0.485, 0.456, 0.406])
    normalization.adapt_variance.assign(np.square([0.229, 0.224, 0.225]))
    imagenet_file, own_file = tmp_path / spec.imagenet_file, tmp_path / "own_efficientnet.h5"
    for path in (imagenet_file, own_file):
        with h5py.File(path, "w") as stream:
            legacy_h5_format.save_weights_to_hdf5_group(stream, source)
    monkeypatch.setattr(efficientnet.file_utils, "get_file", lambda *args, **kwargs: str(imagenet_file))
    reference = keras.applications.EfficientNetB0(weights="imagenet", include_top=False, pooling="avg", input_shape=(32, 32, 3))

    frames = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    expected = np.asarray(reference.predict_on_batch(frames))
    given_imagenet = np.asarray(build_feature_extractor(str(imagenet_file), 32, "efficientnet_b0").predict_on_batch(frames))
    given_own = np.asarray(build_feature_extractor(str(own_file), 32, "efficientnet_b0").predict_on_batch(frames))
    scale = np.abs(expected).max()
    assert np.abs(given_imagenet - expected).max() <= 1e-4 * scale
    assert np.abs(given_own - expected).max() > 1e-2 * scale, "a file of one's own is loaded as it is"
