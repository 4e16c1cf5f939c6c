"""``vclf-run``'s option groups, each with the record its values travel in (and ``--engine``, shared with ``vclf-train fit``).

Nothing heavy is imported here: ``--help`` answers before ONNX Runtime or Ray
is loaded.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..live.events import MIN_DURATION_S, MIN_GAP_S, OFF_DEFAULT, ON_DEFAULT
from ..serve.record import PREROLL_CAP_MB, QUEUE_MB

if TYPE_CHECKING:
    from ..cluster.ray_engine import Cluster

ENGINES = ("local", "ray")
LIVE_OPTIONS = ("stride", "smooth", "display", "reconnect")
EVENT_OPTIONS = ("events", "on", "off", "min_duration", "min_gap")
SERVE_OPTIONS = ("serve", "record", "pre", "post")


def add_options(command: Callable, options: list[Callable]) -> Callable:
    """Apply click option decorators in the order listed (the first shows first in ``--help``)."""
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class Output:
    """What a run prints and keeps: JSON lines or text, the top K, a GIF, the ``--verbose`` lines."""

    as_json: bool = False
    top_k: int | None = None
    gif_path: str | None = None
    verbose: bool = False


@dataclass(frozen=True)
class LiveSettings:
    """The live options: every ``stride``-th frame classified, ``smooth`` predictions averaged, the window, reconnects."""

    stride: int | None = None  # None: the bundle's live_stride
    smooth: int = 1
    display: bool | None = None  # None: when a display is usable
    reconnect: int = 5


@dataclass(frozen=True)
class EventOptions:
    """``--events`` (print events, not predictions) and the thresholds events are made with."""

    events: bool = False
    on: float = ON_DEFAULT
    off: float = OFF_DEFAULT
    min_duration: float = MIN_DURATION_S
    min_gap: float = MIN_GAP_S


@dataclass(frozen=True)
class WatchSettings:
    """``--serve [HOST:]PORT`` and ``--record DIR`` with its pre- and post-roll in seconds."""

    serve: str | None = None
    record: Path | None = None
    pre: float = 2.0
    post: float = 2.0

    @property
    def wanted(self) -> bool:
        return self.serve is not None or self.record is not None


def engine_options(command: Callable) -> Callable:
    """Add ``--engine local|ray``, ``--address`` and ``--workers`` to a command."""
    return add_options(
        command,
        [
            click.option(
                "--engine",
                type=click.Choice(ENGINES),
                default="local",
                show_default=True,
                help="local: this machine's processes; ray: decoding tasks and model actors on a Ray cluster.",
            ),
            click.option(
                "--address",
                default=None,
                help="Ray: the cluster to join (host:port of its head, or auto) [default: $RAY_ADDRESS, "
                "else a Ray runtime started on this machine's CPUs].",
            ),
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                default=None,
                help="Ray: model actors [default: one per GPU of the cluster; without GPUs one per node].",
            ),
        ],
    )


def cluster_of(engine: str, address: str | None, workers: int | None) -> "Cluster | None":
    """The Cluster the engine options ask for; None for the local engine (where ``--address`` and ``--workers`` are usage errors)."""
    if engine == "ray":
        from ..cluster.ray_engine import Cluster

        return Cluster(address, workers)
    if address or workers:
        raise click.UsageError(f"--{'address' if address else 'workers'} applies to --engine ray")
    return None


def live_options(command: Callable) -> Callable:
    """Add ``--live``, ``--stride``, ``--smooth``, ``--display/--no-display`` and ``--reconnect``."""
    return add_options(
        command,
        [
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
        ],
    )


def event_options(command: Callable) -> Callable:
    """Add ``--events``, ``--on``, ``--off``, ``--min-duration`` and ``--min-gap``."""
    probability = click.FloatRange(0.0, 1.0)
    seconds = click.FloatRange(min=0.0)
    return add_options(
        command,
        [
            click.option(
                "--events",
                is_flag=True,
                help="Live: print actions as events, a line when one starts and when it ends, instead of every prediction "
                "(the defaults below: the best of benchmarks/event_thresholds.py on make live-switch's model).",
            ),
            click.option(
                "--on",
                type=probability,
                default=ON_DEFAULT,
                show_default=True,
                help="Events: an action starts at or above this probability...",
            ),
            click.option("--off", type=probability, default=OFF_DEFAULT, show_default=True, help="Events: ...and ends below this one."),
            click.option(
                "--min-duration",
                type=seconds,
                default=MIN_DURATION_S,
                show_default=True,
                help="Events: seconds as the highest label at or above --on (through dips shorter than --min-gap) before an action starts.",
            ),
            click.option(
                "--min-gap", type=seconds, default=MIN_GAP_S, show_default=True, help="Events: seconds below --off before it ends."
            ),
        ],
    )


def serve_options(command: Callable) -> Callable:
    """Add ``--serve``, ``--record``, ``--pre`` and ``--post``."""
    seconds = click.FloatRange(min=0.0)
    return add_options(
        command,
        [
            click.option(
                "--serve",
                metavar="[HOST:]PORT",
                default=None,
                help="Live: serve a page of every source's overlay and events, MJPEG streams, /events (SSE), "
                "/predictions.json, /healthz and Prometheus /metrics on HOST (127.0.0.1 unless given); "
                "after the sources end it serves on until Ctrl-C. Needs the [serve] extra.",
            ),
            click.option(
                "--record",
                metavar="DIR",
                type=click.Path(file_okay=False, path_type=Path),
                default=None,
                help=f"Live: keep each event's clip (AVI, the source's rate and size) and a JSON sidecar in DIR/SOURCE/; "
                f"the pre-roll ring holds at most {PREROLL_CAP_MB} MB of frames per source, the writer's queue {QUEUE_MB} MB.",
            ),
            click.option("--pre", type=seconds, default=2.0, show_default=True, help="--record: seconds kept before an event starts."),
            click.option("--post", type=seconds, default=2.0, show_default=True, help="--record: seconds kept after it ends."),
        ],
    )


def options_given(names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` the user set on the command line (or through the environment)."""
    context = click.get_current_context()
    return [name for name in names if context.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
