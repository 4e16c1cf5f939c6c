"""``vclf-train``'s commands as installed: the training group plus ``sweep``, which exports and so lives here, above train.

``vclf.train.cli`` holds the training commands and imports nothing of export;
``main`` adds the sweep to them. The sweep's heavy imports wait until it runs,
so ``vclf-train`` starts where only the training extra is installed.
"""

from pathlib import Path

import click

from vclf.runtime.cli.errors import reports_errors
from vclf.runtime.errors import needs_extra
from vclf.train.backbones import BACKBONES
from vclf.train.cli import main as training


def backbone_list(_ctx, param, text: str) -> list[str]:
    """``--backbones A,B``: names from the backbone table."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKBONES]
    if not names or unknown:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}; choose from {', '.join(BACKBONES)}", param=param)
    return names


def length_list(_ctx, param, text: str) -> list[int]:
    """``--seq-lens N,M``: whole numbers of frames, at least 1."""
    try:
        lengths = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        lengths = []
    if not lengths or min(lengths) < 1:
        raise click.BadParameter(f"{text!r}: give frame counts of at least 1, separated by commas", param=param)
    return lengths


@click.command(
    help="""Fit every backbone x sequence length on DATA_DIR, export each fp32 and int8, and measure the trade-off.

Every combination is fitted on the same split and exported to OUT/bundles;
each bundle is then run through ONNX Runtime on this machine's CPU: test
accuracy, extractor milliseconds per frame and per clip, the live cost of one
new frame (extractor on that frame plus the head), and the bundle's size.
The table goes to OUT/sweep.csv, OUT/sweep.md and OUT/sweep.png (accuracy
against latency, one labelled point per combination and precision).
Finished runs and bundles in OUT are reused: a stopped sweep continues.

\b
Example:
  vclf-train sweep data/ --backbones inception_v3,mobilenet_v3_small --seq-lens 10,20 --out sweeps/ucf5
"""
)
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--backbones", required=True, callback=backbone_list, help=f"Comma-separated, from: {', '.join(BACKBONES)}.")
@click.option("--seq-lens", "sequence_lengths", required=True, callback=length_list, help="Comma-separated frames per clip, e.g. 10,20.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for runs, bundles and the table."
)
@click.option(
    "--weights", default="imagenet", show_default=True, help="Backbone weights: imagenet, none (random) or a path (one backbone only)."
)
@click.option(
    "--image-size", type=click.IntRange(min=1), default=None, help="Frame side for every backbone [default: each backbone's, 224]."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Most epochs per fit [default: the default preset's].")
@click.option("--seed", default=0, show_default=True, help="Seed of every fit: one validation split for all.")
@click.option("--repeats", type=click.IntRange(min=1), default=30, show_default=True, help="Timed rounds over all bundles.")
@reports_errors
@needs_extra("export")
def sweep(
    data_dir: Path,
    backbones: list[str],
    sequence_lengths: list[int],
    out_dir: Path,
    weights: str,
    image_size: int | None,
    epochs: int | None,
    seed: int,
    repeats: int,
) -> None:
    from vclf.train.cache import default_cache_dir

    from .sweep import extractors_of
    from .sweep import sweep as run_sweep

    rows = run_sweep(
        data_dir,
        out_dir,
        extractors_of(backbones, sequence_lengths, image_size),
        weights,
        epochs,
        seed,
        default_cache_dir(),
        repeats,
        report=lambda line: click.echo(line, err=True),
    )
    click.echo((out_dir / "sweep.md").read_text(), nl=False)
    click.echo(f"{len(rows)} bundles measured: {out_dir}/sweep.csv, sweep.md, sweep.png")


main = click.Group(name="vclf-train", help=training.help, commands={**training.commands, "sweep": sweep})
