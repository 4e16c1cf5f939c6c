"""What ``--serve`` and ``--record`` start beside the live loop, and the watcher that hands them its sources, steps and predictions."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..live.capture import CapturedFrame
from ..live.events import Event, EventSettings
from ..live.loop import LivePrediction
from ..live.multi_source import SourceState
from ..signals import stop_requests

if TYPE_CHECKING:  # imported for --serve and --record only
    from .record import Recorder
    from .watch import Watch


class LookingOn:
    """The loop's watcher for ``--serve`` and ``--record``: hands the sources, steps and predictions on."""

    def __init__(self, watch: "Watch | None", recorder: "Recorder | None"):
        self.watch, self.recorder = watch, recorder

    def opened(self, states: list[SourceState]) -> None:
        if self.recorder:
            for state in states:
                self.recorder.attach(state.name, state.capture)
        if self.watch:
            self.watch.opened(states)

    def stepped(self, batch_size: int) -> None:
        if self.watch:
            self.watch.stepped(batch_size)

    def predicted(self, name: str, frame: CapturedFrame, prediction: LivePrediction) -> None:
        if self.watch:
            self.watch.predicted(name, frame, prediction)


@contextmanager
def looking_on(
    serve: str | None,
    record: Path | None,
    pre: float,
    post: float,
    names: list[str],
    settings: EventSettings | None,
    emit_event: Callable[[str, Event], None],
    report: Callable[[str], None],
) -> Iterator[tuple[LookingOn | None, Callable[[str, Event], None], Callable[[bool], None]]]:
    """The watcher, the event callback that also feeds the page and the recorder, and what to call when the loop ended.

    Nothing is started (or imported) for an option not given; the server's
    packages missing is a MissingPackageError (exit 2)."""
    watch = server = recorder = None
    if serve is not None:
        from .metrics import Metrics
        from .server import ViewServer, is_loopback, parse_address
        from .watch import Watch

        address = parse_address(serve)
        metrics = Metrics()
        watch = Watch(names, metrics)
        try:
            server = ViewServer(address, watch, metrics)
        except OSError as exc:
            raise click.UsageError(f"--serve {serve}: cannot listen there ({exc.strerror or exc})") from None
        report(f"serving {server.url}")
        if not is_loopback(address[0]):
            report(f"--serve {address[0]} is reachable from other machines; the page and streams have no password")
        server.start()
    if record is not None:
        from .record import Recorder

        assert settings is not None  # --record makes events
        recorder = Recorder(record, pre, post, settings.min_duration + settings.min_gap, report)

    def on_event(name: str, event: Event) -> None:
        emit_event(name, event)
        if watch or recorder:
            line = event.to_dict(name)
            if watch:
                watch.event(line)
            if recorder:
                recorder.event(name, event, line)

    def ended(stopped: bool) -> None:
        """After the loop: clips finish; the page stays up for a look at the end unless a stop was asked for."""
        if recorder:
            recorder.close()
        if server and not stopped:
            report(f"every source has ended; still serving {server.url} until Ctrl-C")
            with stop_requests() as stop:
                while not stop.wait(0.5):
                    pass

    watcher = LookingOn(watch, recorder) if watch or recorder else None
    try:
        yield watcher, on_event, ended
    finally:
        if recorder:
            recorder.close()
        if server:
            server.stop()
