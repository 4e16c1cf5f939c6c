"""Which ``--on`` and durations turn a live run's predictions into the right events? Replays of grow, shrink, grow.

    python benchmarks/event_thresholds.py BUNDLE [--replays 11] [--clips 6] [--on-values ...] [--seconds-values ...]

Each replay is ``--clips`` grow clips, as many shrink clips, then as many
grow clips again (40 frames each, a new scene per clip, at the synthetic
set's 25 fps), classified window by window as ``vclf-run --live`` does
(``live_switch.window_probabilities``). The event state machine runs on
those predictions for each ``--on`` in ``--on-values`` and each duration
in ``--seconds-values`` (as both ``--min-duration`` and ``--min-gap``;
``--off`` at its default). A replay counts as right when it gives exactly
three actions, grow, shrink, grow, each boundary within T sampled frames of
the truth. Prints, per setting, the right replays and the mean boundary
error in sampled frames; ``--show-wrong`` adds the actions of the wrong
ones. ``vclf-run``'s defaults are the setting with the most right replays
(among equals the shortest duration, then the highest ``--on``).
"""

import sys

import click
import numpy as np

from live_switch import CLIP_FRAMES, window_probabilities
from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.events import OFF_DEFAULT, EventSettings, EventTracker
from vclf.runtime.video_writer import FPS
from vclf.train.synth import action_stream

ACTIONS = ("grow", "shrink", "grow")


def actions(probabilities: np.ndarray, labels: list[str], settings: EventSettings, step_s: float) -> list[tuple[str, int, int]]:
    """(label, first sampled frame, end sampled frame) of each ended action."""
    tracker = EventTracker(labels, settings)
    events = [e for k, row in enumerate(probabilities) for e in tracker.update(k * step_s, row, k)] + tracker.finish()
    return [(e.label, e.start_frame, e.end_frame) for e in events if e.kind == "end"]


def boundary_errors(found: list[tuple[str, int, int]], truth: list[int], length: int) -> list[int] | None:
    """Each boundary's distance from the truth in sampled frames, when the actions are exactly ACTIONS
    and every boundary is within ``length``; else None."""
    if [label for label, _, _ in found] != list(ACTIONS):
        return None
    errors = [abs(start - truth[i]) for i, (_, start, _) in enumerate(found)] + [abs(end - truth[i + 1]) for i, (_, _, end) in enumerate(found)]
    return errors if max(errors) <= length else None


@click.command()
@click.argument("bundle_dir")
@click.option("--replays", default=11, show_default=True, help="Replays, seeded 0, 1, ...")
@click.option("--clips", default=6, show_default=True, help="Clips of each action per replay.")
@click.option("--on-values", default="0.5,0.6,0.7,0.8,0.9", show_default=True, help="The --on thresholds to compare.")
@click.option("--seconds-values", default="0.5,1,1.5,2", show_default=True, help="The --min-duration = --min-gap values to compare.")
@click.option("--show-wrong", is_flag=True, help="Print the actions found in each wrong replay.")
def main(bundle_dir: str, replays: int, clips: int, on_values: str, seconds_values: str, show_wrong: bool) -> None:
    engine = Engine(load_bundle(bundle_dir), "cpu")
    bundle = engine.bundle
    stride, length = bundle.live_stride, bundle.sequence_length
    step_s = stride / FPS
    per_clip = CLIP_FRAMES * clips
    sampled = -(-3 * per_clip // stride)
    truth = [0] + [-(-per_clip * i // stride) for i in (1, 2)] + [sampled - 1]  # the last action ends at the last prediction
    runs = []
    for seed in range(replays):
        frames = action_stream(ACTIONS[:2], clips, np.random.default_rng(seed), CLIP_FRAMES)
        frames += action_stream(ACTIONS[2:], clips, np.random.default_rng(seed + 1000), CLIP_FRAMES)
        runs.append(window_probabilities(engine, frames))
    click.echo(f"{replays} replays of {clips} clips per action, stride {stride}, T {length}, off {OFF_DEFAULT}")
    for seconds in (float(v) for v in seconds_values.split(",")):
        for on in (float(v) for v in on_values.split(",")):
            settings = EventSettings(on=on, off=min(OFF_DEFAULT, on), min_duration=seconds, min_gap=seconds)
            found = [actions(p, bundle.labels, settings, step_s) for p in runs]
            errors = [boundary_errors(f, truth, length) for f in found]
            right = [e for e in errors if e is not None]
            mean = f"{np.mean(right):.1f}" if right else "-"
            click.echo(f"--on {on:.2f} --min-duration/--min-gap {seconds:.1f} s: {len(right)} of {replays} right, mean boundary error {mean} sampled frames")
            for seed, (f, e) in enumerate(zip(found, errors)):
                if e is None and show_wrong:
                    click.echo(f"    replay {seed}: {f}")


if __name__ == "__main__":
    sys.exit(main())
