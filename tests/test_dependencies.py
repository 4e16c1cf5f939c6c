"""The runtime installs where edge users are: its dependencies resolved for other platforms, from the package index alone.

pip evaluates environment markers for the machine it runs on, even with
``--platform``, so each target's markers are evaluated here (``packaging``)
and pip resolves the requirements they leave for the target's wheel tags
(``pip install --dry-run --report``, binary wheels only, Python 3.11). Every
file's download size comes from the index (a HEAD request, or the file of a
local index). Run with ``-s`` to see the table; the README quotes it.

Targets: Linux x86_64 and Linux aarch64 at glibc 2.31 (Ubuntu 20.04, Debian 11,
Jetson JetPack 5: only wheels tagged manylinux_2_31 or older install there),
and macOS 14 on Apple silicon. The slim installs of ``requirements/`` are
resolved for x86_64 beside the default one.
"""

import json
import subprocess
import sys
import urllib.request
from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from support.commands import REPO

PYTHON = "3.11"
GLIBC_MINOR = 31
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
TARGETS = {
    "linux-x86_64": ({**LINUX, "platform_machine": "x86_64"}, "x86_64"),
    "linux-aarch64-glibc2.31": ({**LINUX, "platform_machine": "aarch64"}, "aarch64"),
    "macos-arm64": ({"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": "arm64"}, None),
}
ONNX_RUNTIME = {"linux-x86_64": "onnxruntime-gpu", "linux-aarch64-glibc2.31": "onnxruntime", "macos-arm64": "onnxruntime"}
SLIM = {
    "cpu": {"onnxruntime-gpu": "onnxruntime"},
    "headless": {"onnxruntime-gpu": "onnxruntime", "opencv-python": "opencv-python-headless"},
}
MB = 1e6


def runtime_requirements() -> list[Requirement]:
    """pyproject.toml's dependencies: what the wheel's metadata declares."""
    return [Requirement(line) for line in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]


def file_requirements(name: str) -> list[Requirement]:
    lines = (REPO / "requirements" / f"{name}.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def for_target(requirements: list[Requirement], target: str) -> tuple[str, ...]:
    """The requirements whose markers hold on ``target``, markers dropped."""
    environment = default_environment() | TARGETS[target][0] | {"python_version": PYTHON, "python_full_version": f"{PYTHON}.0"}
    return tuple(f"{r.name}{r.specifier}" for r in requirements if r.marker is None or r.marker.evaluate(environment))


def platform_tags(target: str) -> list[str]:
    machine = TARGETS[target][1]
    if machine is None:
        return ["macosx_14_0_arm64"]  # pip adds the older macOS versions and universal2 itself
    # pip takes a manylinux tag literally: every glibc up to the target's is listed.
    return [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{machine}"]


def download_size(url: str) -> int:
    if url.startswith("file://"):
        return Path(urllib.request.url2pathname(url.removeprefix("file://"))).stat().st_size
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as response:
        return int(response.headers["Content-Length"])


@cache
def resolve(requirements: tuple[str, ...], target: str) -> dict[str, tuple[str, int]]:
    """name -> (version, download bytes) of everything pip would install on ``target``."""
    platforms = [option for tag in platform_tags(target) for option in ("--platform", tag)]
    with TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--ignore-installed",
            "--report",
            report,
            "--target",
            Path(folder) / "unused",
            "--only-binary=:all:",
            "--python-version",
            PYTHON,
            *platforms,
            *requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, f"{target}: {' '.join(requirements)} does not resolve:\n{result.stderr[-3000:]}"
        installs = json.loads(report.read_text())["install"]
    return {i["metadata"]["name"].lower(): (i["metadata"]["version"], download_size(i["download_info"]["url"])) for i in installs}


def show(what: str, resolved: dict[str, tuple[str, int]]) -> int:
    total = sum(size for _, size in resolved.values())
    parts = ", ".join(f"{name} {version} {size / MB:.1f}" for name, (version, size) in sorted(resolved.items(), key=lambda i: -i[1][1]))
    print(f"\n{what}: {total / MB:.0f} MB to download: {parts}")
    return total


@pytest.mark.parametrize("target", TARGETS)
def test_runtime_resolves_with_the_onnx_runtime_build_of_each_platform(target):
    resolved = resolve(for_target(runtime_requirements(), target), target)
    show(f"pip install vclf on {target}", resolved)
    builds = {"onnxruntime", "onnxruntime-gpu"} & resolved.keys()
    assert builds == {ONNX_RUNTIME[target]}
    assert {"numpy", "opencv-python", "click"} <= resolved.keys()


def test_slim_installs_resolve_on_x86_64_and_save_the_cuda_build():
    default = sum(size for _, size in resolve(for_target(runtime_requirements(), "linux-x86_64"), "linux-x86_64").values())
    for name in SLIM:
        resolved = resolve(for_target(file_requirements(name), "linux-x86_64"), "linux-x86_64")
        slim = show(f"requirements/{name}.txt on linux-x86_64", resolved)
        for replaced, replacement in SLIM[name].items():
            assert replaced not in resolved and replacement in resolved
        assert slim < default / 2, f"requirements/{name}.txt downloads {slim / MB:.0f} MB against {default / MB:.0f} MB"


@pytest.mark.parametrize("name", SLIM)
def test_slim_requirement_files_are_the_runtime_dependencies_with_their_builds_swapped(name):
    swapped = {}
    for requirement in runtime_requirements():
        if requirement.name == "onnxruntime":
            continue  # the marker-selected CPU build: the files name it unconditionally
        swapped[SLIM[name].get(requirement.name, requirement.name)] = str(requirement.specifier)
    assert {r.name: str(r.specifier) for r in file_requirements(name)} == swapped
