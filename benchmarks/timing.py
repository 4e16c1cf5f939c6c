"""Timing helpers for the benchmarks; results collect in ROWS for the summary table."""

import time

ROWS: list[tuple[str, float, float]] = []  # (what, keras seconds, onnx seconds)
RATIOS: list[tuple[str, str, float, str]] = []  # (what, the figures behind it, ratio, target)


def best_seconds(call, repeat: int = 5) -> float:
    """Fastest of ``repeat`` timed calls, after one warm-up call."""
    call()
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return min(timings)


def record(what: str, keras_seconds: float, onnx_seconds: float) -> None:
    ROWS.append((what, keras_seconds, onnx_seconds))


def record_ratio(what: str, figures: str, ratio: float, target: str) -> None:
    RATIOS.append((what, figures, ratio, target))
