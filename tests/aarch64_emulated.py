"""``make aarch64``: the wheel built here, installed on an emulated arm64 Debian and run against this machine.

The root (``tests/aarch64/root.sh``: debootstrap'd bookworm arm64, run by
``qemu-aarch64`` through binfmt_misc) gets the wheel built on x86 with
``--no-deps`` and its aarch64 dependencies from the package index
(``requirements/headless.txt``: the CPU build of ONNX Runtime, OpenCV without
its GUI, as on a headless Raspberry Pi). A tiny bundle exported here
(MobileNetV3-Small, 64 px, 8 frames) then classifies one clip and a short
``--live`` replay on both sides.

Two comparisons, for two reasons. On the same decoded frames (the x86 frames
handed to the arm64 engine) the graphs must agree to float tolerance. End to
end each side decodes the clip with its own OpenCV build, whose JPEG decoder
gives pixels a few levels apart, so the probabilities only agree loosely;
the test measures that pixel difference and reports it beside them.

Inside the root ``/proc/cpuinfo`` is two Cortex-A72s' (``tests/aarch64/cpuinfo``):
under QEMU 7.2 ONNX Runtime crashes reading the host's x86 one. ``/sys`` is
not the host's either but a tmpfs with only the CPU list those two make
(ONNX Runtime warns on stderr without it). Everything runs in a private mount namespace, so nothing
stays mounted after a failure. Run as root; the root and the x86 bundle are
kept under ``build/`` between runs.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.commands import REPO, build_distributions, run_command

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.video import read_clip
from vclf.runtime.video_writer import write_video

ROOT = Path(os.environ.get("VCLF_ARM64_ROOT", REPO / "build" / "arm64-root"))
WORK = REPO / "build" / "aarch64"  # the x86 side: wheel, bundle, clips, figures
INSIDE = "/opt/vclf-check"  # WORK's files as the root sees them
VENV = "/opt/venv"  # the root's virtualenv, kept between runs: only vclf is reinstalled
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
CPUINFO = Path(__file__).parent / "aarch64" / "cpuinfo"
CPU_LIST = "0-1"  # the processors of CPUINFO, as /sys/devices/system/cpu lists them
SAME_FRAMES_TOLERANCE = 1e-5  # the same graphs on the same frames: float rounding only
END_TO_END_TOLERANCE = 0.15  # each side's own JPEG decoding (see the module docstring)
LIVE_FPS = 2.0  # slow enough that the emulated extractor keeps up: no frame dropped on either side
EMULATED_TIMEOUT_S = 1800


def in_root(command: str, timeout: float = EMULATED_TIMEOUT_S) -> subprocess.CompletedProcess:
    """``command`` (sh) inside the arm64 root, in a clean environment and a private mount namespace."""
    inner = shlex.join(
        [
            "chroot",
            str(ROOT),
            "/usr/bin/env",
            "-i",
            f"PATH={VENV}/bin:/usr/bin:/bin",
            "HOME=/root",
            "LANG=C.UTF-8",
            "PIP_CERT=/etc/ssl/certs/host-ca.crt",
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_DEFAULT_TIMEOUT=180",
            "VCLF_CACHE=/tmp/vclf-cache",
            "sh",
            "-c",
            command,
        ]
    )
    cpus = f"{ROOT}/sys/devices/system/cpu"
    script = (
        f"mount -t proc proc {ROOT}/proc && mount --bind {CPUINFO} {ROOT}/proc/cpuinfo"
        f" && mount -t tmpfs sys {ROOT}/sys && mkdir -p {cpus}"
        f" && echo {CPU_LIST} > {cpus}/possible && echo {CPU_LIST} > {cpus}/present"
        f" && mount --rbind /dev {ROOT}/dev && exec {inner}"
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def checked(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        raise AssertionError(f"{what} exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def timed(run) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def clip_ms(stderr: str) -> float:
    """The ``--verbose`` line's time for the clip (decoding and inference, no start-up)."""
    return float(re.search(r": (\d+) ms on ", stderr)[1])


def live_predictions(stdout: str) -> dict[int, np.ndarray]:
    """frame_index -> probabilities in label order, from ``--json`` lines."""
    out = {}
    for line in stdout.splitlines():
        record = json.loads(line)
        ranked = sorted(record["predictions"], key=lambda p: p["label"])
        out[record["frame_index"]] = np.array([p["prob"] for p in ranked])
        assert record["dropped"] == 0, f"frame {record['frame_index']}: {record['dropped']} frames dropped"
    return out


@pytest.fixture(scope="module")
def bundle() -> Path:
    """A tiny model fitted and exported on x86, kept in build/aarch64/ between runs."""
    path = WORK / "bundle"
    if not (path / "bundle.json").exists():
        shutil.rmtree(WORK / "data", ignore_errors=True)
        shutil.rmtree(WORK / "run", ignore_errors=True)
        run_command("vclf-train", "synth", WORK / "data", "--seed", "3", "--videos-per-class", "4", "--test-per-class", "1")
        run_command(
            "vclf-train",
            "fit",
            WORK / "data",
            "--out",
            WORK / "run",
            "--weights",
            "none",
            "--backbone",
            "mobilenet_v3_small",
            "--image-size",
            "64",
            "--seq-len",
            "8",
            "--epochs",
            "3",
            "--no-cache",
        )
        run_command("vclf-export", WORK / "run", "--out", path)
    return path


@pytest.fixture(scope="module")
def clips(bundle) -> tuple[Path, Path]:
    """A test clip, and the same frames at LIVE_FPS for the replay."""
    clip = sorted((WORK / "data" / "test").glob("*.avi"))[0]
    capture, frames = cv2.VideoCapture(str(clip)), []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    live = write_video(WORK / "live.avi", frames, fps=LIVE_FPS)
    return clip, live


@pytest.fixture(scope="module")
def arm64_venv(bundle, clips) -> dict:
    """The root with the wheel built here installed; the files it needs copied under INSIDE."""
    setup = subprocess.run([str(REPO / "tests" / "aarch64" / "root.sh"), str(ROOT)], capture_output=True, text=True)
    if setup.returncode != 0:
        pytest.fail(setup.stderr.strip().splitlines()[-1], pytrace=False)
    _, wheel = build_distributions(WORK / "dist")
    inside = ROOT / INSIDE.lstrip("/")
    shutil.rmtree(inside, ignore_errors=True)
    inside.mkdir(parents=True)
    for source in (wheel, REPO / "requirements" / "headless.txt", REPO / "tests" / "aarch64" / "same_frames.py", *clips):
        shutil.copy(source, inside)
    shutil.copytree(bundle, inside / "bundle")
    for name in ("/etc/hosts", "/etc/resolv.conf"):
        shutil.copy(name, ROOT / name.lstrip("/"))
    shutil.copy(HOST_CA, ROOT / "etc/ssl/certs/host-ca.crt")
    fresh = not (ROOT / VENV.lstrip("/") / "bin" / "python").exists()
    install = (
        f"test -x {VENV}/bin/python || python3 -m venv {VENV}; "
        f"{VENV}/bin/pip install --quiet -r {INSIDE}/headless.txt && "
        f"{VENV}/bin/pip install --quiet --no-deps --force-reinstall {INSIDE}/{wheel.name} && "
        f"du -sm {VENV} | cut -f1"
    )
    result, seconds = timed(lambda: checked(in_root(install), "pip install in the arm64 root"))
    return {
        "install_s": round(seconds, 1),
        "venv_fresh": fresh,
        "venv_mb": int(result.stdout.split()[-1]),
        "root_build_s": int((ROOT / ".build-seconds").read_text()),
    }


def test_vclf_run_on_emulated_arm64_matches_this_machine(bundle, clips, arm64_venv):
    clip, live = clips
    name, live_name = clip.name, live.name

    version = checked(in_root("uname -m; vclf-run --version"), "vclf-run --version in the root").stdout
    assert version.startswith("aarch64\n")
    assert re.search(r"ONNX Runtime: onnxruntime [0-9.]+ \(.*CPUExecutionProvider\)", version), version
    assert "OpenCV: opencv-python-headless" in version and "(GUI: NONE)" in version

    # The clip: the same command on both sides.
    native, native_s = timed(lambda: run_command("vclf-run", clip, "--model", bundle, "--json", "--verbose"))
    emulated, emulated_s = timed(
        lambda: checked(in_root(f"cd {INSIDE} && vclf-run {name} --model bundle --json --verbose"), "vclf-run on the clip")
    )
    native_result, emulated_result = json.loads(native.stdout), json.loads(emulated.stdout)
    assert emulated_result["provider"] == "CPUExecutionProvider"
    assert emulated_result["frames_used"] == native_result["frames_used"]
    labels = sorted(load_bundle(bundle).labels)

    def by_label(result: dict) -> np.ndarray:
        return np.array([p["prob"] for p in sorted(result["predictions"], key=lambda p: p["label"])])

    end_to_end = float(np.abs(by_label(native_result) - by_label(emulated_result)).max())

    # The same decoded frames on both sides.
    engine = Engine(load_bundle(bundle), "cpu")
    sampled = read_clip(clip, engine.bundle.sampling)
    np.save(ROOT / INSIDE.lstrip("/") / "x86-frames.npy", sampled.frames)
    checked(
        in_root(f"cd {INSIDE} && python same_frames.py bundle x86-frames.npy {name} ."),
        "the bundle on x86's frames in the root",
    )
    inside = ROOT / INSIDE.lstrip("/")
    same_frames = float(np.abs(engine.classify_clip(sampled.frames) - np.load(inside / "probabilities.npy")).max())
    pixels = int(np.abs(sampled.frames.astype(int) - np.load(inside / "frames.npy").astype(int)).max())

    # A live replay; --display on the headless build says why there is no window and prints.
    native_live = run_command("vclf-run", live, "--model", bundle, "--live", "--no-display", "--json")
    emulated_live = in_root(f"cd {INSIDE} && vclf-run {live_name} --model bundle --live --display --json")
    checked(emulated_live, "vclf-run --live in the root")
    assert "has no GUI" in emulated_live.stderr.splitlines()[0]
    native_windows, emulated_windows = live_predictions(native_live.stdout), live_predictions(emulated_live.stdout)
    assert emulated_windows and emulated_windows.keys() == native_windows.keys()
    live_difference = max(float(np.abs(native_windows[i] - emulated_windows[i]).max()) for i in native_windows)

    # A documented exit code: a file that is no video is bad input (3).
    bad = in_root(f"cd {INSIDE} && vclf-run headless.txt --model bundle")
    assert bad.returncode == 3, bad.stderr

    figures = {
        "root_mb": int(subprocess.run(["du", "-sm", "--exclude=./proc", str(ROOT)], capture_output=True, text=True).stdout.split()[0]),
        **arm64_venv,
        "clip_ms_native": clip_ms(native.stderr),
        "clip_ms_emulated": clip_ms(emulated.stderr),
        "command_s_native": round(native_s, 1),
        "command_s_emulated": round(emulated_s, 1),
        "max_prob_difference_same_frames": same_frames,
        "max_prob_difference_end_to_end": end_to_end,
        "max_pixel_difference_decoding": pixels,
        "live_predictions": len(emulated_windows),
        "max_prob_difference_live": live_difference,
        "labels": labels,
        "native_top": native_result["predictions"][0],
        "emulated_top": emulated_result["predictions"][0],
        "version_in_root": version.strip().splitlines()[1:],
    }
    (WORK / "figures.json").write_text(json.dumps(figures, indent=2))
    print("\n" + json.dumps(figures, indent=2))
    print("emulated stderr (clip):", emulated.stderr.strip(), "\nemulated stderr (live):", emulated_live.stderr.strip(), sep="\n")

    assert same_frames <= SAME_FRAMES_TOLERANCE
    assert end_to_end <= END_TO_END_TOLERANCE and live_difference <= END_TO_END_TOLERANCE
