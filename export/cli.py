"""``vclf-export``: a finished run dir to an ONNX bundle for ``vclf-run``."""

from pathlib import Path

import click

from vclf.runtime.cli_errors import reports_errors


@click.command(
    help="""Convert the run's InceptionV3 extractor and GRU head to ONNX and write a bundle.

Both graphs are run against the Keras models on the run's own clips before
anything is written; a bundle that does not match is refused, with the
largest difference printed.

\b
Example:
  vclf-export runs/ucf5 --out bundles/ucf5
"""
)
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "bundle_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Bundle folder to write.")
@click.option("--precision", type=click.Choice(["fp32"]), default="fp32", show_default=True, help="Numeric precision of the graphs.")
@click.option("--opset", type=click.IntRange(13, 21), default=17, show_default=True, help="ONNX opset.")
@reports_errors
def main(run_dir: Path, bundle_dir: Path, precision: str, opset: int) -> None:
    from .bundle import export_run

    bundle = export_run(run_dir, bundle_dir, precision, opset, report=lambda line: click.echo(line, err=True))
    click.echo(f"{bundle_dir}: bundle written ({', '.join(bundle.labels)}; sampler {bundle.sampler})")
    from vclf.train.evaluate import compare_with_run

    click.echo(compare_with_run(run_dir, bundle_dir))
