"""Write a bundle from a finished run: convert, check parity, then publish atomically."""

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vclf.runtime.bundle import (
    BUNDLE_FILE,
    EXTRACTOR_FILE,
    HEAD_FILE,
    Bundle,
    load_bundle,
    write_bundle_json,
)
from vclf.runtime.errors import BadInputError
from vclf.runtime.files import publish_folder
from vclf.runtime.graph_cache import create_session
from vclf.runtime.sampling import live_stride
from vclf.runtime.video import count_frames, read_clip
from vclf.train import run as rd
from vclf.train.backbones import BACKBONES
from vclf.train.dataset import read_split

from .convert import OPSET, convert_extractor
from .gru_head import convert_gru_head
from .guard import GUARD_CLIPS, MIN_AGREEMENT, MIN_COSINE, guard_precision
from .parity import extractor_parity, head_parity
from .perturbations import PERTURBATIONS, perturb_clip
from .precision import CALIBRATION_FRAMES, CALIBRATION_FRAMES_PER_CLIP, convert_fp16, quantize_int8

PARITY_CLIPS = 4


def split_clips(run: rd.Run, split: str, indices: np.ndarray | slice) -> list[np.ndarray]:
    """The sampled frames of the chosen clips of the run's own ``split``, one array per clip."""
    config = run.config
    try:
        paths = np.asarray(read_split(Path(config["data_dir"]), split).paths, dtype=object)[indices]
    except BadInputError as exc:
        raise BadInputError(f"export needs the run's own clips: {exc}") from None
    return [read_clip(path, rd.config_sampling(config)).frames for path in paths]


def spread(count: int, total: int) -> np.ndarray:
    """At most ``count`` indices spread evenly over ``range(total)``, so every class is represented."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def parity_frames(run: rd.Run, clips: int = PARITY_CLIPS) -> np.ndarray:
    """Sampled frames from the first test clips of the run's own dataset."""
    return np.concatenate(split_clips(run, "test", slice(clips)))


def split_size(run: rd.Run, split: str) -> int:
    return len(read_split(Path(run.config["data_dir"]), split))


def calibration_clips(run: rd.Run, count: int = CALIBRATION_FRAMES) -> np.ndarray:
    """Indices of the training clips, spread over the split, whose frames calibrate ``count`` frames."""
    return spread(-(-count // CALIBRATION_FRAMES_PER_CLIP), split_size(run, "train"))


def calibration_frames(run: rd.Run, count: int = CALIBRATION_FRAMES) -> np.ndarray:
    """``count`` frames from training clips spread over the split, a few evenly spaced frames from each."""
    clips = split_clips(run, "train", calibration_clips(run, count))
    frames = [clip[spread(CALIBRATION_FRAMES_PER_CLIP, len(clip))] for clip in clips]
    return np.concatenate(frames)[:count]


def guard_clips_by_kind(run: rd.Run, count: int, calibration: int) -> dict[str, list[np.ndarray]]:
    """What the precision guard compares: ``count`` test clips spread over the split, as many training
    clips that calibration did not see, and the test clips again, each spoiled one camera-like way in turn."""
    test = split_clips(run, "test", spread(count, split_size(run, "test")))
    unseen = np.setdiff1d(np.arange(split_size(run, "train")), calibration_clips(run, calibration))
    kinds = {
        "test": test,
        "held-out training": split_clips(run, "train", unseen[spread(count, len(unseen))]) if len(unseen) else [],
        **{kind: [perturb_clip(clip, kind) for clip in test[i :: len(PERTURBATIONS)]] for i, kind in enumerate(PERTURBATIONS)},
    }
    return {kind: clips for kind, clips in kinds.items() if clips}


def cached_test_features(run: rd.Run) -> tuple[np.ndarray, np.ndarray]:
    """The Keras features ``[n, T, F]`` and masks ``[n, T]`` of the run's test clips, in split order."""
    with np.load(run.path / rd.FEATURES) as cached:
        return cached["x_test"], cached["m_test"]


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
    calibration: int = CALIBRATION_FRAMES,
    guard_clips: int = GUARD_CLIPS,
    min_cosine: float = MIN_COSINE,
    min_agreement: float = MIN_AGREEMENT,
) -> Bundle:
    """Export ``run_dir`` to ``bundle_dir``; nothing is written there unless parity and the precision guard hold."""
    run = rd.load_run(run_dir)
    bundle_dir = Path(bundle_dir)
    if bundle_dir.exists() and any(bundle_dir.iterdir()) and not (bundle_dir / BUNDLE_FILE).is_file():
        raise BadInputError(f"{bundle_dir}: exists and is not a bundle; refusing to overwrite it")
    config = run.config
    bundle_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=bundle_dir.parent, prefix=f".{bundle_dir.name}-"))
    try:
        providers = ["CPUExecutionProvider"]
        head = run.sequence_model()
        report("Writing the head as ONNX GRU ops")  # first: seconds, where the extractor takes a minute
        convert_gru_head(head, config["sequence_length"], config["feature_size"], scratch / HEAD_FILE, opset)
        features, masks = cached_test_features(run)
        check = head_parity(head, create_session(scratch / HEAD_FILE, providers), features[:16], masks[:16])
        report(f"Parity ok, {check}")
        extractor = run.extractor()
        report("Converting the extractor to ONNX")
        convert_extractor(extractor, config["image_size"], scratch / EXTRACTOR_FILE, opset)
        check = extractor_parity(extractor, create_session(scratch / EXTRACTOR_FILE, providers), parity_frames(run))
        report(f"Parity ok, {check}")
        guard = None
        if precision != "fp32":
            report(f"Making the {precision} extractor")
            candidate = scratch / f"extractor.{precision}.onnx"
            if precision == "int8":
                float_convolutions = BACKBONES[rd.config_backbone(config)].int8_float_convolutions
                quantize_int8(scratch / EXTRACTOR_FILE, candidate, calibration_frames(run, calibration), float_convolutions)
            else:
                convert_fp16(scratch / EXTRACTOR_FILE, candidate)
            standardize = head.get_layer("standardize") if config["standardize"] else None
            guard = guard_precision(
                precision,
                create_session(candidate, providers),
                create_session(scratch / EXTRACTOR_FILE, providers),
                create_session(scratch / HEAD_FILE, providers),
                guard_clips_by_kind(run, guard_clips, calibration),
                config["sequence_length"],
                standardize and (standardize.mean.numpy(), standardize.std.numpy()),
                min_cosine,
                min_agreement,
            )
            report(f"Guard ok, {guard}")
            candidate.replace(scratch / EXTRACTOR_FILE)

        manifest = Bundle(
            labels=run.labels,
            image_size=config["image_size"],
            sequence_length=config["sequence_length"],
            feature_size=config["feature_size"],
            sampler=config["sampler"],
            live_stride=training_live_stride(run),
            precision=precision,
            opset=opset,
            backbone=rd.config_backbone(config),
            guard=guard and guard.to_dict(),
        )
        write_bundle_json(manifest, scratch)
        publish_folder(scratch, bundle_dir)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return load_bundle(bundle_dir)
