"""Parity of the exported ONNX graphs with the Keras models they came from."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from support.fixtures import SESSION_IMAGE_SIZE

from vclf.export import bundle as export_bundle
from vclf.export.cli import main as export_main
from vclf.export.parity import EXTRACTOR_TOLERANCE, HEAD_TOLERANCE, masked_variants, relative_difference
from vclf.runtime.bundle import load_bundle
from vclf.runtime.files import file_sha256
from vclf.runtime.video import count_frames
from vclf.train import run as rd


@pytest.fixture(scope="module")
def run(trained_run):
    return rd.load_run(trained_run)


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_extractor_features_match_keras_within_1e4_relative(run, bundle):
    frames = export_bundle.parity_frames(run, clips=3)
    noise = np.random.default_rng(0).integers(0, 256, (4, *frames.shape[1:]), dtype=np.uint8)
    frames = np.concatenate([frames, noise])
    expected = np.asarray(run.extractor().predict_on_batch(frames.astype(np.float32)))
    actual = session(load_bundle(bundle).extractor_path).run(None, {"frames": frames})[0]
    assert actual.shape == (len(frames), 2048) and actual.dtype == np.float32
    assert relative_difference(expected, actual) <= EXTRACTOR_TOLERANCE


def test_head_probabilities_match_keras_within_1e5_with_masks_and_garbage(run, bundle):
    with np.load(run.path / rd.FEATURES) as cached:
        features, mask = cached["x_test"], cached["m_test"]
    clean, garbage, masks = masked_variants(features, mask)
    assert (~masks).any(axis=1).mean() > 0.5, "most inputs have masked positions"
    assert np.abs(garbage[~masks]).max() > 100 * np.abs(clean).max()
    head = session(load_bundle(bundle).head_path)
    expected = np.asarray(run.sequence_model().predict_on_batch([clean, masks]))
    with_garbage = head.run(None, {"features": garbage, "mask": masks})[0]
    assert np.abs(expected - with_garbage).max() <= HEAD_TOLERANCE
    np.testing.assert_allclose(with_garbage.sum(axis=1), 1.0, atol=1e-5)


def test_masked_positions_change_nothing_but_real_frames_do(bundle, run):
    with np.load(run.path / rd.FEATURES) as cached:
        features, mask = cached["x_test"][:8], cached["m_test"][:8]
    head = session(load_bundle(bundle).head_path)
    shortened = mask & (np.arange(mask.shape[1]) < 5)  # every clip keeps at most its first 5 frames
    short = head.run(None, {"features": features, "mask": shortened})[0]
    garbage = np.where(shortened[..., None], features, np.random.default_rng(0).normal(0, 1e3, features.shape)).astype(np.float32)
    assert np.abs(garbage[~shortened]).max() > 100 * np.abs(features).max()
    np.testing.assert_allclose(head.run(None, {"features": garbage, "mask": shortened})[0], short, atol=1e-6)
    base = head.run(None, {"features": features, "mask": mask})[0]
    assert np.abs(short - base).max() > 1e-4, "the frames masked off were real: taking them away changes the answer"


def test_bundle_json_describes_the_graphs(bundle, trained_run):
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["labels"] == json.loads((trained_run / rd.LABELS).read_text())
    assert (manifest["image_size"], manifest["sequence_length"], manifest["feature_size"]) == (SESSION_IMAGE_SIZE, 20, 2048)
    assert manifest["sampler"] == "uniform" and manifest["precision"] == "fp32" and manifest["format_version"] == 2
    for name in ("extractor.onnx", "head.onnx"):
        assert manifest["sha256"][name] == file_sha256(bundle / name)
    inputs = {i.name: (i.shape, i.type) for i in session(bundle / "head.onnx").get_inputs()}
    assert inputs == {"features": (["B", 20, 2048], "tensor(float)"), "mask": (["B", 20], "tensor(bool)")}


def test_bundle_records_the_frame_spacing_of_training_for_live_use(bundle, dataset):
    median = np.median([count_frames(p) for p in (dataset / "train").glob("*.avi")])
    assert 25 <= median <= 34, "synthetic clips run 12 to 47 frames"
    assert json.loads((bundle / "bundle.json").read_text())["live_stride"] == 2, "uniform: 20 frames over ~30"


def test_export_refuses_a_head_that_does_not_match_keras(trained_run, tmp_path, monkeypatch):
    convert_head = export_bundle.convert_gru_head

    def convert_a_different_head(model, *args):
        bias = model.layers[-1].bias
        nudge = np.eye(bias.shape[0], dtype=np.float32)[0]  # favour the first class a little
        bias.assign(bias.numpy() + nudge)
        try:
            convert_head(model, *args)
        finally:
            bias.assign(bias.numpy() - nudge)

    monkeypatch.setattr(export_bundle, "convert_gru_head", convert_a_different_head)
    out = tmp_path / "bundle"
    result = CliRunner().invoke(export_main, [str(trained_run), "--out", str(out)])
    assert result.exit_code == 4
    last = result.stderr.strip().splitlines()[-1]
    assert "head: largest difference" in last and "bundle not written" in last
    assert not out.exists()
    assert not list(tmp_path.iterdir()), "no scratch files are left behind"
