"""``make test``'s own machinery: the order the tests run in and the pytest-xdist groups it relies on.

Both are checked on small pytest sessions of their own, run as ``make test``
runs pytest (``-n 2 --dist loadgroup --no-loadscope-reorder``), so an upgrade
of pytest or pytest-xdist that breaks either fails here rather than making
``make test`` slower or start two Ray runtimes without a word.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
WORKERS = ("-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder")


def pytest_in(folder: Path, *args: str) -> str:
    """pytest's output on ``folder``, with the session fixtures' plugin loaded as tests/conftest.py loads it."""
    command = [sys.executable, "-m", "pytest", "-p", "support.fixtures", "-p", "no:cacheprovider", *args, str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, env={**os.environ, "PYTHONPATH": str(TESTS)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_one_test_that_needs_the_bundle_runs_first_then_those_that_need_no_build(tmp_path):
    (tmp_path / "test_a.py").write_text(
        "def test_no_build_1(): pass\n"
        "def test_run_only(trained_run): pass\n"
        "def test_no_build_2(tmp_path): pass\n"
        "def test_bundle_1(bundle): pass\n"
        "def test_bundle_2(bundle): pass\n"
    )
    (tmp_path / "test_b.py").write_text(
        "import pytest\n@pytest.mark.session_builds\ndef test_asks_by_name(request): pass\ndef test_no_build_3(): pass\n"
    )
    order = [line.split("::")[1] for line in pytest_in(tmp_path, "--collect-only", "-q").splitlines() if "::" in line]
    assert order == [
        "test_bundle_1",
        "test_no_build_1",
        "test_no_build_2",
        "test_no_build_3",
        "test_run_only",
        "test_bundle_2",
        "test_asks_by_name",
    ]


def test_an_xdist_group_runs_on_one_worker_and_other_tests_spread(tmp_path):
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\npytestmark = pytest.mark.xdist_group('one')\n@pytest.mark.parametrize('i', range(6))\ndef test_grouped(i): pass\n"
    )
    (tmp_path / "test_free.py").write_text(
        "import time, pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_free(i): time.sleep(0.2)\n"
    )
    ran = re.findall(r"\[(gw\d)\] .*PASSED (\S+)", pytest_in(tmp_path, *WORKERS, "-v"))
    grouped = {worker for worker, test in ran if "test_grouped" in test}
    assert len([test for _, test in ran if "test_grouped" in test]) == 6 and len(grouped) == 1, ran
    assert {worker for worker, test in ran if "test_free" in test} == {"gw0", "gw1"}, ran
