"""Folder runs over a decoder that never returns (a hung mount): the deadline, worker replacement, and no process left behind."""

import os
import signal
import time
from pathlib import Path

import pytest
from support.clips import counting_frames
from support.commands import BackgroundCommand
from support.decoders import HANGING_RUN, decode_or_hang
from support.processes import descendants, running

from vclf.runtime.bundle import load_bundle
from vclf.runtime.clips.decoders import DEADLINE_BASE_S, DEADLINE_BYTES_PER_S, default_deadline
from vclf.runtime.clips.folder import FolderPipeline
from vclf.runtime.video_writer import write_video


@pytest.fixture
def folder_with_a_hung_file(tmp_path) -> Path:
    """``a.avi``, ``b_hang.avi`` (its decoder never returns), ``c.avi``."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a.avi", "b_hang.avi", "c.avi"):
        write_video(folder / name, counting_frames(12), fps=10)
    return folder


def test_the_default_deadline_grows_with_the_file():
    assert default_deadline(None) == DEADLINE_BASE_S
    assert default_deadline(80 * DEADLINE_BYTES_PER_S) == DEADLINE_BASE_S + 80


def test_a_file_past_its_deadline_fails_alone_and_a_new_worker_decodes_the_rest(bundle, folder_with_a_hung_file):
    files = sorted(folder_with_a_hung_file.iterdir())
    started = time.monotonic()
    with FolderPipeline(load_bundle(bundle), files, "cpu", workers=1, decode=decode_or_hang, decode_timeout=2) as pipeline:
        outcomes = list(pipeline.outcomes())
    assert [o.path.name for o in outcomes] == ["a.avi", "b_hang.avi", "c.avi"]
    assert outcomes[0].error is None and outcomes[2].error is None
    assert outcomes[1].error.exit_code == 3
    assert str(outcomes[1].error) == f"{files[1]}: decoder timed out after 2 s"
    assert time.monotonic() - started < 60


def test_a_worker_that_cannot_start_fails_its_clips_not_the_run(bundle, folder_with_a_hung_file):
    files = [folder_with_a_hung_file / "a.avi", folder_with_a_hung_file / "c.avi"]
    unpicklable = lambda path, *settings: None  # noqa: E731 - a worker cannot be started with it
    with FolderPipeline(load_bundle(bundle), files, "cpu", workers=1, decode=unpicklable) as pipeline:
        outcomes = list(pipeline.outcomes())
    assert [o.path for o in outcomes] == files
    assert all(o.error is not None and "no decoder could start" in str(o.error) for o in outcomes)


def test_the_command_reports_the_timeout_and_goes_on_in_order(bundle, folder_with_a_hung_file):
    run = BackgroundCommand("python", HANGING_RUN, folder_with_a_hung_file, "--model", bundle, "--json", "--decode-timeout", "3")
    code = run.finish(timeout=120)
    assert code == 3, run.stderr
    assert [line.split('"')[3].rsplit("/", 1)[1] for line in run.stdout] == ["a.avi", "c.avi"]
    assert run.stderr[0] == f"vclf-run: error: {folder_with_a_hung_file / 'b_hang.avi'}: decoder timed out after 3 s"
    assert run.stderr[-1].startswith("vclf-run: 2 clips ok, 1 failed")
    assert not any("Traceback" in line for line in run.stderr)


def wait_for_children(pid: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if children := descendants(pid):
            return children
        time.sleep(0.1)
    raise AssertionError(f"{pid} started no worker in {timeout} s")


def assert_all_end(pids: list[int], within: float) -> None:
    deadline = time.monotonic() + within
    while (left := [p for p in pids if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running {within} s after their parent: {left}"


def test_sighup_of_a_folder_run_is_handled_as_sigint(bundle, folder_with_a_hung_file):
    run = BackgroundCommand("python", HANGING_RUN, folder_with_a_hung_file, "--model", bundle, "--json")
    run.wait_for_lines(1, timeout=120)
    children = descendants(run.process.pid)
    run.process.send_signal(signal.SIGHUP)
    assert run.finish(timeout=20) == 130
    assert run.stderr == ["vclf-run: interrupted (SIGHUP)"]
    assert_all_end(children, within=5)


def test_kill_9_of_vclf_run_leaves_no_process_behind(bundle, folder_with_a_hung_file):
    run = BackgroundCommand("python", HANGING_RUN, folder_with_a_hung_file, "--model", bundle, "--json")
    run.wait_for_lines(1, timeout=120)  # a.avi done; a worker now holds b_hang.avi for good
    children = descendants(run.process.pid)
    assert children, "the folder run has workers"
    run.process.kill()
    run.finish(timeout=10)
    assert_all_end(children, within=5)


def test_sigterm_of_a_folder_run_stops_its_workers_and_exits_130_in_one_line_even_when_repeated(bundle, folder_with_a_hung_file, tmp_path):
    cache = tmp_path / "cache"
    run = BackgroundCommand(
        "python", HANGING_RUN, folder_with_a_hung_file, "--model", bundle, "--json", env=os.environ | {"VCLF_CACHE": str(cache)}
    )
    run.wait_for_lines(1, timeout=120)
    children = descendants(run.process.pid)
    run.process.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    run.process.send_signal(signal.SIGTERM)  # a second one does not cut the cleanup short
    assert run.finish(timeout=20) == 130
    assert run.stderr == ["vclf-run: interrupted (SIGTERM)"]
    assert_all_end(children, within=5)
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")], "temporary files left in the cache"


def test_a_single_clip_with_a_deadline_goes_through_a_worker_and_fails_alone(bundle, folder_with_a_hung_file):
    run = BackgroundCommand("python", HANGING_RUN, folder_with_a_hung_file / "b_hang.avi", "--model", bundle, "--decode-timeout", "2")
    assert run.finish(timeout=120) == 3
    assert run.stderr[0].endswith("b_hang.avi: decoder timed out after 2 s") and run.stdout == []
