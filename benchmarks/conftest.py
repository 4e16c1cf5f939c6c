"""Benchmarks: Keras against ONNX Runtime on the same graphs and inputs, one table at the end.

Run with ``make bench`` (``pytest benchmarks``). Targets are ratios measured
within one run, so they hold on any machine.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from timing import RATIOS, ROWS

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the tests' helpers: run_command


def pytest_terminal_summary(terminalreporter):
    if RATIOS:
        terminalreporter.write_sep("=", "vclf-run on folders and long clips (CPU)")
        for what, figures, ratio, target in RATIOS:
            terminalreporter.write_line(f"{what:<44}{ratio:>7.2f}x  (target {target})  {figures}")
    if not ROWS:
        return
    terminalreporter.write_sep("=", "Keras vs ONNX Runtime (CPU)")
    terminalreporter.write_line(f"{'one call of':<34}{'keras ms':>10}{'onnx ms':>10}{'speed-up':>10}")
    for what, keras_seconds, onnx_seconds in ROWS:
        terminalreporter.write_line(
            f"{what:<34}{keras_seconds * 1e3:>10.1f}{onnx_seconds * 1e3:>10.1f}{keras_seconds / onnx_seconds:>9.2f}x"
        )


@pytest.fixture(scope="session")
def graphs(tmp_path_factory):
    """A random-weight extractor and an untrained head, in Keras and as exported ONNX graphs."""
    import keras

    from vclf.export.convert import convert_extractor, convert_head
    from vclf.train.features import build_feature_extractor
    from vclf.train.model import build_sequence_model

    keras.utils.set_random_seed(0)
    folder: Path = tmp_path_factory.mktemp("graphs")
    extractor = build_feature_extractor(None, 224)
    head = build_sequence_model(5, standardize=True)
    convert_extractor(extractor, 224, folder / "extractor.onnx")
    convert_head(head, 20, 2048, folder / "head.onnx")
    frames = np.random.default_rng(0).integers(0, 256, (20, 224, 224, 3), dtype=np.uint8)
    return extractor, head, folder, frames
