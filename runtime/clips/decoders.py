"""Worker processes that decode clips, so a decoder crash costs one file, not the run.

Each worker decodes one clip at a time: a worker that dies (FFmpeg crashing
inside OpenCV, say), that cannot start, or that passes the file's decode
deadline (a hung network mount, a decoder stuck in a loop: it is killed) is
reported for exactly the file it held, and a fresh worker takes its place.
Workers end when the process that runs the pool dies, even by ``kill -9``. Workers come from a ``forkserver`` context: they start
from a clean process that has imported OpenCV once, not from a fork of the
caller with ONNX Runtime's threads (``spawn`` where there is no forkserver). This
module imports no ONNX Runtime.
"""

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

import cv2

from ..errors import BadInputError, VclfError
from ..sampling import ClipSampling
from ..video import Clip

Decode = Callable[[Path, ClipSampling], Clip]
Decoded = tuple[int, Clip | VclfError]  # (position in the input, the clip or why it failed)
_DONE = object()  # the feeding thread's last message
SIZE, DONE = "size", "done"  # a worker's two messages per file
DEADLINE_BASE_S = 30.0
DEADLINE_BYTES_PER_S = 8 << 20
OWNER_CHECK_S = 0.5
_PR_SET_PDEATHSIG = 1


def decode_worker(connection: Connection, decode: Decode, sampling: ClipSampling, owner: int) -> None:
    """A worker's loop: decode each path it is sent, send back its size, then the clip or the error.

    Ctrl-C is the caller's to handle: it stops the workers. The worker ends
    when ``owner`` (the process that runs the pool) dies, however it dies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with_owner(owner)
    cv2.setNumThreads(1)
    try:
        while (task := connection.recv()) is not None:
            position, path = task
            connection.send((SIZE, position, file_size(path)))
            connection.send((DONE, position, decode_or_error(decode, path, sampling)))
    except (EOFError, OSError):  # the owner went away: nothing left to decode for
        pass


def end_with_owner(owner: int) -> None:
    """Make this process end when ``owner`` does.

    On Linux the kernel sends SIGKILL when this process's parent (the
    forkserver) dies (``prctl(PR_SET_PDEATHSIG)``); everywhere a thread checks
    every ``OWNER_CHECK_S`` that ``owner`` still runs, for the case where the
    forkserver outlives it.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(OWNER_CHECK_S)
            if os.getppid() != parent or not _alive(owner):
                os._exit(1)

    threading.Thread(target=watch, name="vclf-owner-check", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user took the number
        return False
    return True


def file_size(path: Path) -> int | None:
    """The file's size in bytes, for its deadline; None when it cannot be read."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return None


def default_deadline(size: int | None) -> float:
    """Seconds a file may take to decode: ``DEADLINE_BASE_S``, plus 1 s per ``DEADLINE_BYTES_PER_S``.

    A clip's decoding reads at most the whole file once (seeks read less); an
    edge device's decoder runs well above 8 MiB/s of compressed video, so only
    a decoder that is stuck (a hung network mount, a loop in FFmpeg) reaches it.
    """
    return DEADLINE_BASE_S + (size or 0) / DEADLINE_BYTES_PER_S


def decode_or_error(decode: Decode, path: Path, sampling: ClipSampling) -> Clip | VclfError:
    """``decode(path, sampling)``, or the error that stopped it, for this file only."""
    try:
        return decode(path, sampling)
    except VclfError as exc:
        return exc
    except Exception as exc:  # as the single-file path reports it
        return VclfError(f"{path}: unexpected error: {type(exc).__name__}: {exc}")


def worker_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers forked from a process that has imported this module), else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class _Worker:
    """One decoding process, the task it holds and when that task's time is up."""

    def __init__(self, context, decode: Decode, sampling: ClipSampling):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=decode_worker, args=(child, decode, sampling, os.getpid()), daemon=True)
        try:
            self.process.start()
        except BaseException:
            self.connection.close()
            raise
        finally:
            child.close()
        self.task: tuple[int, Path] | None = None
        self.sent, self.timeout, self.deadline = 0.0, DEADLINE_BASE_S, float("inf")

    def send(self, task: tuple[int, Path], timeout: float | None) -> None:
        self.task, self.sent = task, time.monotonic()
        self.timeout = timeout or DEADLINE_BASE_S
        self.deadline = self.sent + self.timeout
        self.connection.send(task)

    def sized(self, size: int | None, timeout: float | None) -> None:
        """The file's size came: a deadline without ``timeout`` grows with it."""
        if timeout is None:
            self.timeout = default_deadline(size)
            self.deadline = self.sent + self.timeout

    def crash(self) -> Decoded:
        """The held task, failed with the way the process ended."""
        assert self.task is not None  # a worker crashes on the task it holds
        position, path = self.task
        code = self.process.exitcode
        cause = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return position, BadInputError(f"{path}: the decoder crashed on this file ({cause})")

    def timed_out(self) -> Decoded:
        assert self.task is not None  # only a worker with a task has a deadline
        position, path = self.task
        return position, BadInputError(f"{path}: decoder timed out after {self.timeout:.0f} s")

    def stop(self, wait: float = 2) -> None:
        """Ask the process to end (at once when it holds a task: it may never answer), then make sure it has."""
        if self.task is None:
            try:
                self.connection.send(None)
            except OSError:  # the process is gone already
                pass
            self.process.join(timeout=wait)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.connection.close()


class DecoderPool:
    """Worker processes decoding ``files`` with ``decode(path, sampling)``, handing back Decoded pairs.

    A thread of the caller's process feeds the workers, so they keep decoding
    while the caller runs inference. At most ``window`` files past the first
    one not yet ``release``d are decoded ahead, so memory stays bounded however
    slow one file is. A file may take ``timeout`` seconds to decode
    (``default_deadline`` of its size when None). ``decode`` must be
    importable in the workers (a module-level function).
    """

    def __init__(
        self,
        files: Sequence[Path],
        sampling: ClipSampling,
        workers: int,
        window: int,
        decode: Decode,
        timeout: float | None = None,
    ):
        self._pending = list(enumerate(files))[::-1]  # popped from the end: first file first
        self._sampling = sampling
        self._decode = decode
        self._window = window
        self._timeout = timeout
        self._released = 0
        self._results: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._context = worker_context()
        self._start_failure = ""
        self._workers: list[_Worker | None] = [None] * max(1, min(workers, len(files)))
        for index in range(len(self._workers)):
            self._workers[index] = self._start_worker()
        self._thread = threading.Thread(target=self._feed, name="vclf-decode", daemon=True)
        self._thread.start()

    def release(self, done: int) -> None:
        """The first ``done`` files are reported; decode up to ``window`` beyond them."""
        self._released = done

    def get(self, block: bool = True) -> Decoded | None:
        """The next decoded file in finishing order; None when all are out or (unblocked) none is ready."""
        try:
            item = self._results.get(block)
        except queue.Empty:
            return None
        if item is _DONE:
            self._results.put(_DONE)
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
        for worker in self._workers:
            if worker is not None:
                worker.stop()

    def _start_worker(self) -> _Worker | None:
        """A new worker, or None when it cannot start (the next task then tries again, and fails alone)."""
        try:
            return _Worker(self._context, self._decode, self._sampling)
        except Exception as exc:
            self._start_failure = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            return None

    def _busy(self) -> bool:
        return any(w is not None and w.task is not None for w in self._workers)

    def _feed(self) -> None:
        try:
            while not self._stopping.is_set() and (self._pending or self._busy()):
                self._hand_out_tasks()
                live = [w for w in self._workers if w is not None]
                waited_on = [w.connection for w in live] + [w.process.sentinel for w in live]
                self._collect(wait(waited_on, timeout=0.1) if waited_on else [])
                self._expire()
        except BaseException as exc:  # reaches the caller through get()
            self._results.put(exc)
        self._results.put(_DONE)

    def _due(self) -> bool:
        return bool(self._pending) and self._pending[-1][0] < self._released + self._window

    def _hand_out_tasks(self) -> None:
        for index, worker in enumerate(self._workers):
            if not self._due():
                return
            if worker is None:
                worker = self._workers[index] = self._start_worker()
                if worker is None:
                    position, path = self._pending.pop()
                    self._results.put((position, BadInputError(f"{path}: no decoder could start ({self._start_failure})")))
                    continue
            if worker.task is None:
                try:
                    worker.send(self._pending.pop(), self._timeout)
                except OSError:  # it died before the task reached it
                    self._replace(index, worker.crash())

    def _collect(self, ready: list) -> None:
        for index, worker in enumerate(self._workers):
            if worker is None or (worker.connection not in ready and worker.process.sentinel not in ready):
                continue
            try:
                while worker.connection.poll():  # a dead worker's pipe is at its end: no wait
                    kind, position, value = worker.connection.recv()
                    if kind == SIZE:
                        worker.sized(value, self._timeout)
                    else:
                        self._results.put((position, value))
                        worker.task = None
            except (EOFError, OSError):
                self._replace(index, worker.crash() if worker.task is not None else None)

    def _expire(self) -> None:
        now = time.monotonic()
        for index, worker in enumerate(self._workers):
            if worker is not None and worker.task is not None and now > worker.deadline:
                self._replace(index, worker.timed_out())

    def _replace(self, index: int, failed: Decoded | None) -> None:
        """End the worker at ``index`` (killed if it still runs); its task fails with ``failed``; a new one starts when a task is due."""
        worker = self._workers[index]
        if worker is not None:
            worker.stop(wait=0)
        self._workers[index] = None
        if failed is not None:
            self._results.put(failed)
