"""Evaluate an exported bundle on a dataset split, through the runtime exactly as ``vclf-run`` serves it."""

from pathlib import Path

import click
import numpy as np

from vclf.runtime.bundle import load_bundle
from vclf.runtime.classify import Classifier
from vclf.runtime.video import read_clip

from .dataset import check_dataset, encode_tags
from .report import evaluation_report
from .run import load_run


def evaluate_bundle(data_dir: str | Path, bundle_dir: str | Path, split: str = "test", device: str = "auto") -> dict:
    """The evaluation report of the bundle on ``split``, with the bundle's precision and the provider used.

    The split is checked against the bundle's labels before any clip is classified.
    """
    bundle = load_bundle(bundle_dir)
    clips = check_dataset(data_dir, (split,), labels=bundle.labels)[split]
    classifier = Classifier(bundle, device)
    with click.progressbar(clips.paths, label=f"Evaluating {split}", file=click.get_text_stream("stderr"), show_pos=True) as bar:
        probabilities = np.stack([classifier.probabilities(read_clip(path, bundle.sampling)) for path in bar])
    report = evaluation_report(probabilities, encode_tags(clips, bundle.labels), bundle.labels, [p.name for p in clips.paths], split)
    return {**report, "bundle": str(bundle_dir), "precision": bundle.precision, "provider": classifier.engine.provider}


def compare_with_run(run_dir: str | Path, bundle_dir: str | Path) -> str:
    """One line: the bundle's test accuracy on the run's own test clips beside the run's."""
    run = load_run(run_dir)
    run_metrics = run.metrics()
    bundle_report = evaluate_bundle(run.config["data_dir"], bundle_dir)
    return (
        f"Test accuracy: bundle {bundle_report['accuracy'] * 100:.2f}% ({bundle_report['precision']}), "
        f"run {run_metrics['test_accuracy'] * 100:.2f}% ({bundle_report['clips']} clips)"
    )
