"""Worker processes that decode clips, so a decoder crash costs one file, not the run.

Each worker decodes one clip at a time: a worker that dies (FFmpeg crashing
inside OpenCV, say) is reported for exactly the file it held, and a fresh
worker takes its place. Workers come from a ``forkserver`` context: they start
from a clean process that has imported OpenCV once, not from a fork of the
caller with ONNX Runtime's threads (``spawn`` where there is no forkserver). This
module imports no ONNX Runtime.
"""

import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

import cv2

from .errors import BadInputError, VclfError
from .video import Clip

Decode = Callable[[Path, str, int, int], Clip]
Decoded = tuple[int, Clip | VclfError]  # (position in the input, the clip or why it failed)
_DONE = object()  # the feeding thread's last message


def decode_worker(connection: Connection, decode: Decode, settings: tuple[str, int, int]) -> None:
    """A worker's loop: decode each path it is sent, send back the clip or the error.

    Ctrl-C is the caller's to handle: it stops the workers.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    while (task := connection.recv()) is not None:
        position, path = task
        connection.send((position, decode_or_error(decode, path, settings)))


def decode_or_error(decode: Decode, path: Path, settings: tuple[str, int, int]) -> Clip | VclfError:
    """``decode(path, *settings)``, or the error that stopped it, for this file only."""
    try:
        return decode(path, *settings)
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
    """One decoding process and the task it holds."""

    def __init__(self, context, decode: Decode, settings: tuple[str, int, int]):
        self.connection, child = context.Pipe()
        self.process = context.Process(target=decode_worker, args=(child, decode, settings), daemon=True)
        self.process.start()
        child.close()
        self.task: tuple[int, Path] | None = None

    def send(self, task: tuple[int, Path]) -> None:
        self.task = task
        self.connection.send(task)

    def crash(self) -> Decoded:
        """The held task, failed with the way the process ended."""
        position, path = self.task
        code = self.process.exitcode
        cause = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return position, BadInputError(f"{path}: the decoder crashed on this file ({cause})")

    def stop(self) -> None:
        try:
            self.connection.send(None)
        except OSError:  # the process is gone already
            pass
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.connection.close()


class DecoderPool:
    """Worker processes decoding ``files`` with ``decode(path, *settings)``, handing back Decoded pairs.

    A thread of the caller's process feeds the workers, so they keep decoding
    while the caller runs inference. At most ``window`` files past the first
    one not yet ``release``d are decoded ahead, so memory stays bounded however
    slow one file is. ``decode`` must be importable in the workers (a
    module-level function).
    """

    def __init__(self, files: Sequence[Path], settings: tuple[str, int, int], workers: int, window: int, decode: Decode):
        self._pending = list(enumerate(files))[::-1]  # popped from the end: first file first
        self._settings = settings
        self._decode = decode
        self._window = window
        self._released = 0
        self._results: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._context = worker_context()
        self._workers = [self._start_worker() for _ in range(max(1, min(workers, len(files))))]
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
            worker.stop()

    def _start_worker(self) -> _Worker:
        return _Worker(self._context, self._decode, self._settings)

    def _feed(self) -> None:
        try:
            while not self._stopping.is_set() and (self._pending or any(w.task is not None for w in self._workers)):
                self._hand_out_tasks()
                waited_on = [w.connection for w in self._workers] + [w.process.sentinel for w in self._workers]
                self._collect(wait(waited_on, timeout=0.1))
        except BaseException as exc:  # reaches the caller through get()
            self._results.put(exc)
        self._results.put(_DONE)

    def _hand_out_tasks(self) -> None:
        for worker in self._workers:
            if worker.task is None and self._pending and self._pending[-1][0] < self._released + self._window:
                worker.send(self._pending.pop())

    def _collect(self, ready: list) -> None:
        for index, worker in enumerate(self._workers):
            if worker.connection not in ready and worker.process.sentinel not in ready:
                continue
            try:
                decoded = worker.connection.recv()  # a dead worker's pipe is at its end: no wait
            except EOFError:
                worker.stop()
                if worker.task is not None:
                    self._results.put(worker.crash())
                self._workers[index] = self._start_worker()
            else:
                self._results.put(decoded)
                worker.task = None
