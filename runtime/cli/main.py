"""``vclf-run``: classify video clips, or cameras and streams live, with an exported bundle.

SOURCE is resolved once into typed sources (``sources.py``); the run is then
chosen from them by ``run_kind`` and started through one table, ``RUNS``. The
runs themselves live in ``clips.py`` and ``live.py``; each imports ONNX
Runtime, OpenCV or Ray only when it starts, so ``--help`` answers at once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..providers import DEVICES
from .clips import check_file_options, run_clip, run_folder, run_on_cluster
from .errors import reports_errors
from .live import run_live_source, run_several
from .options import (
    EVENT_OPTIONS,
    LIVE_OPTIONS,
    SERVE_OPTIONS,
    EventOptions,
    LiveSettings,
    Output,
    WatchSettings,
    cluster_of,
    engine_options,
    event_options,
    live_options,
    options_given,
    serve_options,
)

if TYPE_CHECKING:
    from ..cluster.ray_engine import Cluster
    from ..sources import Source


def describe_builds() -> str:
    """What ``--version`` prints: vclf's version and the ONNX Runtime and OpenCV builds it runs on."""
    from ..builds import onnxruntime_build, opencv_build

    return "\n".join([f"vclf-run {metadata.version('vclf')}", f"ONNX Runtime: {onnxruntime_build()}", f"OpenCV: {opencv_build()}"])


def show_version(context: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: eager, so it answers before SOURCE and --model are asked for."""
    if value and not context.resilient_parsing:
        click.echo(describe_builds())
        context.exit()


@dataclass(frozen=True)
class Request:
    """One ``vclf-run`` invocation: the typed sources and every option, grouped."""

    sources: list["Source"]
    model_dir: str
    device: str
    output: Output
    table: Path | None
    decode_timeout: float | None
    cluster: "Cluster | None"
    live: LiveSettings
    replay_files: bool
    events: EventOptions
    watched: WatchSettings

    @property
    def source(self) -> "Source":
        return self.sources[0]


SEVERAL, LIVE, RAY, FOLDER, CLIP = "several", "live", "ray", "folder", "clip"
LIVE_RUNS = (SEVERAL, LIVE)


def run_kind(request: Request) -> str:
    """Which run the sources and options ask for.

    Several sources, a ``.streams`` listing, ``--events``, ``--serve`` or
    ``--record``: the batching loop. One camera or stream, or ``--live``:
    the live loop. Files: Ray with ``--engine ray``; the folder pipeline for
    a folder, glob or listing, or with ``--out`` or ``--decode-timeout``;
    else one clip here.
    """
    from ..sources import STREAMS

    if len(request.sources) > 1 or any(s.kind == STREAMS for s in request.sources) or request.events.events or request.watched.wanted:
        return SEVERAL
    if request.replay_files or request.source.live:
        return LIVE
    if request.cluster:
        return RAY
    if request.source.many or request.table or request.decode_timeout:
        return FOLDER
    return CLIP


RUNS: dict[str, Callable[[Request], None]] = {
    SEVERAL: lambda r: run_several(r.sources, r.model_dir, r.device, r.output, r.live, r.replay_files, r.events, r.watched),
    LIVE: lambda r: run_live_source(r.source, r.model_dir, r.device, r.output, r.live),
    RAY: lambda r: run_on_cluster(r.source, r.model_dir, r.device, r.output, r.table, r.cluster),
    FOLDER: lambda r: run_folder(r.source, r.model_dir, r.device, r.output, r.table, r.decode_timeout),
    CLIP: lambda r: run_clip(r.source, r.model_dir, r.device, r.output),
}


def check_usage(kind: str, request: Request) -> None:
    """The options that do not apply to this kind of run are usage errors (exit 2), named."""
    if kind in LIVE_RUNS:
        if request.cluster or request.table or request.decode_timeout:
            wrong = "engine ray" if request.cluster else "out" if request.table else "decode-timeout"
            raise click.UsageError(f"--{wrong} applies to files, not live sources")
        given = options_given(EVENT_OPTIONS) if kind == LIVE else []
        if given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} applies with --events")
        return
    given = options_given(LIVE_OPTIONS + EVENT_OPTIONS + SERVE_OPTIONS)
    if given:
        raise click.UsageError(f"--{given[0].replace('_', '-')} applies to live sources (a camera, a stream or --live)")
    check_file_options(request.source, request.output.gif_path, request.cluster, request.table, request.decode_timeout)


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
    live: bool,
    stride: int | None,
    smooth: int,
    display: bool | None,
    reconnect: int,
    events: bool,
    on: float,
    off: float,
    min_duration: float,
    min_gap: float,
    serve: str | None,
    record: Path | None,
    pre: float,
    post: float,
) -> None:
    from ..files import check_output_path
    from ..sources import resolve_source

    cluster = cluster_of(engine, address, workers)
    typed = [resolve_source(text) for text in sources]
    for option, path in (("--gif", gif_path), ("--out", table)):
        if path is not None:
            check_output_path(option, Path(path))
    if verbose:
        from ..builds import onnxruntime_build, opencv_build

        click.echo(f"vclf-run: ONNX Runtime {onnxruntime_build()}; OpenCV {opencv_build()}", err=True)
    if record is None and options_given(("pre", "post")):
        raise click.UsageError("--pre and --post apply with --record")
    request = Request(
        typed,
        model_dir,
        device,
        Output(as_json, top_k, gif_path, verbose),
        table,
        decode_timeout,
        cluster,
        LiveSettings(stride, smooth, display, reconnect),
        live,
        EventOptions(events, on, off, min_duration, min_gap),
        WatchSettings(serve, record, pre, post),
    )
    kind = run_kind(request)
    check_usage(kind, request)
    RUNS[kind](request)
