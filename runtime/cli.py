"""``vclf-run``: classify video clips, or a camera or stream live, with an exported bundle."""

import json
import sys
import time
from collections import deque
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import click

from .builds import onnxruntime_build, opencv_build
from .bundle import load_bundle
from .classify import Classifier, ClipResult
from .cli_errors import echo_error, reports_errors
from .errors import one_line
from .cluster import Cluster, cluster_of, engine_options
from .engine import DEVICES
from .gif import save_gif
from .files import check_output_path
from .live_cli import LIVE_OPTIONS, live_options, run_live_command
from .multi_cli import EVENT_OPTIONS, event_options, run_many_command, wants_many
from .pipeline import FolderPipeline, Outcome, Summary
from .serve_cli import SERVE_OPTIONS, serve_options
from .sources import Source, resolve_source


def describe_engine(classifier: Classifier) -> str:
    """The ``--verbose`` header: what runs, where, and which better providers could not start."""
    bundle, engine = classifier.bundle, classifier.engine
    lines = [
        f"vclf-run: bundle {bundle.path} ({bundle.backbone}, {bundle.precision}, {len(bundle.labels)} labels)",
        f"vclf-run: provider {engine.provider}",
    ]
    lines += [f"vclf-run: passed over {name}: {why}" for name, why in engine.passed_over.items()]
    return "\n".join(one_line(line) for line in lines)


def describe_builds() -> str:
    """What ``--version`` prints: vclf's version and the ONNX Runtime and OpenCV builds it runs on."""
    return "\n".join(
        [f"vclf-run {metadata.version('vclf')}", f"ONNX Runtime: {onnxruntime_build()}", f"OpenCV: {opencv_build()}"]
    )


def show_version(context: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: eager, so it answers before SOURCE and --model are asked for."""
    if value and not context.resilient_parsing:
        click.echo(describe_builds())
        context.exit()


def format_result(result: ClipResult) -> str:
    """The Keras example's ranking: one line per class, percent, most probable first."""
    width = max(len(p.label) for p in result.predictions)
    lines = [one_line(result.source)]
    lines += [f"  {p.label:<{width}}  {p.prob * 100:6.2f}%" for p in result.predictions]
    return "\n".join(lines)


@click.command(
    help="""Classify the action in video clips, or live from a camera or stream.

SOURCE is a video file, a folder of video files, a quoted glob
("clips/*.avi"), a camera (camera0 to camera255) or an rtsp(s):// or
http(s):// stream URL (MJPEG over HTTP included). An existing path is always
that path, glob characters in its name included. Frames of a clip are sampled as the
bundle says, their features come from one batched ONNX Runtime call, then the
sequence head ranks the classes. A folder or glob is decoded in worker processes while earlier clips are
classified; results come in input order, a file that takes longer than
--decode-timeout fails alone, a summary line (clips ok, failed, clips/s)
ends the run on stderr. SIGTERM stops a run as Ctrl-C does (exit 130; live: 0). A listing (.txt or .lst, one path a line)
is classified as a folder is, in its order.

With --engine ray the files are decoded by Ray tasks and classified by Ray
actors that each hold the bundle (one per GPU); results, order and errors are
as above. The bundle and the files must be at the same paths on every node.

Live sources (and a file with --live, replayed at its own frame rate) are
classified continuously: every --stride frames the newest frame's features
join a window of the bundle's sequence length and the head runs again. A
window shows the frame with the top labels; q or Esc quits, as does Ctrl-C.

Several live sources (several SOURCEs, or a .streams listing: one a line,
optionally name=SOURCE) run in one process: each step batches the due frames
of all of them into one extractor call. Output names each source; a source
lost for good is reported and the others go on (exit 5 once all are lost).
--events prints each action's start and end instead of every prediction.

\b
Examples:
  vclf-run clip.avi --model bundle/
  vclf-run clips/ --model bundle/ --json --top-k 3
  vclf-run camera0 --model bundle/ --top-k 3
  vclf-run rtsp://10.0.0.5/stream --model bundle/ --no-display --json
  vclf-run clip.avi --model bundle/ --live --no-display
  vclf-run cams.streams --model bundle/ --json --events
  vclf-run clips.txt --model bundle/ --engine ray --address head:6379 --out results.parquet
"""
)
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=show_version,
    help="Print vclf's version and the ONNX Runtime and OpenCV builds in use, then exit.",
)
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
@click.option(
    "--verbose",
    is_flag=True,
    help="On stderr: the ONNX Runtime and OpenCV builds, the bundle, the provider in use and why, time per clip.",
)
@click.option(
    "--out",
    "table",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results to this Parquet file (a row per file, failures with their error) instead of stdout.",
)
@click.option(
    "--decode-timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    default=None,
    help="Files, folders, globs and listings: a file whose decoding takes longer than SECONDS fails (exit 3) and its "
    "worker is replaced [default for folders, globs and listings: 30 s plus 1 s per 8 MiB of the file].",
)
@engine_options
@live_options
@event_options
@serve_options
@reports_errors
def main(
    sources: tuple[str, ...],
    model_dir: str,
    as_json: bool,
    top_k: int | None,
    device: str,
    gif_path: str | None,
    verbose: bool,
    table: Path | None,
    decode_timeout: float | None,
    engine: str,
    address: str | None,
    workers: int | None,
    **live,
) -> None:
    cluster = cluster_of(engine, address, workers)
    typed = [resolve_source(text) for text in sources]
    source = typed[0]
    for option, path in (("--gif", gif_path), ("--out", table)):
        if path is not None:
            check_output_path(option, Path(path))
    if verbose:
        click.echo(f"vclf-run: ONNX Runtime {onnxruntime_build()}; OpenCV {opencv_build()}", err=True)
    replay_files = live.pop("live")
    if live["record"] is None and options_given(("pre", "post")):
        raise click.UsageError("--pre and --post apply with --record")
    many = wants_many(typed, live["events"] or live["serve"] is not None or live["record"] is not None)
    if many or replay_files or source.live:
        if cluster or table or decode_timeout:
            raise click.UsageError(f"--{'engine ray' if cluster else 'out' if table else 'decode-timeout'} applies to files, not live sources")
        if many:
            run_many_command(typed, model_dir, as_json, top_k, device, gif_path, verbose, replay_files, **live)
            return
        given = options_given(EVENT_OPTIONS)
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} applies with --events")
        run_live_command(source, model_dir, as_json, top_k, device, gif_path, verbose, **{k: live[k] for k in LIVE_OPTIONS})
        return
    given = options_given(LIVE_OPTIONS + EVENT_OPTIONS + SERVE_OPTIONS)
    if given:
        raise click.UsageError(f"--{given[0].replace('_', '-')} applies to live sources (a camera, a stream or --live)")
    check_file_options(source, gif_path, cluster, table, decode_timeout)
    bundle = load_bundle(model_dir)
    if cluster:
        from .cluster import describe_cluster, ray_runtime
        from .cluster_pipeline import ClusterPipeline

        with ray_runtime(cluster.address), ClusterPipeline(bundle, source.files, device, top_k, cluster.workers) as pipeline:
            if verbose:
                click.echo(f"vclf-run: {describe_cluster(len(pipeline.map.actors))}", err=True)
            sys.exit(classify_many(pipeline, as_json, gif_path, table))
    if source.many or table or decode_timeout:
        with FolderPipeline(bundle, source.files, device, top_k, decode_timeout=decode_timeout, verbose=verbose) as pipeline:
            if verbose:
                click.echo(describe_engine(pipeline.classifier), err=True)
            sys.exit(classify_many(pipeline, as_json, gif_path, table))
    classifier = Classifier(bundle, device, verbose=verbose)
    if verbose:
        click.echo(describe_engine(classifier), err=True)
    started = time.perf_counter()
    result = classifier.classify_file(source.path, top_k)
    echo_result(result, as_json, gif_path)
    if verbose:
        elapsed = (time.perf_counter() - started) * 1e3
        click.echo(f"vclf-run: {one_line(str(source.path))}: {elapsed:.0f} ms on {result.provider}", err=True)


def options_given(names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` the user set on the command line (or through the environment)."""
    context = click.get_current_context()
    return [name for name in names if context.get_parameter_source(name).name != "DEFAULT"]


def check_file_options(
    source: Source, gif_path: str | None, cluster: Cluster | None, table: Path | None, decode_timeout: float | None
) -> None:
    """Usage errors among the options for files: ``--gif`` needs one clip classified here, ``--out`` a .parquet name,
    ``--decode-timeout`` the local engine's decoding workers."""
    if gif_path and len(source.files) > 1:
        raise click.UsageError("--gif takes a single clip, SOURCE names several")
    if gif_path and (cluster or table):
        raise click.UsageError(f"--gif saves a clip's frames here; --{'engine ray' if cluster else 'out'} does not keep them")
    if table and table.suffix.lower() != ".parquet":
        raise click.UsageError(f"--out {table}: name a .parquet file")
    if decode_timeout and (cluster or gif_path):
        raise click.UsageError(f"--decode-timeout applies to the local engine's decoding workers, not with --{'engine ray' if cluster else 'gif'}")


def echo_result(result: ClipResult, as_json: bool, gif_path: str | None) -> None:
    click.echo(json.dumps(result.to_dict()) if as_json else format_result(result))
    if gif_path:
        save_gif(result.clip.frames, gif_path)


def classify_many(pipeline: FolderPipeline, as_json: bool, gif_path: str | None, table: Path | None = None) -> int:
    """Each clip's result as it is ready, in input order (or into ``table``), failures as one line each; then a summary line.

    ``pipeline`` is a FolderPipeline or a ClusterPipeline. Returns the exit
    code: that of the last failure, 0 when none failed.
    """
    summary, exit_code = Summary(), 0

    def reported() -> Iterator[Outcome]:
        nonlocal exit_code
        for outcome in pipeline.outcomes():
            summary.count(outcome)
            if outcome.error is not None:
                echo_error("vclf-run", outcome.error)
                exit_code = outcome.error.exit_code
            elif table is None:
                echo_result(outcome.result, as_json, gif_path)
            yield outcome

    if table is None:
        deque(reported(), maxlen=0)
    else:
        from .results_table import write_results_table

        write_results_table(table, reported())
    click.echo(f"vclf-run: {summary.line()}", err=True)
    return exit_code
