"""Running the vclf commands as a user would (to the end, or in the background), and what their errors must look like."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
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


class BackgroundCommand:
    """A vclf console script running while the test acts; its output lines collect as they come.

    It starts with SIGHUP at its default, whatever the suite was launched under (``nohup`` ignores
    it, and vclf keeps an ignored SIGHUP ignored), so a test's SIGHUP reaches it as a closed terminal's would.
    """

    def __init__(self, *args: str, env: dict | None = None):
        self.process = subprocess.Popen(
            [str(BIN / args[0]), *map(str, args[1:])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
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


def run_python(script: str, *args: str) -> subprocess.CompletedProcess:
    """``python -c script args...``: work that needs vclf.train or vclf.export, kept out of the test process."""
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"python -c {script.strip().splitlines()[0]!r}... exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, exit_code: int, *fragments: str) -> None:
    """The command exited ``exit_code`` with one line on stderr, no traceback, holding every fragment."""
    assert result.returncode == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
