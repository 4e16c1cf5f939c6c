"""Which ``--on``, ``--off`` and durations turn a live run's predictions into the right events? Replays of grow, shrink, grow.

    python benchmarks/event_thresholds.py BUNDLE [--replays 22] [--clips 6] [--on-values ...] [--off-values ...] [--seconds-values ...]

Each replay is ``--clips`` grow clips, as many shrink clips, then as many
grow clips again (40 frames each, a new scene per clip, at the synthetic
set's 25 fps), written by OpenCV as a Motion-JPEG AVI and decoded back,
then classified window by window as ``vclf-run --live`` does
(``live_switch.window_probabilities``). The event state machine runs on
those predictions for each ``--on``, each ``--off`` (at most ``--on``) and
each duration in ``--seconds-values`` (as both ``--min-duration`` and
``--min-gap``). A replay is exact when it gives exactly three actions,
grow, shrink, grow, each boundary within T sampled frames of the truth.

Per setting it prints the exact replays, the boundary errors in sampled
frames (max and median, over the replays whose actions come in the right
order), the flickers (a single prediction below ``--off`` of an action's
label, its neighbours at or above, once the window holds that action's
frames only) and how many of them ended an action there, and the same for a
flicker put into each action of each replay (its middle prediction given to
another label): how many of those split the action. ``--show-wrong`` adds
the actions of the replays that are not exact. The last line is the best
setting: the most exact replays, among equals the shortest duration, then
the smallest largest boundary error, then the highest ``--on``, then the
highest ``--off`` (``vclf-run``'s defaults are the best setting on ``make
live-switch``'s model).
"""

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from live_switch import CLIP_FRAMES, window_probabilities

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.live.events import EventSettings, EventTracker
from vclf.runtime.video import opened_video
from vclf.runtime.video_writer import FPS, write_video
from vclf.train.synth import action_stream

ACTIONS = ("grow", "shrink", "grow")

Found = list[tuple[str, int, int]]  # (label, first sampled frame, end sampled frame) of each ended action


def replay(seed: int, clips: int, folder: Path) -> list[np.ndarray]:
    """Replay ``seed``'s frames as ``vclf-run --live`` reads them: written by OpenCV, decoded back."""
    frames = action_stream(ACTIONS[:2], clips, np.random.default_rng(seed), CLIP_FRAMES)
    frames += action_stream(ACTIONS[2:], clips, np.random.default_rng(seed + 1000), CLIP_FRAMES)
    decoded = []
    with opened_video(write_video(folder / f"replay-{seed}.avi", frames, fps=FPS)) as capture:
        ok, frame = capture.read()
        while ok:
            decoded.append(frame)
            ok, frame = capture.read()
    if len(decoded) != len(frames):
        raise RuntimeError(f"replay {seed}: wrote {len(frames)} frames, decoded {len(decoded)}")
    return decoded


def actions(probabilities: np.ndarray, labels: list[str], settings: EventSettings, step_s: float) -> Found:
    tracker = EventTracker(labels, settings)
    events = [e for k, row in enumerate(probabilities) for e in tracker.update(k * step_s, row, k)] + tracker.finish()
    return [(e.label, e.start_frame, e.end_frame) for e in events if e.kind == "end"]


def boundary_errors(found: Found, truth: list[int]) -> list[int] | None:
    """Each boundary's distance from the truth in sampled frames when the actions are ACTIONS in order; else None."""
    if [label for label, _, _ in found] != list(ACTIONS):
        return None
    starts = [abs(start - truth[i]) for i, (_, start, _) in enumerate(found)]
    return starts + [abs(end - truth[i + 1]) for i, (_, _, end) in enumerate(found)]


def flickers(probabilities: np.ndarray, labels: list[str], truth: list[int], length: int, off: float) -> list[tuple[str, int]]:
    """(label, prediction) where a truth action's label alone dips below ``off`` (the one before and
    after at or above), once the window holds that action's frames only."""
    dips = []
    for action, label in enumerate(ACTIONS):
        p = probabilities[:, labels.index(label)]
        inside = range(truth[action] + length, min(truth[action + 1], len(p) - 1))
        dips += [(label, k) for k in inside if p[k] < off <= min(p[k - 1], p[k + 1])]
    return dips


def with_flicker(probabilities: np.ndarray, labels: list[str], truth: list[int], action: int) -> np.ndarray:
    """The predictions with the middle one of truth action ``action`` given wholly to another label."""
    flickered = probabilities.copy()
    other = (labels.index(ACTIONS[action]) + 1) % len(labels)
    flickered[(truth[action] + truth[action + 1]) // 2] = np.eye(len(labels))[other]
    return flickered


@dataclass
class Score:
    """One setting over the replays."""

    found: list[Found]  # each replay's actions
    errors: list[list[int] | None]  # each replay's boundary errors, None when its actions are not ACTIONS in order
    exact: int
    flickers: int  # found in the replays
    flickers_ended: int  # ... that ended an action there
    put: int  # flickers put in, one per action of each replay
    put_split: int  # ... that split it


def score(runs: list[np.ndarray], labels: list[str], settings: EventSettings, truth: list[int], length: int, step_s: float) -> Score:
    found = [actions(p, labels, settings, step_s) for p in runs]
    errors = [boundary_errors(f, truth) for f in found]
    exact = sum(e is not None and max(e) <= length for e in errors)
    dips = [flickers(p, labels, truth, length, settings.off) for p in runs]
    ended = sum(dip in {(label, end) for label, _, end in f} for f, d in zip(found, dips) for dip in d)
    put = [(p, f, a) for p, f in zip(runs, found) for a in range(len(ACTIONS))]
    split = sum(len(actions(with_flicker(p, labels, truth, a), labels, settings, step_s)) > len(f) for p, f, a in put)
    return Score(found, errors, exact, sum(map(len, dips)), ended, len(put), split)


@click.command()
@click.argument("bundle_dir")
@click.option("--replays", default=22, show_default=True, help="Replays, seeded 0, 1, ...")
@click.option("--clips", default=6, show_default=True, help="Clips of each action per replay.")
@click.option("--on-values", default="0.5,0.6,0.7,0.8,0.9", show_default=True, help="The --on thresholds to compare.")
@click.option("--off-values", default="0.3,0.4", show_default=True, help="The --off thresholds to compare (those above --on skipped).")
@click.option("--seconds-values", default="0.5,1,1.5,2,2.5,3", show_default=True, help="The --min-duration = --min-gap values.")
@click.option("--show-wrong", is_flag=True, help="Print the actions found in each replay that is not exact.")
def main(bundle_dir: str, replays: int, clips: int, on_values: str, off_values: str, seconds_values: str, show_wrong: bool) -> None:
    engine = Engine(load_bundle(bundle_dir), "cpu")
    bundle = engine.bundle
    stride, length, labels = bundle.live_stride, bundle.sequence_length, bundle.labels
    step_s = stride / FPS
    per_clip = CLIP_FRAMES * clips
    sampled = -(-3 * per_clip // stride)
    truth = [0] + [-(-per_clip * i // stride) for i in (1, 2)] + [sampled - 1]  # the last action ends at the last prediction
    with tempfile.TemporaryDirectory() as folder:
        runs = [window_probabilities(engine, replay(seed, clips, Path(folder))) for seed in range(replays)]
    click.echo(f"{replays} replays of {clips} clips per action written by OpenCV, stride {stride}, T {length} sampled frames")
    best = None
    for seconds in (float(v) for v in seconds_values.split(",")):
        for on in (float(v) for v in on_values.split(",")):
            for off in (float(v) for v in off_values.split(",") if float(v) <= on):
                result = score(runs, labels, EventSettings(on, off, seconds, seconds), truth, length, step_s)
                ordered = [e for e in result.errors if e is not None]
                spread = f"max {max(map(max, ordered))}, median {np.median(np.concatenate(ordered)):g}" if ordered else "-"
                click.echo(
                    f"--on {on:.2f} --off {off:.2f} --min-duration/--min-gap {seconds:.1f} s: exact {result.exact}/{replays}, "
                    f"boundary error {spread} sampled frames ({len(ordered)} in order); flickers inside actions "
                    f"{result.flickers}, {result.flickers_ended} ended one; flickers put in {result.put_split}/{result.put} split one"
                )
                if show_wrong:
                    for seed, (f, e) in enumerate(zip(result.found, result.errors)):
                        if e is None or max(e) > length:
                            click.echo(f"    replay {seed}: {f}")
                rank = (result.exact, -seconds, -max(map(max, ordered), default=sampled), on, off)
                if best is None or rank > best[0]:
                    best = (rank, f"--on {on:.2f} --off {off:.2f} --min-duration {seconds:g} --min-gap {seconds:g}")
    click.echo(f"best: {best[1]} ({best[0][0]}/{replays} exact)")


if __name__ == "__main__":
    sys.exit(main())
