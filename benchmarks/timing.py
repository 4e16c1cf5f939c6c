"""Timing helpers for the benchmarks; results collect in ROWS for the summary table."""

import time

ROWS: list[tuple[str, float, float]] = []  # (what, keras seconds, onnx seconds)
LIVE_ROWS: list[tuple[str, float, float]] = []  # (what, p50 ms, p95 ms) per live prediction


def call_seconds(call, repeat: int = 5) -> list[float]:
    """Seconds of each of ``repeat`` timed calls, after one warm-up call."""
    call()
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return timings


def best_seconds(call, repeat: int = 5) -> float:
    """Fastest of ``repeat`` timed calls, after one warm-up call."""
    return min(call_seconds(call, repeat))


def record(what: str, keras_seconds: float, onnx_seconds: float) -> None:
    ROWS.append((what, keras_seconds, onnx_seconds))
