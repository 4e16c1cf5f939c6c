"""``vclf-run`` on live sources: one camera, stream or replayed file; or several, batched, with events, ``--serve`` and ``--record``."""

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ..errors import one_line
from ..sources import FILE, Source
from .options import EventOptions, LiveSettings, Output, WatchSettings

if TYPE_CHECKING:
    from ..engine import Engine
    from ..live.events import Event
    from ..live.loop import LivePrediction, LoopSettings

PROG = "vclf-run"


def report(line: str) -> None:
    click.echo(f"{PROG}: {line}", err=True)


def format_live(prediction: "LivePrediction") -> str:
    """One line: frame index, the ranked labels in percent, latency."""
    labels = "  ".join(f"{p.label} {p.prob * 100:5.1f}%" for p in prediction.predictions)
    return f"frame {prediction.frame_index:>6}  {labels}  ({prediction.latency_ms:.0f} ms)"


def format_event(name: str, event: "Event") -> str:
    """One line: ``door-cam: Punch started 12:03:04.2 (peak 91%)`` or ``... from 12:03:04.2 to 12:03:06.9 (2.7 s, ...)``."""
    clock = lambda t: datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-5]  # noqa: E731
    figures = f"peak {event.peak * 100:.0f}%, mean {event.mean * 100:.0f}%"
    if event.kind == "start":
        return f"{name}: {event.label} started {clock(event.start)} ({figures})"
    return f"{name}: {event.label} from {clock(event.start)} to {clock(event.end)} ({event.duration:.1f} s, {figures})"


def use_display(requested: bool | None) -> bool:
    """A window when asked for (or by default) and one can open; says why not when asked for and it cannot."""
    if requested is False:
        return False
    from ..live.display import window_problem

    problem = window_problem()
    if requested and problem:
        report(f"--display: {problem}; printing predictions instead")
    return problem is None


def live_engine(model_dir: str, device: str, verbose: bool, threads: int | None = None) -> "Engine":
    """The bundle's engine (``threads``: as ``Engine``'s), with OpenCV's own warnings off (a reconnect is reported once, by vclf)."""
    from ..bundle import load_bundle
    from ..engine import Engine
    from ..live.capture import quiet_opencv

    quiet_opencv()
    return Engine(load_bundle(model_dir), device, verbose=verbose, threads=threads)


def loop_settings(live: LiveSettings, output: Output, engine: "Engine") -> "LoopSettings":
    """The loop's settings from the options; the stride defaults to the bundle's, the spacing seen in training."""
    from ..live.loop import LoopSettings

    return LoopSettings(live.stride or engine.bundle.live_stride, live.smooth, output.top_k, live.reconnect)


def run_live_source(source: Source, model_dir: str, device: str, output: Output, live: LiveSettings) -> None:
    """One camera or stream (or a file with ``--live``) classified continuously in this process."""
    from ..live.loop import run_live

    if not source.live and source.kind != FILE:
        raise click.UsageError(f"--live replays one video file; {source.text} names a {source.kind}")
    engine = live_engine(model_dir, device, output.verbose)
    window = use_display(live.display)

    def emit(prediction: "LivePrediction") -> None:
        if output.as_json:
            click.echo(json.dumps(prediction.to_dict()))
        elif not window:
            click.echo(format_live(prediction))

    run_live(
        source,
        engine,
        loop_settings(live, output, engine),
        emit,
        report,
        window_title=f"{PROG} {source.text}" if window else None,
        gif_path=output.gif_path,
    )


def named_sources(sources: list[Source], replay_files: bool) -> list[tuple[str, Source]]:
    """``(name, source)`` per live source: ``.streams`` listings read, others named as given; names unique."""
    from ..sources import STREAMS

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


def run_several(
    sources: list[Source],
    model_dir: str,
    device: str,
    output: Output,
    live: LiveSettings,
    replay_files: bool,
    event_options: EventOptions,
    watched: WatchSettings,
) -> None:
    """Several live sources (or one with ``--events``, ``--serve`` or ``--record``) in one batching loop.

    Predictions are printed unless ``--events`` is given, then only the
    events; ``--serve`` and ``--record`` get the events either way (the page's
    log and the clips are made of them)."""
    from ..live.events import EventSettings
    from ..live.multi_source import STEP_THREADS, run_sources
    from ..serve.watchers import looking_on

    if output.gif_path:
        raise click.UsageError("--gif saves one live source's frames; several sources or --events do not keep them")
    on, off, events = event_options.on, event_options.off, event_options.events
    if off > on:
        raise click.UsageError(f"--off {off} is above --on {on}; an action must end below where it starts")
    named = named_sources(sources, replay_files)
    settings = EventSettings(on, off, event_options.min_duration, event_options.min_gap) if events or watched.wanted else None
    engine = live_engine(model_dir, device, output.verbose, STEP_THREADS)
    window = use_display(live.display)

    def emit(prediction: "LivePrediction") -> None:
        if events or (window and not output.as_json):
            return
        click.echo(json.dumps(prediction.to_dict()) if output.as_json else f"{prediction.source}: {format_live(prediction)}")

    def emit_event(name: str, event: "Event") -> None:
        click.echo(json.dumps(event.to_dict(name)) if output.as_json else format_event(name, event))

    names = [name for name, _ in named]
    with looking_on(
        watched.serve, watched.record, watched.pre, watched.post, names, settings, emit_event if events else lambda *_: None, report
    ) as (
        watch,
        on_event,
        ended,
    ):
        summary = run_sources(
            named,
            engine,
            loop_settings(live, output, engine),
            emit,
            report,
            events=settings,
            emit_event=on_event,
            window_title=f"{PROG} {len(named)} sources" if window else None,
            watch=watch,
        )
        ended(summary.stopped)
