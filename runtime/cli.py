"""``vclf-run``: classify video clips with an exported bundle."""

import glob
import json
import sys
from pathlib import Path

import click

from .bundle import load_bundle
from .classify import Classifier, ClipResult
from .cli_errors import echo_error, reports_errors
from .engine import DEVICES
from .gif import save_gif
from .pipeline import FolderPipeline, Summary
from .sources import resolve_files


def format_result(result: ClipResult) -> str:
    """The Keras example's ranking: one line per class, percent, most probable first."""
    width = max(len(p.label) for p in result.predictions)
    lines = [result.source]
    lines += [f"  {p.label:<{width}}  {p.prob * 100:6.2f}%" for p in result.predictions]
    return "\n".join(lines)


@click.command(
    help="""Classify the action in video clips with an exported bundle.

SOURCE is a video file, a folder of video files or a quoted glob
("clips/*.avi"). Frames are sampled as the bundle says, features for all of a
clip's frames come from one batched ONNX Runtime call, then the sequence head
ranks the classes. A folder or glob is decoded in worker processes while
earlier clips are classified; results come in input order, a summary line
(clips ok, failed, clips/s) ends the run on stderr.

\b
Examples:
  vclf-run clip.avi --model bundle/
  vclf-run clips/ --model bundle/ --json --top-k 3
"""
)
@click.argument("source")
@click.option(
    "--model",
    "model_dir",
    envvar="VCLF_MODEL",
    required=True,
    type=click.Path(),
    help="Bundle folder from vclf-export (default: $VCLF_MODEL).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per clip on stdout.")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Show only the K most probable classes.")
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="ONNX Runtime provider: auto picks CUDA when a GPU is usable, else CPU.",
)
@click.option("--gif", "gif_path", type=click.Path(dir_okay=False), help="Save the sampled frames of the clip as a GIF.")
@reports_errors
def main(source: str, model_dir: str, as_json: bool, top_k: int | None, device: str, gif_path: str | None) -> None:
    files = resolve_files(source)
    if gif_path and len(files) > 1:
        raise click.UsageError("--gif takes a single clip, SOURCE names several")
    bundle = load_bundle(model_dir)
    if names_many(source):
        with FolderPipeline(bundle, files, device, top_k) as pipeline:
            sys.exit(classify_many(pipeline, as_json, gif_path))
    result = Classifier(bundle, device).classify_file(files[0], top_k)
    echo_result(result, as_json, gif_path)


def names_many(source: str) -> bool:
    """A folder or a glob, classified by the pipeline even when it holds one clip."""
    return Path(source).is_dir() or glob.has_magic(source)


def echo_result(result: ClipResult, as_json: bool, gif_path: str | None) -> None:
    click.echo(json.dumps(result.to_dict()) if as_json else format_result(result))
    if gif_path:
        save_gif(result.clip.frames, gif_path)


def classify_many(pipeline: FolderPipeline, as_json: bool, gif_path: str | None) -> int:
    """Each clip's result as it is ready, in input order, failures as one line each; then a summary line.

    Returns the exit code: that of the last failure, 0 when none failed.
    """
    summary, exit_code = Summary(), 0
    for outcome in pipeline.outcomes():
        summary.count(outcome)
        if outcome.error is not None:
            echo_error("vclf-run", outcome.error)
            exit_code = outcome.error.exit_code
        else:
            echo_result(outcome.result, as_json, gif_path)
    click.echo(f"vclf-run: {summary.line()}", err=True)
    return exit_code
