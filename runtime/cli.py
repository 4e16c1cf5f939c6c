"""``vclf-run``: classify video clips, or a camera or stream live, with an exported bundle."""

import glob
import json
import sys
import time
from pathlib import Path

import click

from .bundle import load_bundle
from .classify import Classifier, ClipResult
from .cli_errors import echo_error, reports_errors
from .engine import DEVICES
from .gif import save_gif
from .live_cli import LIVE_OPTIONS, live_options, run_live_command
from .pipeline import FolderPipeline, Summary
from .sources import is_live, resolve_files


def describe_engine(classifier: Classifier) -> str:
    """The ``--verbose`` header: what runs, where, and which better providers could not start."""
    bundle, engine = classifier.bundle, classifier.engine
    lines = [
        f"vclf-run: bundle {bundle.path} ({bundle.backbone}, {bundle.precision}, {len(bundle.labels)} labels)",
        f"vclf-run: provider {engine.provider}",
    ]
    lines += [f"vclf-run: passed over {name}: {why}" for name, why in engine.passed_over.items()]
    return "\n".join(lines)


def format_result(result: ClipResult) -> str:
    """The Keras example's ranking: one line per class, percent, most probable first."""
    width = max(len(p.label) for p in result.predictions)
    lines = [result.source]
    lines += [f"  {p.label:<{width}}  {p.prob * 100:6.2f}%" for p in result.predictions]
    return "\n".join(lines)


@click.command(
    help="""Classify the action in video clips, or live from a camera or stream.

SOURCE is a video file, a folder of video files, a quoted glob
("clips/*.avi"), a camera (camera0, camera1, ...) or an rtsp:// or http(s)://
stream URL (MJPEG over HTTP included). Frames of a clip are sampled as the
bundle says, their features come from one batched ONNX Runtime call, then the
sequence head ranks the classes. A folder or glob is decoded in worker processes while earlier clips are
classified; results come in input order, a summary line (clips ok, failed,
clips/s) ends the run on stderr.

Live sources (and a file with --live, replayed at its own frame rate) are
classified continuously: every --stride frames the newest frame's features
join a window of the bundle's sequence length and the head runs again. A
window shows the frame with the top labels; q or Esc quits, as does Ctrl-C.

\b
Examples:
  vclf-run clip.avi --model bundle/
  vclf-run clips/ --model bundle/ --json --top-k 3
  vclf-run camera0 --model bundle/ --top-k 3
  vclf-run rtsp://10.0.0.5/stream --model bundle/ --no-display --json
  vclf-run clip.avi --model bundle/ --live --no-display
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
@click.option("--json", "as_json", is_flag=True, help="One JSON object per clip (live: per prediction) on stdout.")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Show only the K most probable classes.")
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="ONNX Runtime provider: auto takes TensorRT, then CUDA, then CPU, the first that can start.",
)
@click.option(
    "--gif",
    "gif_path",
    type=click.Path(dir_okay=False),
    help="Save the sampled frames of the clip (live: the frames behind the last prediction) as a GIF.",
)
@click.option("--verbose", is_flag=True, help="On stderr: the bundle, the provider in use and why, time per clip.")
@live_options
@reports_errors
def main(
    source: str, model_dir: str, as_json: bool, top_k: int | None, device: str, gif_path: str | None, verbose: bool, **live
) -> None:
    if live.pop("live") or is_live(source):
        run_live_command(source, model_dir, as_json, top_k, device, gif_path, **live)
        return
    given = [name for name in LIVE_OPTIONS if click.get_current_context().get_parameter_source(name).name != "DEFAULT"]
    if given:
        raise click.UsageError(f"--{given[0].replace('_', '-')} applies to live sources (a camera, a stream or --live)")
    files = resolve_files(source)
    if gif_path and len(files) > 1:
        raise click.UsageError("--gif takes a single clip, SOURCE names several")
    bundle = load_bundle(model_dir)
    if names_many(source):
        with FolderPipeline(bundle, files, device, top_k) as pipeline:
            if verbose:
                click.echo(describe_engine(pipeline.classifier), err=True)
            sys.exit(classify_many(pipeline, as_json, gif_path))
    classifier = Classifier(bundle, device)
    if verbose:
        click.echo(describe_engine(classifier), err=True)
    started = time.perf_counter()
    result = classifier.classify_file(files[0], top_k)
    echo_result(result, as_json, gif_path)
    if verbose:
        elapsed = (time.perf_counter() - started) * 1e3
        click.echo(f"vclf-run: {files[0]}: {elapsed:.0f} ms on {result.provider}", err=True)


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
