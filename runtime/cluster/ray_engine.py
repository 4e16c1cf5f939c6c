"""Ray: join a cluster (or start one on this machine) and run every clip of a list through it, in input order.

```
paths ──► decoding tasks (read_clip, one CPU each, on the worker's node when it has one free) ──► object store
      ──► worker actors (one model each; one GPU each where the cluster has GPUs) ──► results in input order
```

Ray is imported only here and in the modules that run on it (``pip install
'vclf[ray]'``). Workers are built from the paths the caller gives (a bundle,
a run dir), so on a cluster those paths, the clips and vclf itself must be
present on every node at the same place.
"""

import logging
import os
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..clips.decoders import Decode, decode_or_error
from ..errors import BadInputError, MissingPackageError, SourceUnavailableError, VclfError, first_line
from ..providers import DeviceUnavailableError
from ..sampling import ClipSampling
from ..video import read_clip

PER_WORKER = 4  # calls decoded or queued ahead per worker: a few MB a clip, and no worker waits for work
RESTARTS = 3  # times a lost worker is restarted and its calls run again
DECODE_RETRIES = 1  # times a decoding task whose process died runs again (a file that crashes the decoder crashes it again)
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Cluster:
    """Where work runs: the Ray cluster at ``address`` (None: a local runtime on this machine's CPUs), with ``workers`` actors."""

    address: str | None = None
    workers: int | None = None  # None: one per GPU, or one per node where the cluster has no GPU


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingPackageError("--engine ray: Ray is not installed here (pip install 'vclf[ray]')") from None
    return ray


def check_reachable(address: str) -> None:
    """A SourceUnavailableError unless something listens at ``address`` (Ray itself retries for minutes)."""
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SourceUnavailableError(f"{address}: not a Ray address (host:port of the cluster's head, or auto)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise SourceUnavailableError(f"{address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def check_cluster(address: str | None) -> str | None:
    """Ray installed and the cluster at ``address`` (else ``$RAY_ADDRESS``) answering; the address to join, None to start one."""
    import_ray()
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        check_reachable(address)
    return address


@contextmanager
def ray_runtime(address: str | None) -> Iterator[None]:
    """Ray connected for the block: the cluster at ``address`` or ``$RAY_ADDRESS``, else a runtime on this machine's CPUs.

    Ray's own logging is kept to errors, and the workers' output and the
    cluster's events stay on the nodes, so vclf's lines are what the user reads. A runtime this process
    already joined (``ray.init`` by the caller) is used as it is and left running.
    """
    ray = import_ray()
    if ray.is_initialized():
        quiet_cluster_events(ray)
        yield
        return
    address = check_cluster(address)
    started = {} if address else {"num_cpus": os.cpu_count()}
    if not address:
        loopback_only(ray)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False, **started)
    except ConnectionError as exc:
        raise SourceUnavailableError(f"{address}: cannot join the Ray cluster ({first_line(exc)})") from None
    finally:
        keep_sigterm_handler(sigterm)
    quiet_cluster_events(ray)
    try:
        yield
    finally:
        ray.shutdown()


def keep_sigterm_handler(handler) -> None:
    """Put back the SIGTERM handler ``ray.init`` replaces (its own exits 15 at once, before the run's cleanup),
    so a Ray run stops as a local one does."""
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def loopback_only(ray) -> None:
    """Make the Ray runtime this process starts for itself listen on 127.0.0.1 only: Ray's services are unauthenticated.

    Ray (2.60) binds its servers to the node's address and, asked for
    127.0.0.1, replaces it with the machine's routable address, unless
    clusters are switched off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read
    when ray is imported and by every process it starts); then the node's
    address is the loopback one (checked with ``ss -ltn``: GCS, raylet,
    workers and the runtime-env agent on 127.0.0.1).
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray._private.ray_constants.ENABLE_RAY_CLUSTER = False  # ray is imported already: its copy of the setting


def quiet_cluster_events(ray) -> None:
    """Stop the driver printing the cluster's events ("(raylet) A worker died ...") to stdout, among the JSON lines.

    ``log_to_driver=False`` keeps the workers' output away, not these; Ray
    has no public switch for them, so this is the flag its own debugger
    (``ray.util.rpdb``) turns off. The events stay in Ray's logs on the nodes.
    """
    ray._private.worker._worker_logs_enabled = False


def cluster_gpus() -> int:
    return int(import_ray().cluster_resources().get("GPU", 0))


def default_actors() -> int:
    """One actor per GPU; without GPUs one per node (each model session uses its node's cores)."""
    ray = import_ray()
    return cluster_gpus() or max(1, sum(1 for node in ray.nodes() if node["Alive"]))


def describe_cluster(workers: int) -> str:
    """One line: the cluster's size and the workers on it."""
    resources = import_ray().cluster_resources()
    return f"Ray: {workers} workers; cluster of {int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs"


class WorkerHost:
    """Runs in a Ray actor: a worker built by ``make(*args)``, called with a few decoded clips at a time.

    The worker takes a list of clips and answers for each, in order (sharing
    model batches between them). A worker that cannot be built keeps its error
    for ``problem`` rather than killing the actor, so the driver reports it as
    one line (a bad bundle, say).
    """

    def __init__(self, make: Callable, *args):
        try:
            self.worker, self.error = make(*args), None
        except VclfError as exc:
            self.worker, self.error = None, exc

    def problem(self) -> VclfError | None:
        return self.error

    def pid(self) -> int:
        return os.getpid()

    def node(self) -> str:
        return import_ray().get_runtime_context().get_node_id()

    def run(self, *decoded) -> list:
        """An answer per decoded clip; a clip that failed to decode gives its VclfError, a worker's VclfError goes to all."""
        clips = [item for item in decoded if not isinstance(item, VclfError)]
        try:
            answers = iter(self.worker(clips) if clips else [])
        except VclfError as exc:
            return [item if isinstance(item, VclfError) else exc for item in decoded]
        return [item if isinstance(item, VclfError) else next(answers) for item in decoded]


class ClusterMap:
    """``make(*args)`` on Ray actors, answering for every clip of ``paths`` once Ray tasks have decoded it.

    ``sampling`` is ``read_clip``'s ClipSampling.
    Consecutive clips go to a worker ``per_call`` at a time, to the worker
    with the fewest waiting. At most ``PER_WORKER`` calls per worker are
    decoded or queued ahead of the first one not yet taken, so memory stays
    bounded however many paths there are. A clip is decoded on its worker's
    node where that node has a CPU free, so its frames reach the worker
    through shared memory rather than the network.

    A worker whose process dies (killed, out of memory, its node lost) is
    restarted by Ray and the calls it held run again there (``max_restarts``,
    ``max_task_retries``); a decoding task whose process dies runs again
    (``max_retries``). Each position's answer is read from the one call made
    for it, so a rerun neither loses a clip nor adds one; a call that fails
    for good is made again clip by clip, so the failure is one clip's.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        sampling: ClipSampling,
        make: Callable,
        args: tuple,
        workers: int | None = None,
        per_call: int = 1,
        decode: Decode = read_clip,
    ):
        ray = import_ray()
        self.paths, self.sampling, self.per_call, self._decode = list(paths), sampling, per_call, decode
        self._decoding = ray.remote(decode_or_error)
        gpus, workers = cluster_gpus(), workers or default_actors()
        if workers > gpus > 0:
            raise DeviceUnavailableError(f"--workers {workers}: each worker takes a GPU and the cluster has {gpus}")
        # No CPU kept (given options, Ray would keep one per actor, and decoding tasks would wait for it forever).
        host = ray.remote(WorkerHost).options(
            max_restarts=RESTARTS, max_task_retries=RESTARTS, scheduling_strategy="SPREAD", num_cpus=0, num_gpus=int(gpus > 0)
        )
        self.actors = [host.remote(make, *args) for _ in range(workers)]
        try:
            problems = [p for p in ray.get([actor.problem.remote() for actor in self.actors]) if p is not None]
            self._nodes = ray.get([actor.node.remote() for actor in self.actors])
        except ray.exceptions.RayError as exc:
            self.close()
            raise VclfError(f"Ray: a worker could not start ({first_line(exc)})") from None
        if problems:
            self.close()
            raise problems[0]

    def close(self) -> None:
        ray = import_ray()
        for actor in self.actors:
            ray.kill(actor)

    def results(self) -> Iterator[tuple[int, object]]:
        """``(position, answer or VclfError)`` for every path, in input order."""
        calls = [range(start, min(start + self.per_call, len(self.paths))) for start in range(0, len(self.paths), self.per_call)]
        waiting: deque[tuple[int, object]] = deque()  # (actor index, reference to its answers), in input order
        load = [0] * len(self.actors)
        submitted = 0
        for positions in calls:
            while submitted < len(calls) and len(waiting) < PER_WORKER * len(self.actors):
                waiting.append(self._submit(calls[submitted], load))
                submitted += 1
            index, answers = waiting.popleft()
            load[index] -= 1
            yield from zip(positions, self._answers(answers, positions, load))

    def _submit(self, positions: range, load: list[int]) -> tuple[int, object]:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        index = load.index(min(load))
        load[index] += 1
        near = NodeAffinitySchedulingStrategy(self._nodes[index], soft=True)
        decoding = self._decoding.options(num_cpus=1, max_retries=DECODE_RETRIES, scheduling_strategy=near)
        decoded = [decoding.remote(self._decode, self.paths[position], self.sampling) for position in positions]
        return index, self.actors[index].run.remote(*decoded)

    def _answers(self, reference, positions: range, load: list[int]) -> list:
        """The call's answers; a call that failed for good is made again per clip (one clip: its error)."""
        ray = import_ray()
        try:
            return ray.get(reference)
        except ray.exceptions.RayError as exc:
            if len(positions) > 1:
                alone = [self._submit(range(position, position + 1), load) for position in positions]
                answers = [self._answers(answer, range(position, position + 1), load)[0] for (_, answer), position in zip(alone, positions)]
                for index, _ in alone:
                    load[index] -= 1
                return answers
            path = self.paths[positions[0]]
            if isinstance(exc, ray.exceptions.WorkerCrashedError):
                return [BadInputError(f"{path}: the decoder crashed on this file ({DECODE_RETRIES + 1} times)")]
            return [VclfError(f"{path}: lost on the Ray cluster ({first_line(exc)})")]
