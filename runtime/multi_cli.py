"""``vclf-run`` on several live sources, or with ``--events``: the options and the run they start."""

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click

from .bundle import load_bundle
from .errors import one_line
from .capture import quiet_opencv
from .engine import Engine
from .events import MIN_DURATION_S, MIN_GAP_S, OFF_DEFAULT, ON_DEFAULT, Event, EventSettings, event_record
from .live import LivePrediction
from .live_cli import PROG, format_live, report, use_display
from .multi_live import run_sources
from .serve_cli import looking_on
from .sources import FILE, STREAMS, Source

EVENT_OPTIONS = ("events", "on", "off", "min_duration", "min_gap")


def event_options(command: Callable) -> Callable:
    """Add ``--events``, ``--on``, ``--off``, ``--min-duration`` and ``--min-gap``."""
    probability = click.FloatRange(0.0, 1.0)
    seconds = click.FloatRange(min=0.0)
    options = [
        click.option(
            "--events",
            is_flag=True,
            help="Live: print actions as events, a line when one starts and when it ends, instead of every prediction.",
        ),
        click.option("--on", type=probability, default=ON_DEFAULT, show_default=True, help="Events: an action starts at or above this probability..."),
        click.option("--off", type=probability, default=OFF_DEFAULT, show_default=True, help="Events: ...and ends below this one."),
        click.option(
            "--min-duration",
            type=seconds,
            default=MIN_DURATION_S,
            show_default=True,
            help="Events: seconds at or above --on before an action starts.",
        ),
        click.option(
            "--min-gap", type=seconds, default=MIN_GAP_S, show_default=True, help="Events: seconds below --off before it ends."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def wants_many(sources: list[Source], events: bool) -> bool:
    """Several sources, a ``.streams`` listing or ``--events``: the batching loop, rather than the single-source one."""
    return len(sources) > 1 or any(source.kind == STREAMS for source in sources) or events


def named_sources(sources: list[Source], replay_files: bool) -> list[tuple[str, Source]]:
    """``(name, source)`` per live source: ``.streams`` listings read, others named as given; names unique."""
    named: list[tuple[str, Source]] = []
    for source in sources:
        if source.kind == STREAMS:
            named += source.streams
        elif source.live or (replay_files and source.kind == FILE):
            named.append((source.text, source))
        elif replay_files:
            raise click.UsageError(f"--live replays video files; {one_line(source.text)} names a {source.kind}")
        else:
            raise click.UsageError(
                f"{one_line(source.text)}: several SOURCEs are live sources (cameras, streams, .streams listings, files with --live); "
                "for several clips name a folder, a glob or a listing"
            )
    names = [name for name, _ in named]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise click.UsageError(f"{one_line(twice)} is named twice; give each source once (a .streams listing can name them)")
    return named


def format_event(name: str, event: Event) -> str:
    """One line: ``door-cam: Punch started 12:03:04.2 (peak 91%)`` or ``... from 12:03:04.2 to 12:03:06.9 (2.7 s, ...)``."""
    clock = lambda t: datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-5]  # noqa: E731
    figures = f"peak {event.peak * 100:.0f}%, mean {event.mean * 100:.0f}%"
    if event.kind == "start":
        return f"{name}: {event.label} started {clock(event.start)} ({figures})"
    return f"{name}: {event.label} from {clock(event.start)} to {clock(event.end)} ({event.duration:.1f} s, {figures})"


def printers(as_json: bool, events: bool, window: bool) -> tuple[Callable[[LivePrediction], None], Callable[[str, Event], None]]:
    """Where predictions and events go: with ``--events`` only events are printed; JSON lines with --json."""

    def emit(prediction: LivePrediction) -> None:
        if events or (window and not as_json):
            return
        click.echo(json.dumps(prediction.to_dict()) if as_json else f"{prediction.source}: {format_live(prediction)}")

    def emit_event(name: str, event: Event) -> None:
        click.echo(json.dumps(event_record(name, event)) if as_json else format_event(name, event))

    return emit, emit_event


def run_many_command(
    sources: list[Source],
    model_dir: str,
    as_json: bool,
    top_k: int | None,
    device: str,
    gif_path: str | None,
    verbose: bool,
    replay_files: bool,
    stride: int | None,
    smooth: int,
    display: bool | None,
    reconnect: int,
    events: bool,
    on: float,
    off: float,
    min_duration: float,
    min_gap: float,
    serve: str | None = None,
    record: Path | None = None,
    pre: float = 0.0,
    post: float = 0.0,
) -> None:
    if gif_path:
        raise click.UsageError("--gif saves one live source's frames; several sources or --events do not keep them")
    if off > on:
        raise click.UsageError(f"--off {off} is above --on {on}; an action must end below where it starts")
    named = named_sources(sources, replay_files)
    watched = serve is not None or record is not None  # the page's event log and the clips need events
    settings = EventSettings(on, off, min_duration, min_gap) if events or watched else None
    quiet_opencv()
    engine = Engine(load_bundle(model_dir), device, verbose=verbose)
    window = use_display(display)
    emit, emit_event = printers(as_json, events, window)
    with looking_on(serve, record, pre, post, [name for name, _ in named], settings, emit_event if events else lambda *_: None, report) as (
        watch,
        on_event,
        ended,
    ):
        summary = run_sources(
            named,
            engine,
            stride or engine.bundle.live_stride,
            emit,
            report,
            smooth=smooth,
            top_k=top_k,
            reconnect=reconnect,
            events=settings,
            emit_event=on_event,
            window_title=f"{PROG} {len(named)} sources" if window else None,
            watch=watch,
        )
        ended(summary.stopped)
