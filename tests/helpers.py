"""Helpers for tests: running the commands as a user would (to the end, or in the background), frames that tell their index, a decoder that crashes."""

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from vclf.runtime.engine import Engine
from vclf.runtime.video import Clip, read_clip

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
SESSION_IMAGE_SIZE = 112  # the session run's frames: a quarter of 224's extraction cost
# --events on any model: every top label that holds 1 s is an action (the 2 s defaults are for a model
# that knows the actions; the tests' short replays of a random-weight model seldom hold one label that long)
EVERY_ACTION = ("--events", "--on", "0", "--off", "0", "--min-duration", "1", "--min-gap", "1")


def run_command(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a vclf console script as a user would; returns its output."""
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def build_distributions(out: Path) -> tuple[Path, Path]:
    """``python -m build``: the sdist, then the wheel built from that sdist, into ``out``; returns (sdist, wheel).

    Run from ``out``: a ``build/`` folder in the checkout would shadow the build package.
    """
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.whl"), *out.glob("*.tar.gz")]:
        old.unlink()
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"python -m build exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return sdist, wheel


def extract_seconds(engine: Engine) -> float:
    """What one live step's extractor call on one frame takes on this machine now."""
    frame = np.zeros((engine.bundle.image_size,) * 2 + (3,), np.uint8)[None]
    engine.extract(frame)
    started = time.perf_counter()
    for _ in range(3):
        engine.extract(frame)
    return (time.perf_counter() - started) / 3


def replay_fps(engine: Engine) -> float:
    """A frame rate at which this machine classifies every stride-th frame of a replay with
    time to spare: a loaded machine gets a slower replay, not dropped frames."""
    return float(np.clip(engine.bundle.live_stride / (2 * extract_seconds(engine)), 2, 20))


def counting_frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Frames whose grey level tells their index: frame i is ``4 * i`` (mod 256)."""
    return [np.full((height, width, 3), (4 * i) % 256, np.uint8) for i in range(count)]


class BackgroundCommand:
    """A vclf console script running while the test acts; its output lines collect as they come."""

    def __init__(self, *args: str, env: dict | None = None):
        self.process = subprocess.Popen(
            [str(BIN / args[0]), *map(str, args[1:])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True)
            for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for_lines(self, count: int, timeout: float) -> None:
        """Until stdout has ``count`` lines; fails the test after ``timeout`` s or if the command ends first."""
        deadline = time.monotonic() + timeout
        while len(self.stdout) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.finish(timeout=5)
                raise AssertionError(f"{len(self.stdout)} of {count} lines came; stderr:\n" + "\n".join(self.stderr[-20:]))
            time.sleep(0.05)

    def wait_for_stderr(self, fragment: str, timeout: float) -> None:
        """Until a stderr line holds ``fragment``; fails the test after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not any(fragment in line for line in self.stderr):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {fragment!r} on stderr:\n" + "\n".join(self.stderr[-20:]))
            time.sleep(0.05)

    def finish(self, timeout: float) -> int:
        """Wait for the command to end (killing it after ``timeout`` s); its exit status."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join()
        return self.process.returncode


def decode_or_abort(path: Path, *settings) -> Clip:
    """``read_clip``, except that a file named ``*crash*`` kills the process, as a decoder crash would."""
    if "crash" in Path(path).name:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
        os.abort()
    return read_clip(path, *settings)


def decode_or_hang(path: Path, *settings) -> Clip:
    """``read_clip``, except that on a file named ``*hang*`` it never returns, as a decoder on a hung network mount."""
    if "hang" in Path(path).name:
        threading.Event().wait()
    return read_clip(path, *settings)


HANGING_RUN = Path(__file__).parent / "hanging_run.py"  # vclf-run with decode_or_hang as its folder decoder


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, theirs, ...), from /proc."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def listening_addresses(pids: list[int]) -> set[str]:
    """The TCP addresses (``ip:port``) that these processes listen on, from /proc."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                found.add(_proc_address(fields[1]))
    return found


def _proc_address(text: str) -> str:
    """``0100007F:1F90`` → ``127.0.0.1:8080``; IPv6 (32 hex digits) as its groups, ``::ffff:127.0.0.1`` folded to the IPv4."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # /proc prints each 32-bit word little-endian
    if len(words) == 16 and words[:12] == b"\0" * 10 + b"\xff\xff":
        words = words[12:]
    if len(words) == 4:
        address = ".".join(str(b) for b in words)
    else:
        address = ":".join(words[i : i + 2].hex() for i in range(0, 16, 2))
    return f"{address}:{int(port, 16)}"
