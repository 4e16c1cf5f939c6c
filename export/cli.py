"""``vclf-export``: a finished run dir to an ONNX bundle for ``vclf-run``."""

from pathlib import Path

import click

from vclf.runtime.cli.errors import reports_errors
from vclf.runtime.errors import needs_extra
from vclf.runtime.manifest import PRECISIONS

from .guard import GUARD_CLIPS, MIN_AGREEMENT, MIN_COSINE
from .precision import CALIBRATION_FRAMES


@click.command(
    help="""Convert the run's frame extractor (its backbone with its preprocessing) and GRU head to ONNX and write a bundle.

Both graphs are run against the Keras models on the run's own clips before
anything is written; a bundle that does not match is refused, with the
largest difference printed.

--precision int8 quantizes the extractor (static, per-channel int8 weights,
calibrated on frames of the run's training clips) for CPUs; fp16 halves it
for GPUs. The head stays fp32. A reduced-precision extractor is compared with
fp32 on the run's test clips, as many training clips calibration did not see,
and the test clips spoiled as cameras spoil frames (per-frame cosine of the
features as the head reads them, top-1 agreement of the whole model) and
refused, exit 4, below the limits; the figures are kept in bundle.json.

\b
Examples:
  vclf-export runs/ucf5 --out bundles/ucf5
  vclf-export runs/ucf5 --out bundles/ucf5-int8 --precision int8
"""
)
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "bundle_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Bundle folder to write.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True, help="Numeric precision of the extractor.")
@click.option(
    "--calibration-frames",
    type=click.IntRange(min=1),
    default=CALIBRATION_FRAMES,
    show_default=True,
    help="int8: training frames that set activation ranges.",
)
@click.option(
    "--guard-clips",
    type=click.IntRange(min=1),
    default=GUARD_CLIPS,
    show_default=True,
    help="Test clips, spread over the split, that the precision guard compares (as many held-out training clips beside them).",
)
@click.option(
    "--min-cosine",
    type=click.FloatRange(0, 1),
    default=MIN_COSINE,
    show_default=True,
    help="Guard: least mean feature cosine against fp32, on standardised features.",
)
@click.option(
    "--min-agreement", type=click.FloatRange(0, 1), default=MIN_AGREEMENT, show_default=True, help="Guard: least top-1 agreement with fp32."
)
@click.option("--opset", type=click.IntRange(13, 21), default=17, show_default=True, help="ONNX opset.")
@reports_errors
@needs_extra("export")
def main(
    run_dir: Path,
    bundle_dir: Path,
    precision: str,
    calibration_frames: int,
    guard_clips: int,
    min_cosine: float,
    min_agreement: float,
    opset: int,
) -> None:
    from .bundle import export_run

    bundle = export_run(
        run_dir,
        bundle_dir,
        precision,
        opset,
        report=lambda line: click.echo(line, err=True),
        calibration=calibration_frames,
        guard_clips=guard_clips,
        min_cosine=min_cosine,
        min_agreement=min_agreement,
    )
    click.echo(f"{bundle_dir}: bundle written ({', '.join(bundle.labels)}; sampler {bundle.sampler})")
    from vclf.train.evaluate import compare_with_run

    click.echo(compare_with_run(run_dir, bundle_dir))
