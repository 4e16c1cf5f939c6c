"""Write a bundle from a finished run: convert, check parity, then publish atomically."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vclf.runtime.bundle import BUNDLE_FILE, EXTRACTOR_FILE, HEAD_FILE, Bundle, load_bundle, write_bundle_json
from vclf.runtime.engine import create_session
from vclf.runtime.errors import BadInputError
from vclf.runtime.sampling import live_stride
from vclf.runtime.video import count_frames, read_clip
from vclf.train import run as rd
from vclf.train.dataset import read_split

from .convert import OPSET, convert_extractor, convert_head
from .parity import ParityReport, extractor_parity, head_parity

PARITY_CLIPS = 4
PRECISIONS = ("fp32",)


def parity_frames(run: rd.Run, clips: int = PARITY_CLIPS) -> np.ndarray:
    """Sampled frames from the first test clips of the run's own dataset."""
    config = run.config
    data_dir = Path(config["data_dir"])
    try:
        paths = read_split(data_dir, "test").paths[:clips]
    except BadInputError as exc:
        raise BadInputError(f"parity needs the run's own clips: {exc}") from None
    frames = [
        read_clip(p, config["sampler"], config["sequence_length"], config["image_size"]).frames for p in paths
    ]
    return np.concatenate(frames)


def training_live_stride(run: rd.Run) -> int:
    """``live_stride`` from the run's own training clips (their containers' frame counts)."""
    config = run.config
    paths = read_split(Path(config["data_dir"]), "train").paths
    median = float(np.median([count_frames(p) for p in paths]))
    return live_stride(config["sampler"], median, config["sequence_length"])


def export_run(
    run_dir: str | Path,
    bundle_dir: str | Path,
    precision: str = "fp32",
    opset: int = OPSET,
    report: Callable[[str], None] = print,
) -> Bundle:
    """Export ``run_dir`` to ``bundle_dir``; nothing is written there unless parity holds."""
    run = rd.load_run(run_dir)
    bundle_dir = Path(bundle_dir)
    if bundle_dir.exists() and any(bundle_dir.iterdir()) and not (bundle_dir / BUNDLE_FILE).is_file():
        raise BadInputError(f"{bundle_dir}: exists and is not a bundle; refusing to overwrite it")
    config = run.config
    bundle_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=bundle_dir.parent, prefix=f".{bundle_dir.name}-"))
    try:
        extractor, head = run.extractor(), run.sequence_model()
        report("Converting the extractor to ONNX")
        convert_extractor(extractor, config["image_size"], scratch / EXTRACTOR_FILE, opset)
        report("Converting the head to ONNX")
        convert_head(head, config["sequence_length"], config["feature_size"], scratch / HEAD_FILE, opset)

        providers = ["CPUExecutionProvider"]
        checks: list[ParityReport] = [
            extractor_parity(extractor, create_session(scratch / EXTRACTOR_FILE, providers), parity_frames(run))
        ]
        with np.load(run.path / rd.FEATURES) as cached:
            features, mask = cached["x_test"][:16], cached["m_test"][:16]
        checks.append(head_parity(head, create_session(scratch / HEAD_FILE, providers), features, mask))
        for check in checks:
            report(f"Parity ok, {check}")

        manifest = Bundle(
            labels=run.labels,
            image_size=config["image_size"],
            sequence_length=config["sequence_length"],
            feature_size=config["feature_size"],
            sampler=config["sampler"],
            live_stride=training_live_stride(run),
            precision=precision,
            opset=opset,
        )
        write_bundle_json(manifest, scratch)
        _publish(scratch, bundle_dir)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return load_bundle(bundle_dir)


def _publish(scratch: Path, bundle_dir: Path) -> None:
    """Replace ``bundle_dir`` with the finished bundle in ``scratch``."""
    if bundle_dir.exists():
        old = bundle_dir.with_name(f".{bundle_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        bundle_dir.rename(old)
        scratch.rename(bundle_dir)
        shutil.rmtree(old)
    else:
        scratch.rename(bundle_dir)
