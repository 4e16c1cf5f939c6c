"""The GPU suite: ONNX Runtime's CUDA provider on exported bundles, in one run.

    python benchmarks/gpu.py prepare build/gpu            # here, with TensorFlow: bundles and clips
    python benchmarks/gpu.py run build/gpu --out benchmarks/results [--dry-run]

``prepare`` fits a small run at the Keras example's 224x224 frames (random
InceptionV3 weights: speed is measured, not accuracy), exports it as fp32
and fp16 bundles, and writes a folder of synthetic clips. ``run`` needs only
the runtime (numpy, OpenCV, ONNX Runtime) and measures, per bundle:

- extractor: batches of 1, 20, 64 and 256 frames, three ways: ``run`` with
  host arrays (frames copied in, features copied out), I/O binding with the
  uint8 frames copied once and the features left on the device, and frames
  already resident on the device (the compute alone); frames/s, p50, p99;
- head on features the extractor left on the device;
- one clip end to end, decoding included (``Classifier.classify_file``);
- a folder of clips through the folder pipeline: clips/s and its share of
  the extractor bound (frames/s at the pipeline's batch over frames a clip);
- live: one new frame plus the head (``StreamingClassifier.step``);
- several streams: one step of the multi-source loop (``live.multi_source.step``)
  over 8 and 32 sources' 640x480 camera frames, one extractor call and one
  head call for all, against stepping the same sources one at a time.

Rows name the provider that really ran them. ``--device cuda`` (the default)
that cannot start falls back to the CPU with the reason on one line, so
``--dry-run`` on a machine without a GPU takes every code path of the GPU run
with fewer rounds and smaller batches. TensorRT rows run only when its
libraries load. Results go to ``OUT/gpu-<device>-<date>.json``, ``.md``
and ``.png``.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

BATCHES = (1, 20, 64, 256)
STREAMS, DRY_STREAMS = (8, 32), (2, 4)
CAMERA_FRAME = (480, 640, 3)  # what a stream hands the loop before prepare_frame
DRY_BATCHES = (1, 4)
ROUNDS, DRY_ROUNDS = 30, 2
FOLDER_CLIPS, DRY_FOLDER_CLIPS = 32, 4
GPU_PRECISIONS = ("fp32", "fp16")  # the precisions the GPU rows run
PREPARE_CLIPS = ("--videos-per-class", "8", "--test-per-class", "8")


def load_cuda_libraries() -> str:
    """Make CUDA's libraries loadable before ONNX Runtime looks for them; says how.

    Where PyTorch is installed with CUDA (as on the lent machines) its import
    loads cuBLAS, cuDNN, cuRAND and the CUDA runtime globally, and ONNX
    Runtime's CUDA provider then finds them by name. Elsewhere the runtime's
    own preload (``onnxruntime.preload_dlls``, see ``vclf.runtime.engine``) applies.
    """
    try:
        import torch
    except ImportError:
        return "CUDA libraries: no PyTorch here; onnxruntime.preload_dlls looks in the nvidia packages"
    return f"CUDA libraries: loaded by PyTorch {torch.__version__} (CUDA {torch.version.cuda})"


def describe_machine(engine_note: str) -> dict:
    """The GPU (nvidia-smi), the CPU, the ONNX Runtime build and where CUDA's libraries came from."""
    import onnxruntime as ort

    gpu, found = "no NVIDIA GPU (nvidia-smi not found)", bool(shutil.which("nvidia-smi"))
    if found:
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        done = subprocess.run(query, capture_output=True, text=True)
        gpu = (
            done.stdout.strip().splitlines()[0]
            if done.returncode == 0 and done.stdout.strip()
            else f"nvidia-smi failed: {done.stderr.strip()[:200]}"
        )
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in _cpuinfo() if line.startswith("flags")), [])
    build = next(
        (d.metadata["Name"] for d in importlib.metadata.distributions() if (d.metadata["Name"] or "").startswith("onnxruntime")),
        "onnxruntime",
    )
    from onnxruntime.capi import build_and_package_info

    return {
        "gpu": gpu,
        "gpu_found": found,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_flags": [f for f in flags if f.startswith(("avx", "amx"))],
        "onnxruntime": f"{build} {ort.__version__} (CUDA {getattr(build_and_package_info, 'cuda_version', 'none')})",
        "providers_built": ort.get_available_providers(),
        "cuda_libraries": engine_note,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


@dataclass(frozen=True)
class Row:
    group: str
    variant: str
    precision: str
    provider: str
    batch: int
    unit: str
    items: int  # units per call
    p50_ms: float
    p99_ms: float
    throughput: float  # units per second at p50
    rounds: int
    note: str = ""


def timed(call: Callable[[], object], rounds: int) -> np.ndarray:
    """Seconds of each of ``rounds`` calls, after one untimed warm-up call."""
    call()
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return np.array(seconds)


def row(
    group: str, variant: str, precision: str, provider: str, batch: int, unit: str, items: int, seconds: np.ndarray, note: str = ""
) -> Row:
    p50, p99 = np.percentile(seconds, [50, 99])
    return Row(group, variant, precision, provider, batch, unit, items, p50 * 1e3, p99 * 1e3, items / p50, len(seconds), note)


def open_classifier(folder: Path, device: str, say: Callable[[str], None]):
    """The bundle's Classifier on ``device``, or on the CPU with the reason said once when ``device`` cannot start."""
    from vclf.runtime.bundle import load_bundle
    from vclf.runtime.classify import Classifier
    from vclf.runtime.providers import DeviceUnavailableError

    bundle = load_bundle(folder)
    try:
        return Classifier(bundle, device)
    except DeviceUnavailableError as exc:
        say(f"bench-gpu: {exc}; this run measures the CPU provider instead")
        return Classifier(bundle, "cpu")


def extractor_rows(engine, precision: str, batches: tuple[int, ...], rounds: int) -> list[Row]:
    """Frames/s of the extractor at each batch: host arrays, I/O binding with features kept on the device, frames resident."""
    import onnxruntime as ort

    bundle, session, provider = engine.bundle, engine.extractor, engine.provider
    device = "cpu" if provider == "CPUExecutionProvider" else "cuda"
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        frames = rng.integers(0, 256, (batch, bundle.image_size, bundle.image_size, 3), dtype=np.uint8)
        expected = session.run(None, {"frames": frames})[0]
        features = ort.OrtValue.ortvalue_from_shape_and_type([batch, bundle.feature_size], np.float32, device, 0)
        resident = ort.OrtValue.ortvalue_from_numpy(frames, device, 0)

        def bound(frames_input, features=features) -> Callable[[], None]:
            binding = session.io_binding()
            if isinstance(frames_input, np.ndarray):
                binding.bind_cpu_input("frames", frames_input)
            else:
                binding.bind_ortvalue_input("frames", frames_input)
            binding.bind_ortvalue_output("features", features)
            return lambda: session.run_with_iobinding(binding)

        for variant, call in (
            ("run, host arrays in and out", lambda frames=frames: session.run(None, {"frames": frames})),
            ("I/O binding, frames copied once, features stay on device", bound(frames)),
            ("I/O binding, frames resident on device", bound(resident)),
        ):
            seconds = timed(call, rounds)
            rows.append(row("extractor", variant, precision, provider, batch, "frames", batch, seconds))
        check_features(expected, features.numpy(), precision, f"extractor batch {batch}")
    return rows


def check_features(expected: np.ndarray, actual: np.ndarray, precision: str, what: str) -> None:
    """The bound output equals the plain run's (fp16 within half precision): a fast wrong answer fails the suite."""
    tolerance = 1e-4 if precision == "fp32" else 2e-2
    scale = max(float(np.abs(expected).max()), 1e-6)
    error = float(np.abs(expected - actual).max()) / scale
    if not error <= tolerance:
        raise AssertionError(f"{what}: I/O-bound features differ from run's by {error:.2e} of their range (limit {tolerance})")


def head_row(engine, precision: str, rounds: int) -> Row:
    """The head reading the features the extractor left on the device, one clip's window."""
    bundle = engine.bundle
    frames = np.zeros((bundle.sequence_length, bundle.image_size, bundle.image_size, 3), np.uint8)
    seconds = timed(lambda: engine.classify_clip(frames), rounds)
    return row(
        "clip",
        "extractor + head on device features (I/O binding), no decoding",
        precision,
        engine.provider,
        bundle.sequence_length,
        "clips",
        1,
        seconds,
    )


def clip_row(classifier, precision: str, clip: Path, rounds: int) -> Row:
    """One clip file end to end: decode and sample, extractor, head."""
    seconds = timed(lambda: classifier.classify_file(clip), rounds)
    engine = classifier.engine
    return row(
        "clip", "one clip end to end, decoding included", precision, engine.provider, engine.bundle.sequence_length, "clips", 1, seconds
    )


def folder_row(folder: Path, device: str, precision: str, clips: list[Path], extractor: list[Row]) -> Row:
    """The folder pipeline over ``clips``, with its share of the extractor bound at the pipeline's batch."""
    from vclf.runtime.bundle import load_bundle
    from vclf.runtime.clips.folder import FolderPipeline

    with FolderPipeline(load_bundle(folder), clips, device) as pipeline:
        engine = pipeline.classifier.engine
        started = time.perf_counter()
        outcomes = list(pipeline.outcomes())
        seconds = time.perf_counter() - started
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        raise AssertionError(f"folder: {len(failed)} clips failed, first: {failed[0].path}: {failed[0].error}")
    frames_per_clip = np.mean([len(o.result.clip.frames) for o in outcomes])
    batch = engine.folder_batch_frames
    nearest = min((r for r in extractor if r.variant.startswith("run,")), key=lambda r: abs(r.batch - batch))
    bound = nearest.throughput / frames_per_clip
    rate = len(clips) / seconds
    note = f"{rate / bound:.0%} of the extractor bound ({bound:.1f} clips/s: batch {nearest.batch} at {nearest.throughput:.0f} frames/s, {frames_per_clip:.0f} frames a clip)"
    return Row(
        "folder",
        f"folder pipeline, {len(clips)} clips",
        precision,
        engine.provider,
        batch,
        "clips",
        len(clips),
        seconds * 1e3,
        seconds * 1e3,
        rate,
        1,
        note,
    )


def live_row(engine, precision: str, rounds: int) -> Row:
    """One new frame through the extractor plus the head on the window: a live prediction's cost."""
    from vclf.runtime.live.loop import StreamingClassifier

    stream = StreamingClassifier(engine)
    size = engine.bundle.image_size
    frames = np.random.default_rng(1).integers(0, 256, (engine.bundle.sequence_length, size, size, 3), dtype=np.uint8)
    for frame in frames:
        stream.step(frame)
    count = iter(range(sys.maxsize))
    seconds = timed(lambda: stream.step(frames[next(count) % len(frames)]), rounds * 4)
    return row("live", "live, new frame + head", precision, engine.provider, 1, "predictions", 1, seconds)


def run_suite(build: Path, device: str, dry_run: bool, say: Callable[[str], None]) -> tuple[dict, list[Row]]:
    note = load_cuda_libraries()
    machine = describe_machine(note)
    say(f"bench-gpu: {machine['gpu']}; {machine['onnxruntime']}; {note}")
    batches, rounds = (DRY_BATCHES, DRY_ROUNDS) if dry_run else (BATCHES, ROUNDS)
    streams = DRY_STREAMS if dry_run else STREAMS
    clips = sorted((build / "clips").glob("*.avi"))[: DRY_FOLDER_CLIPS if dry_run else FOLDER_CLIPS]
    if not clips:
        raise SystemExit(f"bench-gpu: {build / 'clips'} holds no .avi clips; run `gpu.py prepare` first")
    rows: list[Row] = []
    devices = [device] + (["tensorrt"] if device == "cuda" and tensorrt_loads() else [])
    machine["guard"] = {}
    for precision in GPU_PRECISIONS:
        folder = build / f"bundle-{precision}"
        if not folder.is_dir():
            say(f"bench-gpu: {folder} missing; {precision} rows left out")
            continue
        machine["guard"][precision] = json.loads((folder / "bundle.json").read_text()).get("guard")
        for chosen in devices:
            classifier = open_classifier(folder, chosen, say)
            engine = classifier.engine
            say(f"bench-gpu: {precision} bundle on {engine.provider}")
            extractor = extractor_rows(engine, precision, batches, rounds)
            rows += extractor
            rows += [
                head_row(engine, precision, rounds),
                clip_row(classifier, precision, clips[0], rounds),
                live_row(engine, precision, rounds),
            ]
            rows += streams_rows(engine, precision, streams, rounds)
            rows.append(folder_row(folder, chosen if engine.provider != "CPUExecutionProvider" else "cpu", precision, clips, extractor))
    return machine, rows


def streams_rows(engine, precision: str, counts: tuple[int, ...], rounds: int) -> list[Row]:
    """A multi-source step over ``count`` sources' frames, batched and one source at a time."""
    from vclf.runtime.live.capture import CapturedFrame
    from vclf.runtime.live.feature_ring import FeatureRing, Smoother
    from vclf.runtime.live.multi_source import SourceState, step

    bundle, rows = engine.bundle, []
    rng = np.random.default_rng(2)
    for count in counts:
        states = [
            SourceState(f"stream-{i}", None, FeatureRing(bundle.sequence_length, bundle.feature_size), Smoother(1), None)  # type: ignore[arg-type]
            for i in range(count)
        ]
        due = [(state, CapturedFrame(0, rng.integers(0, 256, CAMERA_FRAME, dtype=np.uint8), 0.0, 0.0, 0)) for state in states]
        for variant, call in (
            (f"{count} streams, one batched step", lambda due=due: step(engine, due)),
            (f"{count} streams, one step per source", lambda due=due: [step(engine, [one]) for one in due]),
        ):
            seconds = timed(call, rounds)
            rows.append(row("streams", variant, precision, engine.provider, count, "predictions", count, seconds))
    return rows


def tensorrt_loads() -> bool:
    from vclf.runtime.providers import TENSORRT, provider_problem

    return provider_problem(TENSORRT) is None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def write_results(machine: dict, rows: list[Row], out: Path, dry_run: bool) -> list[Path]:
    """JSON (every figure), Markdown (a table per group) and PNG (extractor frames/s against batch)."""
    out.mkdir(parents=True, exist_ok=True)
    device = slug(machine["gpu"].split(",")[0]) if machine["gpu_found"] else "no-gpu"
    name = f"gpu-{'dry-run-' if dry_run else ''}{device}-{machine['date']}"
    paths = [out / f"{name}.json", out / f"{name}.md", out / f"{name}.png"]
    paths[0].write_text(json.dumps({"machine": machine, "dry_run": dry_run, "rows": [asdict(r) for r in rows]}, indent=2))
    paths[1].write_text(markdown(machine, rows, dry_run))
    chart(rows, paths[2])
    return paths


def markdown(machine: dict, rows: list[Row], dry_run: bool) -> str:
    lines = [
        f"# vclf GPU suite{' (CPU dry run: no GPU here)' if dry_run else ''}: {machine['gpu']}, {machine['date']}",
        "",
        f"- GPU: {machine['gpu']}",
        f"- CPU: {machine['cpu']}, {machine['cpu_count']} cores ({' '.join(machine['cpu_flags']) or 'no AVX flags'}); Python {machine['python']}",
        f"- {machine['onnxruntime']}; providers built: {', '.join(machine['providers_built'])}",
        f"- {machine['cuda_libraries']}",
        "- Each row names the provider that really ran it. Times are per call; p50 and p99 over the row's rounds after one warm-up call.",
    ]
    for precision, guard in machine.get("guard", {}).items():
        if guard:
            lines.append(
                f"- {precision} guard (from its bundle.json): feature cosine mean {guard['cosine_mean']:.5f}, min {guard['cosine_min']:.5f}, top-1 agreement {guard['top1_agreement']:.3f} over {guard['clips']} clips"
            )
    for group in dict.fromkeys(r.group for r in rows):
        lines += [
            "",
            f"## {group}",
            "",
            "| variant | precision | provider | batch | p50 ms | p99 ms | throughput | rounds | note |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in (r for r in rows if r.group == group):
            lines.append(
                f"| {r.variant} | {r.precision} | {r.provider} | {r.batch} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.throughput:.1f} {r.unit}/s | {r.rounds} | {r.note} |"
            )
    return "\n".join(lines) + "\n"


def chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    extractor = [r for r in rows if r.group == "extractor"]
    for key in dict.fromkeys((r.precision, r.provider, r.variant) for r in extractor):
        points = [r for r in extractor if (r.precision, r.provider, r.variant) == key]
        axes.plot(
            [r.batch for r in points],
            [r.throughput for r in points],
            marker="o",
            label=f"{key[0]} {key[1].replace('ExecutionProvider', '')}: {key[2]}",
        )
    axes.set_xscale("log")
    axes.set_xlabel("frames per extractor call")
    axes.set_ylabel("frames/s (p50)")
    axes.set_title("Extractor throughput by batch")
    axes.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def prepare(build: Path, image_size: int, guard_clips: int) -> None:
    """Here, with TensorFlow: the run (224 px for the GPU), its fp32 and fp16 bundles, and clips for the folder rows."""
    bin_dir = Path(sys.executable).parent

    def vclf(*args) -> None:
        subprocess.run([str(bin_dir / args[0]), *map(str, args[1:])], check=True)

    build.mkdir(parents=True, exist_ok=True)
    data, run = build / "data", build / "run"
    if not (data / "train.csv").is_file():
        vclf("vclf-train", "synth", data, "--seed", "0", *PREPARE_CLIPS)
    if not (run / "best.weights.h5").is_file():
        vclf("vclf-train", "fit", data, "--out", run, "--weights", "none", "--no-cache", "--epochs", "2", "--image-size", image_size)
    for precision in GPU_PRECISIONS:
        if not (build / f"bundle-{precision}" / "bundle.json").is_file():
            vclf("vclf-export", run, "--out", build / f"bundle-{precision}", "--precision", precision, "--guard-clips", guard_clips)
    clips = build / "clips"
    clips.mkdir(exist_ok=True)
    for path in sorted((data / "test").glob("*.avi")):
        shutil.copy2(path, clips / path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    ready = verbs.add_parser("prepare", help="fit, export fp32 and fp16 bundles, and write clips (needs vclf[export])")
    ready.add_argument("build", type=Path)
    ready.add_argument("--image-size", type=int, default=224, help="frame size of the run (the dry run takes less)")
    ready.add_argument("--guard-clips", type=int, default=30, help="test clips the fp16 guard compares")
    go = verbs.add_parser("run", help="measure the bundles under BUILD (needs only the runtime)")
    go.add_argument("build", type=Path)
    go.add_argument("--out", type=Path, required=True)
    go.add_argument("--device", choices=("cuda", "tensorrt", "cpu"), default="cuda")
    go.add_argument("--dry-run", action="store_true", help="small batches and few rounds: every code path, no figures worth keeping")
    args = parser.parse_args(argv)
    if args.verb == "prepare":
        prepare(args.build, args.image_size, args.guard_clips)
        return 0
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    machine, rows = run_suite(args.build, args.device, args.dry_run, say)
    for path in write_results(machine, rows, args.out, args.dry_run):
        say(f"bench-gpu: wrote {path}")
    print(markdown(machine, rows, args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
