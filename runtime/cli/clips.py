"""``vclf-run`` on files: one clip, a folder, glob or listing (decoded in worker processes), or a list on a Ray cluster."""

import json
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import one_line
from ..sources import Source
from .errors import echo_error
from .options import Output

if TYPE_CHECKING:
    from ..classify import Classifier, ClipResult
    from ..clips.folder import FolderPipeline, Outcome
    from ..cluster.pipeline import ClusterPipeline
    from ..cluster.ray_engine import Cluster


def describe_engine(classifier: "Classifier") -> str:
    """The ``--verbose`` header: what runs, where, and which better providers could not start."""
    bundle, engine = classifier.bundle, classifier.engine
    lines = [
        f"vclf-run: bundle {bundle.path} ({bundle.backbone}, {bundle.precision}, {len(bundle.labels)} labels)",
        f"vclf-run: provider {engine.provider}",
    ]
    lines += [f"vclf-run: passed over {name}: {why}" for name, why in engine.passed_over.items()]
    return "\n".join(one_line(line) for line in lines)


def format_result(result: "ClipResult") -> str:
    """The Keras example's ranking: one line per class, percent, most probable first."""
    width = max(len(p.label) for p in result.predictions)
    lines = [one_line(result.source)]
    lines += [f"  {p.label:<{width}}  {p.prob * 100:6.2f}%" for p in result.predictions]
    return "\n".join(lines)


def check_file_options(
    source: Source, gif_path: str | None, cluster: "Cluster | None", table: Path | None, decode_timeout: float | None
) -> None:
    """Usage errors among the options for files: ``--gif`` needs one clip classified here, ``--out`` a .parquet name,
    ``--decode-timeout`` the local engine's decoding workers."""
    if gif_path and len(source.files) > 1:
        raise click.UsageError("--gif takes a single clip, SOURCE names several")
    if gif_path and (cluster or table):
        raise click.UsageError(f"--gif saves a clip's frames here; --{'engine ray' if cluster else 'out'} does not keep them")
    if table and table.suffix.lower() != ".parquet":
        raise click.UsageError(f"--out {table}: name a .parquet file")
    if decode_timeout and (cluster or gif_path):
        raise click.UsageError(
            f"--decode-timeout applies to the local engine's decoding workers, not with --{'engine ray' if cluster else 'gif'}"
        )


def run_clip(source: Source, model_dir: str, device: str, output: Output) -> None:
    """One file, decoded and classified in this process."""
    from ..bundle import load_bundle
    from ..classify import Classifier

    assert source.path is not None  # a file
    classifier = Classifier(load_bundle(model_dir), device, verbose=output.verbose)
    if output.verbose:
        click.echo(describe_engine(classifier), err=True)
    started = time.perf_counter()
    result = classifier.classify_file(source.path, output.top_k)
    echo_result(result, output)
    if output.verbose:
        elapsed = (time.perf_counter() - started) * 1e3
        click.echo(f"vclf-run: {one_line(str(source.path))}: {elapsed:.0f} ms on {result.provider}", err=True)


def run_folder(source: Source, model_dir: str, device: str, output: Output, table: Path | None, decode_timeout: float | None) -> None:
    """The files of a folder, glob or listing (or one file with ``--out`` or ``--decode-timeout``), decoded by workers; exits."""
    from ..bundle import load_bundle
    from ..clips.folder import FolderPipeline

    bundle = load_bundle(model_dir)
    with FolderPipeline(bundle, source.files, device, output.top_k, decode_timeout=decode_timeout, verbose=output.verbose) as pipeline:
        if output.verbose:
            click.echo(describe_engine(pipeline.classifier), err=True)
        sys.exit(classify_many(pipeline, output, table))


def run_on_cluster(source: Source, model_dir: str, device: str, output: Output, table: Path | None, cluster: "Cluster | None") -> None:
    """The files decoded by Ray tasks and classified by Ray actors (``cluster`` says where); exits."""
    from ..bundle import load_bundle
    from ..cluster.pipeline import ClusterPipeline
    from ..cluster.ray_engine import describe_cluster, ray_runtime

    assert cluster is not None  # run_kind chose Ray because one was asked for
    bundle = load_bundle(model_dir)
    with ray_runtime(cluster.address), ClusterPipeline(bundle, source.files, device, output.top_k, cluster.workers) as pipeline:
        if output.verbose:
            click.echo(f"vclf-run: {describe_cluster(len(pipeline.map.actors))}", err=True)
        sys.exit(classify_many(pipeline, output, table))


def echo_result(result: "ClipResult", output: Output) -> None:
    click.echo(json.dumps(result.to_dict()) if output.as_json else format_result(result))
    if output.gif_path:
        from ..gif import save_gif

        save_gif(result.clip.frames, output.gif_path)


def classify_many(pipeline: "FolderPipeline | ClusterPipeline", output: Output, table: Path | None = None) -> int:
    """Each clip's result as it is ready, in input order (or into ``table``), failures as one line each; then a summary line.

    ``pipeline`` is a FolderPipeline or a ClusterPipeline. Returns the exit
    code: that of the last failure, 0 when none failed.
    """
    from ..clips.folder import Summary

    summary, exit_code = Summary(), 0

    def reported() -> Iterator["Outcome"]:
        nonlocal exit_code
        for outcome in pipeline.outcomes():
            summary.count(outcome)
            if outcome.error is not None:
                echo_error("vclf-run", outcome.error)
                exit_code = outcome.error.exit_code
            elif table is None:
                assert outcome.result is not None  # an outcome holds an error or a result
                echo_result(outcome.result, output)
            yield outcome

    if table is None:
        deque(reported(), maxlen=0)
    else:
        from ..clips.table import write_results_table

        write_results_table(table, reported())
    click.echo(f"vclf-run: {summary.line()}", err=True)
    return exit_code
