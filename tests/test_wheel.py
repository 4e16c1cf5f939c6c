"""The package as users get it: the sdist, the wheel built from it, installed into a fresh
virtualenv outside the checkout, and its commands run from there.

The virtualenv holds the wheel and the runtime dependencies it declares,
nothing else (pip's cache makes that about 40 s here). ``vclf-train`` and
``vclf-export`` need TensorFlow, which this test does not install a second
time: their ``--help`` runs with the checkout virtualenv's site-packages on
``PYTHONPATH`` (the extras' packages; vclf itself still comes from the wheel,
which the test checks), so what is checked is that the wheel holds their code
and entry points, not that their extras resolve. A second virtualenv holds the
README's slim install (``requirements/headless.txt``, then the wheel with
``--no-deps``): the CPU build of ONNX Runtime and OpenCV without its GUI.
"""

import json
import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path
from zipfile import ZipFile

import numpy as np
import pytest
from support.commands import REPO, build_distributions, run_command

PACKAGES = {"runtime": "vclf/runtime", "train": "vclf/train", "export": "vclf/export"}
COMMANDS = ("vclf-run", "vclf-train", "vclf-export")
GPU_BUILD_PLATFORMS = {("Linux", "x86_64"), ("Windows", "AMD64")}  # pyproject.toml's markers for onnxruntime-gpu
# One worker builds the distributions once: two builds at a time in the checkout race on its vclf.egg-info.
pytestmark = pytest.mark.xdist_group("wheel")


def package_files() -> set[str]:
    """Every file of the three packages in the checkout, as the wheel names it."""
    return {
        f"{prefix}/{path.relative_to(REPO / folder).as_posix()}"
        for folder, prefix in PACKAGES.items()
        for path in (REPO / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def distributions(tmp_path_factory) -> tuple[Path, Path]:
    return build_distributions(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def wheel_venv(distributions, tmp_path_factory) -> Path:
    """A fresh virtualenv, outside the checkout, with the wheel and its runtime dependencies."""
    venv = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    install = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", distributions[1]], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    return venv


@pytest.fixture(scope="module")
def headless_venv(distributions, tmp_path_factory) -> Path:
    """The README's slim install: requirements/headless.txt, then the wheel with --no-deps."""
    venv = tmp_path_factory.mktemp("headless-venv")
    subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    for args in (["-r", REPO / "requirements" / "headless.txt"], ["--no-deps", distributions[1]]):
        install = subprocess.run([*pip, *args], capture_output=True, text=True)
        assert install.returncode == 0, install.stderr[-3000:]
    return venv


def from_wheel(venv: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    """A command of the wheel's virtualenv, run in a folder outside the checkout, without the checkout's PYTHONPATH."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env or {})
    return subprocess.run([str(venv / "bin" / args[0]), *map(str, args[1:])], capture_output=True, text=True, cwd=venv, env=clean)


def test_sdist_and_wheel_hold_every_file_of_the_three_packages(distributions):
    sdist, wheel = distributions
    expected = package_files()
    with ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert expected - names == set()
    assert all(f"{command} = " in entry_points for command in COMMANDS)
    listed = subprocess.run(["tar", "tzf", sdist], capture_output=True, text=True, check=True).stdout.split()
    in_sdist = {name.split("/", 1)[1] for name in listed if "/" in name}
    assert {name.removeprefix("vclf/") for name in expected} - in_sdist == set()


def test_vclf_run_from_the_wheel_names_the_onnx_runtime_build_its_markers_chose(wheel_venv):
    assert from_wheel(wheel_venv, "vclf-run", "--help").returncode == 0
    result = from_wheel(wheel_venv, "vclf-run", "--version")
    assert result.returncode == 0, result.stderr
    build = "onnxruntime-gpu" if (platform.system(), platform.machine()) in GPU_BUILD_PLATFORMS else "onnxruntime"
    assert f"ONNX Runtime: {build} " in result.stdout
    assert result.stdout.startswith("vclf-run 0.1.0\n")


def test_train_and_export_help_run_from_the_wheel_with_the_extras_present(wheel_venv):
    extras = {"PYTHONPATH": sysconfig.get_paths()["purelib"]}  # the checkout virtualenv's packages: TensorFlow, tf2onnx
    where = from_wheel(wheel_venv, "python", "-c", "import vclf.train.cli, vclf.export.cli; print(vclf.train.cli.__file__)", env=extras)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(wheel_venv)
    for command in ("vclf-train", "vclf-export"):
        result = from_wheel(wheel_venv, command, "--help", env=extras)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Usage:" in result.stdout


def test_vclf_run_from_the_wheel_classifies_a_clip_as_the_checkout_does(wheel_venv, bundle, dataset):
    clip = sorted((dataset / "test").glob("*.avi"))[0]
    installed = from_wheel(wheel_venv, "vclf-run", clip, "--model", bundle, "--json", "--device", "cpu")
    assert installed.returncode == 0, installed.stderr
    checkout = run_command("vclf-run", clip, "--model", bundle, "--json", "--device", "cpu")

    def probabilities(stdout: str) -> dict[str, float]:
        return {p["label"]: p["prob"] for p in json.loads(stdout)["predictions"]}

    ours, theirs = probabilities(installed.stdout), probabilities(checkout.stdout)
    assert ours.keys() == theirs.keys()
    assert np.allclose([ours[k] for k in ours], [theirs[k] for k in ours], atol=1e-6)


def test_headless_install_runs_on_the_cpu_build_and_says_why_there_is_no_window(headless_venv, bundle, dataset):
    version = from_wheel(headless_venv, "vclf-run", "--version").stdout
    assert "ONNX Runtime: onnxruntime " in version and "OpenCV: opencv-python-headless" in version and "(GUI: NONE)" in version
    clip = sorted((dataset / "test").glob("grow_*.avi"))[0]
    result = from_wheel(headless_venv, "vclf-run", clip, "--model", bundle, "--live", "--display", "--stride", "4", "--json")
    assert result.returncode == 0, result.stderr
    assert "has no GUI" in result.stderr.splitlines()[0]
    predictions = [json.loads(line) for line in result.stdout.splitlines()]
    assert predictions and all(p["provider"] == "CPUExecutionProvider" for p in predictions)
