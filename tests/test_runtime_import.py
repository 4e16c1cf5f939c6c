"""The runtime imports, and its tests run, where TensorFlow is absent; test modules share helpers through ``support`` only.

A runtime test is a test module that imports nothing of training or export
(read from its source, imports inside functions included): the rule picks
the modules, so a new runtime test is checked without being listed.
"""

import ast
import importlib.util
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

from support import without_training
from support.commands import REPO

import vclf.runtime

TESTS = REPO / "tests"
HEAVY = ("tensorflow", "keras", "tf2onnx", "vclf.train", "vclf.export")

IMPORT_BLOCKED = """
import importlib, sys
from support import without_training
without_training.BLOCKED += tuple(filter(None, sys.argv[1].split(",")))  # and these, for this check
without_training.install()
for module in sys.argv[2:]:
    importlib.import_module(module)
print("imported", len(sys.argv) - 2, "modules")
"""


def imported_names(path: Path) -> set[str]:
    """Every module a Python file imports, at any depth (``from . import x`` aside)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def runtime_test_modules() -> list[str]:
    return sorted(
        path.stem
        for path in TESTS.glob("test_*.py")
        if not any(name == heavy or name.startswith(heavy + ".") for name in imported_names(path) for heavy in HEAVY)
    )


def support_modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules([str(TESTS / "support")], "support.")]


def blocked_python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """``python ARGS`` with ``tests/`` on the path, as pytest puts it."""
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO, **kwargs)


def test_every_runtime_module_imports_with_tensorflow_and_ray_unimportable():
    modules = [m.name for m in pkgutil.walk_packages(vclf.runtime.__path__, "vclf.runtime.")]
    assert {"vclf.runtime.cli.main", "vclf.runtime.engine", "vclf.runtime.live.loop", "vclf.runtime.serve.server"} <= set(modules)
    result = blocked_python("-c", IMPORT_BLOCKED, "ray,pandas,pyarrow", *modules)
    assert result.returncode == 0, result.stderr
    assert f"imported {len(modules)} modules" in result.stdout


def test_the_blocker_really_blocks_tensorflow_training_and_export():
    for module in ("tensorflow", "vclf.train.synth", "vclf.export.precision"):
        result = blocked_python("-c", IMPORT_BLOCKED, "", module)
        assert result.returncode != 0 and "ImportError: blocked " in result.stderr, module
    assert without_training.BLOCKED == HEAVY


def test_the_rule_finds_the_runtime_tests_and_leaves_the_training_ones():
    runtime = runtime_test_modules()
    assert {"test_video", "test_engine", "test_live", "test_serve", "test_cli_errors", "test_runtime_import"} <= set(runtime)
    assert not {"test_fit", "test_parity", "test_synth", "test_sweep"} & set(runtime)


def test_every_runtime_test_module_and_support_module_imports_with_training_blocked():
    modules = [*support_modules(), *runtime_test_modules()]
    assert "support.fixtures" in modules and "support.clips" in modules
    result = blocked_python("-c", IMPORT_BLOCKED, "", *modules)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"imported {len(modules)} modules" in result.stdout


# One test each of the runtime tests that use the session bundle, the video writer, the
# one-line-error check, the counting frames and the hanging decoder.
BLOCKED_RUN = [
    "tests/test_cli_errors.py::test_zero_frame_video",
    "tests/test_video.py::test_zero_frame_video_is_bad_input",
    "tests/test_decode_deadline.py::test_a_file_past_its_deadline_fails_alone_and_a_new_worker_decodes_the_rest",
]


def test_runtime_tests_run_with_training_blocked(bundle):
    """pytest itself under the blocker, on the session's bundle (the fixtures build nothing again): the conftest,
    the fixtures plugin and these tests load and pass. The import test above covers every other runtime module."""
    reuse = {**os.environ, "VCLF_TEST_REUSE": str(bundle.parent), "PYTHONPATH": str(TESTS)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "support.without_training", "-q", "-p", "no:cacheprovider", *BLOCKED_RUN],
        capture_output=True,
        text=True,
        env=reuse,
        cwd=REPO,
    )
    assert result.returncode == 0 and f"{len(BLOCKED_RUN)} passed" in result.stdout, result.stdout[-3000:]


def test_importing_the_blocker_blocks_nothing():
    """Only ``-p support.without_training`` (or ``install()``) blocks: this process imported it and can still find TensorFlow."""
    assert importlib.util.find_spec("tensorflow") is not None


def test_no_test_module_imports_another_or_a_conftest():
    for path in [*TESTS.glob("*.py"), *(REPO / "benchmarks").glob("*.py"), *(TESTS / "support").glob("*.py")]:
        names = imported_names(path)
        assert not [n for n in names if n.split(".")[0].startswith("test_") or n.split(".")[0] in ("conftest", "helpers")], path
