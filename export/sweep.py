"""The accuracy/latency trade-off: every backbone × sequence length fitted, exported and measured on one dataset.

Each combination is fitted on the same split (the dataset's test clips; the
validation split follows from the seed, the same for all), exported fp32 and
int8, then every bundle is measured through the runtime as ``vclf-run``
serves it: test accuracy (``evaluate_bundle``), extractor time per frame and
per clip (``Engine.extract`` on 1 and on T frames) and the live cost of one
new frame (``StreamingClassifier.step``: one frame plus the head). Timings
are taken in rounds over all bundles, so load on the machine hits each alike.

Finished runs and bundles in ``OUT/runs`` and ``OUT/bundles`` are reused, and
so are the guard's refusals, so a sweep that was stopped continues where it was.
"""

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import product
from pathlib import Path

import numpy as np

from vclf.runtime.bundle import BUNDLE_FILE, Bundle, load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.files import atomic_write
from vclf.runtime.live.loop import StreamingClassifier
from vclf.train import run as rd
from vclf.train.backbones import BACKBONES, SettingError, check_backbone_settings
from vclf.train.evaluate import evaluate_bundle
from vclf.train.fit import ExtractorSettings, fit

from .bundle import export_run
from .guard import GuardError

SWEPT_PRECISIONS = ("fp32", "int8")  # what the sweep exports each combination at (the CPU's two)
TABLE = "sweep"  # sweep.csv, sweep.md, sweep.png
REFUSED = ".refused"  # beside the bundle the guard refused: its reason, so a second sweep does not try again


@dataclass(frozen=True)
class SweepRow:
    backbone: str
    seq_len: int
    precision: str
    image_size: int
    feature_size: int
    test_accuracy: float
    extractor_ms_per_frame: float  # median, one frame per call
    extractor_ms_per_clip: float  # median, the clip's T frames in one call
    live_ms_p50: float  # one new frame through the extractor, then the head on the window
    live_ms_p95: float
    bundle_mb: float

    @property
    def label(self) -> str:
        return f"{self.backbone} T{self.seq_len} {self.precision}"


def combination_name(extractor: ExtractorSettings) -> str:
    return f"{extractor.backbone}-T{extractor.sequence_length}"


def sweep(
    data_dir: Path,
    out_dir: Path,
    extractors: list[ExtractorSettings],
    weights: str,
    epochs: int | None,
    seed: int,
    cache_dir: Path | None,
    repeats: int,
    report: Callable[[str], None] = print,
) -> list[SweepRow]:
    """Fit, export and measure every extractor setting; writes the table to ``out_dir`` and returns its rows."""
    for extractor in extractors:  # every setting checked before hours of work start
        check_backbone_settings(extractor.backbone, extractor.image_size, extractor.sequence_length)
    bundles, refused = [], []
    for extractor in extractors:
        run_dir = out_dir / "runs" / combination_name(extractor)
        check_reusable(run_dir, data_dir, extractor, weights, seed)
        if not (run_dir / rd.METRICS).is_file():
            report(f"Fitting {combination_name(extractor)}")
            fit(data_dir, run_dir, "default", weights, epochs, (run_dir / rd.CONFIG).is_file(), seed, cache_dir, extractor)
        for precision in SWEPT_PRECISIONS:
            name = f"{combination_name(extractor)}-{precision}"
            bundle_dir, refusal = out_dir / "bundles" / name, out_dir / "bundles" / f"{name}{REFUSED}"
            if not (bundle_dir / BUNDLE_FILE).is_file() and not refusal.is_file():
                report(f"Exporting {combination_name(extractor)} {precision}")
                try:
                    export_run(run_dir, bundle_dir, precision, report=report)
                except GuardError as error:
                    reason = f"{combination_name(extractor)} {precision}: {error}"
                    atomic_write(refusal, lambda tmp, reason=reason: tmp.write_text(reason))
            if refusal.is_file():
                refused.append(refusal.read_text())
                report(refused[-1])
            else:
                bundles.append(load_bundle(bundle_dir))
    accuracy = {bundle.path: evaluate_bundle(data_dir, bundle.path, "test", "cpu")["accuracy"] for bundle in bundles}
    report(f"Timing {len(bundles)} bundles, {repeats} rounds")
    timings = measure_latency(bundles, repeats)
    rows = [table_row(bundle, accuracy[bundle.path], timings[bundle.path]) for bundle in bundles]
    write_table(rows, refused, out_dir)
    return rows


def check_reusable(run_dir: Path, data_dir: Path, extractor: ExtractorSettings, weights: str, seed: int) -> None:
    """A run already in the sweep's folder must be the one this sweep asks for."""
    if not (run_dir / rd.CONFIG).is_file():
        return
    config = json.loads((run_dir / rd.CONFIG).read_text())
    wanted = {"data_dir": str(Path(data_dir).resolve()), "weights": weights, "seed": seed, **asdict(extractor)}
    differing = [key for key, value in wanted.items() if config.get(key) != value]
    if differing:
        raise SettingError(f"{run_dir}: made with another {', '.join(differing)}; choose another --out")


def measure_latency(bundles: list[Bundle], repeats: int) -> dict[Path, dict[str, np.ndarray]]:
    """Milliseconds per call for each bundle on the CPU: ``frame`` and ``clip`` extraction, and a ``live`` step.

    Every bundle gets one warm-up round, then ``repeats`` rounds that visit the bundles in turn. Each
    timed call follows an untimed one of its kind: the bundle's weights are back in the CPU's caches,
    as in a steady stream, whatever bundle ran before.
    """
    rng = np.random.default_rng(0)
    subjects = []
    for bundle in bundles:
        engine = Engine(bundle, "cpu", notice=lambda _: None)
        streaming = StreamingClassifier(engine)
        frames = rng.integers(0, 256, (bundle.sequence_length, bundle.image_size, bundle.image_size, 3), np.uint8)
        for frame in frames:  # a full window, as in steady state
            streaming.step(frame)
        calls = {
            "frame": lambda engine=engine, frames=frames: engine.extract(frames[:1]),
            "clip": lambda engine=engine, frames=frames: engine.extract(frames),
            "live": lambda streaming=streaming, frames=frames: streaming.step(frames[0]),
        }
        subjects.append((bundle.path, calls))
    timings = {path: {what: [] for what in calls} for path, calls in subjects}
    for round_ in range(repeats + 1):
        for path, calls in subjects:
            for what, call in calls.items():
                call()
                start = time.perf_counter()
                call()
                if round_:
                    timings[path][what].append((time.perf_counter() - start) * 1e3)
    return {path: {what: np.array(ms) for what, ms in spent.items()} for path, spent in timings.items()}


def table_row(bundle: Bundle, accuracy: float, ms: dict[str, np.ndarray]) -> SweepRow:
    size = sum(path.stat().st_size for path in bundle.path.iterdir() if path.is_file())
    return SweepRow(
        backbone=bundle.backbone,
        seq_len=bundle.sequence_length,
        precision=bundle.precision,
        image_size=bundle.image_size,
        feature_size=bundle.feature_size,
        test_accuracy=round(accuracy, 4),
        extractor_ms_per_frame=round(float(np.median(ms["frame"])), 3),
        extractor_ms_per_clip=round(float(np.median(ms["clip"])), 3),
        live_ms_p50=round(float(np.percentile(ms["live"], 50)), 3),
        live_ms_p95=round(float(np.percentile(ms["live"], 95)), 3),
        bundle_mb=round(size / 2**20, 2),
    )


def write_table(rows: list[SweepRow], refused: list[str], out_dir: Path) -> None:
    """``sweep.csv``, ``sweep.md`` and ``sweep.png`` (accuracy against extractor time per clip, one labelled point per row).

    ``refused`` are the guard's refusals of int8 extractors: no bundle, so no row; the Markdown lists them.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / f"{TABLE}.csv", lambda tmp: tmp.write_text(table_csv(rows)))
    atomic_write(out_dir / f"{TABLE}.md", lambda tmp: tmp.write_text(table_markdown(rows, refused)))
    atomic_write(out_dir / f"{TABLE}.png", lambda tmp: save_scatter(rows, tmp))


def table_csv(rows: list[SweepRow]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(asdict(rows[0])))
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    return text.getvalue()


def table_markdown(rows: list[SweepRow], refused: list[str]) -> str:
    header = (
        "| backbone | T | precision | image | features | test accuracy | extractor ms/frame | extractor ms/clip "
        "| live ms/new frame p50 | p95 | bundle MB |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r.backbone} | {r.seq_len} | {r.precision} | {r.image_size} | {r.feature_size} | {r.test_accuracy:.3f} "
            f"| {r.extractor_ms_per_frame:.2f} | {r.extractor_ms_per_clip:.2f} | {r.live_ms_p50:.2f} | {r.live_ms_p95:.2f} "
            f"| {r.bundle_mb:.1f} |"
        )
    lines += ["", "Refused by the precision guard (no bundle written):", *[f"- {line}" for line in refused]] if refused else []
    return "\n".join(lines) + "\n"


def save_scatter(rows: list[SweepRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 6))
    for precision, marker in zip(SWEPT_PRECISIONS, ("o", "s")):
        chosen = [r for r in rows if r.precision == precision]
        axis.scatter([r.extractor_ms_per_clip for r in chosen], [r.test_accuracy for r in chosen], marker=marker, label=precision)
    for r in rows:
        axis.annotate(r.label, (r.extractor_ms_per_clip, r.test_accuracy), fontsize=7, xytext=(4, 3), textcoords="offset points")
    axis.set_xscale("log")
    axis.set_xlabel("extractor ms per clip (ONNX Runtime, CPU, log scale)")
    axis.set_ylabel("test accuracy")
    axis.set_title("Accuracy against latency, one point per backbone, sequence length and precision")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def extractors_of(backbones: list[str], sequence_lengths: list[int], image_size: int | None) -> list[ExtractorSettings]:
    """Every combination of known backbones and lengths, each at ``image_size`` or its backbone's default."""
    return [
        ExtractorSettings(backbone, image_size or BACKBONES[backbone].default_image_size, length)
        for backbone, length in product(backbones, sequence_lengths)
    ]
