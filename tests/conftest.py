"""Shared fixtures: one real pipeline run per test session.

The session fixtures run the commands a user runs (synth → fit → export) once;
every end-to-end, parity and CLI test reads the same run dir and bundle.

While developing, ``VCLF_TEST_REUSE=DIR`` keeps the dataset, run and bundle
in DIR between pytest invocations: each is built there once, when missing
(delete one to rebuild it after changing what makes it). CI leaves it unset.
"""

from pathlib import Path

import pytest

from helpers import built, run_command


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """A synthetic dataset: 30 training and 30 test clips per class.

    60 grow/shrink test clips keep chance on that pair near 0.5 +- 0.065, so the
    order tests separate a model that sees order from one that cannot.
    """

    def synth(out: Path) -> None:
        run_command("vclf-train", "synth", out, "--seed", "0", "--videos-per-class", "30", "--test-per-class", "30")

    return built(tmp_path_factory, "data", synth)


@pytest.fixture(scope="session")
def trained_run(dataset, tmp_path_factory) -> Path:
    """The default preset fitted on the synthetic set with random InceptionV3 weights."""
    return built(
        tmp_path_factory, "run", lambda out: run_command("vclf-train", "fit", dataset, "--out", out, "--weights", "none")
    )


@pytest.fixture(scope="session")
def bundle(trained_run, tmp_path_factory) -> Path:
    return built(tmp_path_factory, "bundle", lambda out: run_command("vclf-export", trained_run, "--out", out))
