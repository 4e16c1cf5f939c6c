"""One benchmark row: load a variant, check its output, time it with pytest-benchmark, record what a reader compares.

Each row's ``extra_info`` (kept in pytest-benchmark's JSON) holds p50, p90,
p95, p99, throughput, peak memory, provider and precision; extractor rows add
GFLOP/s and its share of the sgemm rate. Under ``--benchmark-disable`` a row
runs its variant once and checks the output: no timing is claimed.

Peak memory is Linux's resident high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs``): for a variant run in this process, how far it rose
above the process's size before the variant was loaded (what earlier rows
freed is handed back to the system first, so it is not silently reused);
for a command, the peak of that process alone.

GFLOP/s is at p50; its share of the sgemm rate compares the row's fastest
round with sgemm's fastest, both the least disturbed by other work.
"""

import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

KERAS = "Keras / TensorFlow CPU"
# Row variant → seconds of its fastest call, for the ratio checks: on shared cores the fastest round is the
# one least disturbed by other work, so ratios of fastest rounds hold where ratios of medians wander.
FASTEST: dict[str, float] = {}
MEDIAN: dict[str, float] = {}  # row variant → seconds of its median call: what its throughput column reports
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Row:
    """What one call of a variant is, for the table."""

    variant: str
    provider: str
    precision: str
    unit: str  # what the throughput counts: frames, clips, predictions, starts
    items: int = 1  # units per call
    gflop: float | None = None  # arithmetic per call, counted from the graph (extractor rows)
    example: bool = False  # the Keras example's own path: what the other rows' speed-ups are over


def measure(
    benchmark,
    row: Row,
    load: Callable[[], Callable],
    check: Callable,
    rounds: int,
    sgemm_gflops: float | None = None,
    warm_up: bool = True,
):
    """``load()`` gives the call to time; ``check(output)`` raises when an output is wrong.

    One untimed warm-up call, then ``rounds`` timed calls; the last output is
    checked before anything is recorded: a fast wrong answer fails the row.
    ``warm_up=False`` leaves out the warm-up, for rows whose one call takes
    minutes on models other rows already warmed. Quick mode
    (pytest-benchmark disabled) makes one call and checks it.
    """
    reset_peak_memory()
    before = resident_mib()
    call = load()
    check(benchmark.pedantic(call, rounds=rounds, warmup_rounds=int(warm_up), iterations=1))
    peak = peak_memory_mib() - before
    if benchmark.disabled:
        return
    seconds = np.array(benchmark.stats.stats.data)
    median = float(np.median(seconds))
    FASTEST[row.variant] = float(seconds.min())
    MEDIAN[row.variant] = median
    info = asdict(row)
    info.update(
        {f"p{q}_ms": float(np.percentile(seconds, q) * 1e3) for q in (50, 90, 95, 99)},
        throughput=row.items / median,
        peak_memory_mib=call.peak_memory_mib if isinstance(call, Command) else peak,
        memory_scope="process" if isinstance(call, Command) else "added in process",
    )
    if row.gflop is not None:
        info["gflops"] = row.gflop / median
        if sgemm_gflops:
            info.update(sgemm_gflops=sgemm_gflops, sgemm_share=row.gflop / seconds.min() / sgemm_gflops)
    benchmark.extra_info.update(info)


def reset_peak_memory() -> None:
    """Free what earlier rows left, hand it back to the system, and restart the high-water mark from here."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")


def _status_kib(field: str) -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def resident_mib() -> float:
    return _status_kib("VmRSS:") / 1024


def peak_memory_mib() -> float:
    return _status_kib("VmHWM:") / 1024


@dataclass
class Finished:
    stdout: str
    stderr: str
    peak_memory_mib: float


class Command:
    """A vclf console script as a row's call: each call runs it to the end and returns ``parse(Finished)``.

    ``peak_memory_mib`` is the highest of its runs' own peaks.
    """

    def __init__(self, *args, parse: Callable[[Finished], object]):
        self.args = [str(BIN / args[0]), *map(str, args[1:])]
        self.parse = parse
        self.peak_memory_mib = 0.0

    def __call__(self):
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            process = subprocess.Popen(self.args, stdout=out, stderr=err, text=True)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0), err.seek(0)
            finished = Finished(out.read(), err.read(), usage.ru_maxrss / 1024)
        if process.returncode != 0:
            raise AssertionError(f"{' '.join(self.args)} exited {process.returncode}:\n{finished.stderr[-2000:]}")
        self.peak_memory_mib = max(self.peak_memory_mib, finished.peak_memory_mib)
        return self.parse(finished)


def printed_results(labels: list[str]) -> Callable[[Finished], dict[str, np.ndarray]]:
    """A Command's parse for ``vclf-run --json``: each clip's source → its printed probabilities, in label order."""

    def parse(finished: Finished) -> dict[str, np.ndarray]:
        results = {}
        for line in finished.stdout.splitlines():
            result = json.loads(line)
            probabilities = {p["label"]: p["prob"] for p in result["predictions"]}
            results[result["source"]] = np.array([probabilities[label] for label in labels])
        return results

    return parse


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (``avx2``, ``avx512_vnni``, ...)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def graph_gflop(path: Path, batch: int = 1) -> float:
    """Multiply-adds of every Conv, MatMul and Gemm in an ONNX graph, times two, for ``batch`` inputs.

    Element-wise work (normalisation, activations, pooling) is left out: it is
    a small share of a convolutional network and not what the sgemm rate bounds.
    """
    model = onnx.load(str(path))
    for value in model.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_value = batch
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)
    }
    shapes.update({init.name: list(init.dims) for init in inferred.graph.initializer})
    flop = 0
    for node in inferred.graph.node:
        if node.op_type == "Conv":
            weight = shapes[node.input[1]]  # [out channels, in channels / groups, kh, kw]
            flop += 2 * int(np.prod(shapes[node.output[0]])) * int(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            inner = shapes[node.input[0]][-1]
            flop += 2 * int(np.prod(shapes[node.output[0]])) * inner
    return flop / 1e9


SGEMM_SIDE, SGEMM_ROUNDS = 2048, 20
SGEMM_SCRIPT = f"""
import time, numpy as np
a, b = (np.random.default_rng(i).random(({SGEMM_SIDE}, {SGEMM_SIDE}), dtype=np.float32) for i in (0, 1))
a @ b
times = []
for _ in range({SGEMM_ROUNDS}):
    start = time.perf_counter(); a @ b; times.append(time.perf_counter() - start)
print(2 * {SGEMM_SIDE} ** 3 / min(times) / 1e9)
"""


def sgemm_gflops() -> float:
    """The machine's float32 matrix-multiply rate (numpy's OpenBLAS, every core), fastest of 20.

    Measured in a child process without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE,
    so OpenBLAS picks the kernels this CPU is best at; everything else keeps
    the environment as it is.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    result = subprocess.run([sys.executable, "-c", SGEMM_SCRIPT], env=env, capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])
