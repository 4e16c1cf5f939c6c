"""The live options of ``vclf-run`` and the run they start."""

import json
from collections.abc import Callable

import click

from .bundle import load_bundle
from .capture import quiet_opencv
from .display import window_problem
from .engine import Engine
from .live import LivePrediction, run_live
from .sources import FILE, Source

LIVE_OPTIONS = ("stride", "smooth", "display", "reconnect")
PROG = "vclf-run"


def live_options(command: Callable) -> Callable:
    """Add ``--live``, ``--stride``, ``--smooth``, ``--display/--no-display`` and ``--reconnect``."""
    options = [
        click.option("--live", is_flag=True, help="Replay a video file as a camera would, at its own frame rate."),
        click.option(
            "--stride",
            type=click.IntRange(min=1),
            default=None,
            help="Live: classify every N-th source frame (default: the bundle's live_stride, the spacing seen in training).",
        ),
        click.option(
            "--smooth",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Live: average the last N predictions (1: off).",
        ),
        click.option(
            "--display/--no-display",
            default=None,
            help="Live: show a window with the frame and the top labels (default: when a display is usable).",
        ),
        click.option(
            "--reconnect",
            type=click.IntRange(min=0),
            default=5,
            show_default=True,
            help="Live: reopen a camera or stream that stops, up to N attempts in a row, waiting longer each time.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def report(line: str) -> None:
    click.echo(f"{PROG}: {line}", err=True)


def format_live(prediction: LivePrediction) -> str:
    """One line: frame index, the ranked labels in percent, latency."""
    labels = "  ".join(f"{p.label} {p.prob * 100:5.1f}%" for p in prediction.predictions)
    return f"frame {prediction.frame_index:>6}  {labels}  ({prediction.latency_ms:.0f} ms)"


def printer(as_json: bool, window: bool) -> Callable[[LivePrediction], None]:
    """JSON lines with --json; else text lines, unless a window shows the predictions."""

    def emit(prediction: LivePrediction) -> None:
        if as_json:
            click.echo(json.dumps(prediction.to_dict()))
        elif not window:
            click.echo(format_live(prediction))

    return emit


def use_display(requested: bool | None) -> bool:
    """A window when asked for (or by default) and one can open; says why not when asked for and it cannot."""
    if requested is False:
        return False
    problem = window_problem()
    if requested and problem:
        report(f"--display: {problem}; printing predictions instead")
    return problem is None


def run_live_command(
    source: Source,
    model_dir: str,
    as_json: bool,
    top_k: int | None,
    device: str,
    gif_path: str | None,
    verbose: bool,
    stride: int | None,
    smooth: int,
    display: bool | None,
    reconnect: int,
) -> None:
    if not source.live and source.kind != FILE:
        raise click.UsageError(f"--live replays one video file; {source.text} names a {source.kind}")
    quiet_opencv()
    engine = Engine(load_bundle(model_dir), device, verbose=verbose)
    window = use_display(display)
    run_live(
        source,
        engine,
        stride or engine.bundle.live_stride,
        printer(as_json, window),
        report,
        smooth=smooth,
        top_k=top_k,
        reconnect=reconnect,
        window_title=f"{PROG} {source.text}" if window else None,
        gif_path=gif_path,
    )
