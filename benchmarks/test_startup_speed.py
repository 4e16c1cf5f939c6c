"""Start-up: ``vclf-run`` on one clip, from process start to its printed prediction; ``--help`` of every command.

Each round is a fresh process (Python, ONNX Runtime, the bundle's graphs,
one clip); the optimised graphs are already in the cache, as on any start
after the first. Peak memory is that process's own. The printed
probabilities are checked against Keras on the same sampled frames.

``--help`` rows time a fresh process of each command and subcommand to its
usage text: what a user waits for before the first line, and what tells
whether heavy imports (TensorFlow, ONNX, pandas, Ray) wait until after
parsing. A bare interpreter's start is the row beside them.
"""

import json

import pytest
from checks import each_clip_matches
from measure import FASTEST, Command, Finished, Row, measure, printed_results

from vclf.runtime.providers import CPU

ROUNDS = 5
HELP_COMMANDS = [
    ("vclf-run",),
    ("vclf-train",),
    ("vclf-train", "synth"),
    ("vclf-train", "fetch"),
    ("vclf-train", "fit"),
    ("vclf-train", "evaluate"),
    ("vclf-train", "sweep"),
    ("vclf-export",),
]
HELP_TARGET_S = 1.5  # issue 17: each --help on the 2-core development machine, fastest round


@pytest.mark.benchmark(group="start-up")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_vclf_run_one_clip(benchmark, bundles, clip, precision):
    labels = json.loads((bundles[precision] / "bundle.json").read_text())["labels"]
    command = Command("vclf-run", clip.path, "--model", bundles[precision], "--json", "--device", "cpu", parse=printed_results(labels))
    row = Row(f"vclf-run {precision}, process", CPU, precision, "clips")
    check = each_clip_matches({str(clip.path): clip.probabilities}, precision)
    measure(benchmark, row, lambda: command, check, ROUNDS)


@pytest.mark.benchmark(group="help")
@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_of_each_command(benchmark, command):
    prog = " ".join(command)

    def check(finished: Finished) -> None:
        assert finished.stdout.startswith(f"Usage: {prog} [OPTIONS]") and "--help" in finished.stdout, finished.stdout[:200]
        assert finished.stderr == "", finished.stderr

    row = Row(f"{prog} --help, process", "none", "none", "starts")
    measure(benchmark, row, lambda: Command(*command, "--help", parse=lambda finished: finished), check, ROUNDS)
    if not benchmark.disabled:
        assert FASTEST[row.variant] < HELP_TARGET_S, f"{prog} --help took {FASTEST[row.variant]:.2f} s at best"


@pytest.mark.benchmark(group="help")
def test_bare_python_start(benchmark):
    """The floor under every --help row: the interpreter starting and exiting, nothing imported."""
    row = Row("python -c pass, process", "none", "none", "starts")
    measure(benchmark, row, lambda: Command("python", "-c", "pass", parse=lambda finished: finished), check_silent, ROUNDS)


def check_silent(finished: Finished) -> None:
    assert finished.stdout == finished.stderr == ""
