"""Shared fixtures: one real pipeline run per test session.

The session fixtures run the commands a user runs (synth → fit → export) once;
every end-to-end, parity and CLI test reads the same run dir and bundle.
"""

from pathlib import Path

import pytest

from helpers import run_command


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """A synthetic dataset: 30 training and 30 test clips per class.

    60 grow/shrink test clips keep chance on that pair near 0.5 +- 0.065, so the
    order tests separate a model that sees order from one that cannot.
    """
    out = tmp_path_factory.mktemp("data") / "synth"
    run_command("vclf-train", "synth", out, "--seed", "0", "--videos-per-class", "30", "--test-per-class", "30")
    return out


@pytest.fixture(scope="session")
def trained_run(dataset, tmp_path_factory) -> Path:
    """The default preset fitted on the synthetic set with random InceptionV3 weights."""
    run_dir = tmp_path_factory.mktemp("runs") / "default"
    run_command("vclf-train", "fit", dataset, "--out", run_dir, "--weights", "none")
    return run_dir


@pytest.fixture(scope="session")
def bundle(trained_run, tmp_path_factory) -> Path:
    bundle_dir = tmp_path_factory.mktemp("bundles") / "default"
    run_command("vclf-export", trained_run, "--out", bundle_dir)
    return bundle_dir
