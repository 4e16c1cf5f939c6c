"""Timing helpers for the benchmarks; results collect in TABLES for the summary at the end."""

import time

KERAS_VS_ONNX = ("Keras vs ONNX Runtime (CPU)", "keras", "onnx")
# title, baseline column, candidate column → [(what, baseline seconds, candidate seconds)]
TABLES: dict[tuple[str, str, str], list[tuple[str, float, float]]] = {}
LIVE_ROWS: list[tuple[str, float, float]] = []  # (what, p50 ms, p95 ms) per live prediction
RATIOS: list[tuple[str, str, float, str]] = []  # (what, the figures behind it, ratio, target)


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


def record(what: str, baseline_seconds: float, candidate_seconds: float, table: tuple[str, str, str] = KERAS_VS_ONNX) -> None:
    TABLES.setdefault(table, []).append((what, baseline_seconds, candidate_seconds))


def record_ratio(what: str, figures: str, ratio: float, target: str) -> None:
    RATIOS.append((what, figures, ratio, target))
