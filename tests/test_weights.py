"""Where InceptionV3's weights come from: a local file, Keras' download, or nowhere (random)."""

import http.server
import threading

import keras
import numpy as np
import pytest

from vclf.runtime.errors import BadInputError, SourceUnavailableError
from vclf.train.features import IMAGENET_FILE, build_feature_extractor, resolve_weights

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


def test_imagenet_that_cannot_be_downloaded_says_how_to_supply_the_file(tmp_path, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from keras.src.applications import inception_v3

        url = f"http://127.0.0.1:{server.server_port}/weights/{IMAGENET_FILE}"
        monkeypatch.setattr(inception_v3, "WEIGHTS_PATH_NO_TOP", url)
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        with pytest.raises(SourceUnavailableError) as error:
            build_feature_extractor(resolve_weights("imagenet"), SIZE)
    finally:
        server.shutdown()
    assert NotFound.requests == [f"/weights/{IMAGENET_FILE}"], "the download really went through Keras"
    message = str(error.value)
    assert message.startswith("imagenet:") and IMAGENET_FILE in message and "--weights PATH" in message
