"""Benchmarks: Keras against ONNX Runtime on the same graphs and inputs, one table at the end.

Run with ``make bench`` (``pytest benchmarks``). Targets are ratios measured
within one run, so they hold on any machine.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from timing import LIVE_ROWS, RATIOS, TABLES

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the tests' helpers: run_command


def pytest_terminal_summary(terminalreporter):
    if LIVE_ROWS:
        terminalreporter.write_sep("=", "Live: cost of one prediction (ONNX Runtime, CPU)")
        terminalreporter.write_line(f"{'per prediction':<34}{'p50 ms':>10}{'p95 ms':>10}{'vs first':>10}")
        for what, p50, p95 in LIVE_ROWS:
            terminalreporter.write_line(f"{what:<34}{p50:>10.1f}{p95:>10.1f}{p50 / LIVE_ROWS[0][1]:>9.1f}x")
    if RATIOS:
        terminalreporter.write_sep("=", "vclf-run on folders and long clips (CPU)")
        for what, figures, ratio, target in RATIOS:
            terminalreporter.write_line(f"{what:<44}{ratio:>7.2f}x  (target {target})  {figures}")
    for (title, baseline, candidate), rows in TABLES.items():
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(f"{'one call of':<34}{baseline + ' ms':>10}{candidate + ' ms':>10}{'speed-up':>10}")
        for what, baseline_seconds, candidate_seconds in rows:
            terminalreporter.write_line(
                f"{what:<34}{baseline_seconds * 1e3:>10.1f}{candidate_seconds * 1e3:>10.2f}"
                f"{baseline_seconds / candidate_seconds:>9.2f}x"
            )


@pytest.fixture(scope="session")
def graphs(tmp_path_factory):
    """A random-weight extractor and an untrained head, in Keras and as exported ONNX graphs.

    ``head.onnx`` is the head as bundles ship it (native GRU ops);
    ``head_loop.onnx`` is tf2onnx's conversion of the same head (Loop ops).
    """
    import keras

    from vclf.export.convert import convert_extractor, convert_head
    from vclf.export.gru_head import convert_gru_head
    from vclf.train.features import build_feature_extractor
    from vclf.train.model import build_sequence_model

    keras.utils.set_random_seed(0)
    folder: Path = tmp_path_factory.mktemp("graphs")
    extractor = build_feature_extractor(None, 224)
    head = build_sequence_model(5, standardize=True)
    convert_extractor(extractor, 224, folder / "extractor.onnx")
    convert_gru_head(head, 20, 2048, folder / "head.onnx")
    convert_head(head, 20, 2048, folder / "head_loop.onnx")
    frames = np.random.default_rng(0).integers(0, 256, (20, 224, 224, 3), dtype=np.uint8)
    return extractor, head, folder, frames
