"""Does a bundle's live label follow a change of action? Replays of grow clips then shrink clips.

    python benchmarks/live_switch.py BUNDLE [--replays 11] [--clips 6]

Each replay is ``--clips`` grow clips followed by as many shrink clips (40
frames each, rendered as ``vclf-train synth`` renders its clips, a new
scene per clip), classified window by window as ``vclf-run --live`` does
(the last T sampled frames, every ``live_stride`` frames; the clip path
computes the same windows, as tests/test_live.py shows). Per replay it
prints the share of predictions called ``grow`` before the switch and
``shrink`` from T sampled frames after it, when the window holds shrink
frames only, and counts the replays where both are more than half, as
``make live-switch`` (tests/switch_live.py) asserts for one replay over each
transport.
"""

import sys

import click
import numpy as np

from vclf.runtime.bundle import load_bundle
from vclf.runtime.engine import Engine
from vclf.runtime.preprocess import prepare_frame
from vclf.runtime.sampling import frame_mask, pad_sequence
from vclf.train.synth import action_stream

CLIP_FRAMES = 40
MOSTLY = 0.5  # more than half


def window_probabilities(engine: Engine, frames: list[np.ndarray]) -> np.ndarray:
    """``[sampled frames, C]``: the head on each live window, one per sampled frame."""
    bundle = engine.bundle
    features = engine.extract(np.stack([prepare_frame(f, bundle.image_size) for f in frames[:: bundle.live_stride]]))
    length = bundle.sequence_length
    windows = [features[max(0, k + 1 - length) : k + 1] for k in range(len(features))]
    return engine.classify(np.stack([pad_sequence(w, length) for w in windows]), np.stack([frame_mask(len(w), length) for w in windows]))


def window_labels(engine: Engine, frames: list[np.ndarray]) -> list[str]:
    """The top label of each live window, one per sampled frame."""
    return [engine.bundle.labels[i] for i in window_probabilities(engine, frames).argmax(axis=1)]


@click.command()
@click.argument("bundle_dir")
@click.option("--replays", default=11, show_default=True, help="Replays, seeded 0, 1, ...")
@click.option("--clips", default=6, show_default=True, help="Clips of each action per replay.")
def main(bundle_dir: str, replays: int, clips: int) -> None:
    engine = Engine(load_bundle(bundle_dir), "cpu")
    stride, length = engine.bundle.live_stride, engine.bundle.sequence_length
    click.echo("labels: " + ", ".join(f"{i} {label}" for i, label in enumerate(engine.bundle.labels)))
    passed = []
    for seed in range(replays):
        frames, switch = action_stream(("grow", "shrink"), clips, np.random.default_rng(seed), CLIP_FRAMES), clips * CLIP_FRAMES
        called = window_labels(engine, frames)
        first_shrink = -(-switch // stride)
        before = np.mean([c == "grow" for c in called[:first_shrink]])
        after = np.mean([c == "shrink" for c in called[first_shrink + length :]])
        passed.append(before > MOSTLY and after > MOSTLY)
        sequence = "".join(str(engine.bundle.labels.index(c)) for c in called)
        click.echo(f"replay {seed}: grow before the switch {before:.2f}, shrink after {after:.2f}  {sequence}")
    click.echo(f"{sum(passed)} of {replays} replays mostly (more than {MOSTLY}) grow before and shrink after the switch")


if __name__ == "__main__":
    sys.exit(main())
