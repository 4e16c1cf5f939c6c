"""Bad input gives one line on stderr naming the input and the cause, and the contract's exit code."""

import json
import os
import shutil

import pytest
from support.commands import assert_one_line_error, run_command

from vclf.runtime.video_writer import write_video


def test_missing_clip(bundle, tmp_path):
    result = run_command("vclf-run", tmp_path / "gone.avi", "--model", bundle, check=False)
    assert_one_line_error(result, 3, "gone.avi", "no such file")


def test_file_that_is_not_a_video(bundle, tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("these are notes, not frames\n")
    result = run_command("vclf-run", path, "--model", bundle, check=False)
    assert_one_line_error(result, 3, "notes.avi", "not a video")


def test_zero_frame_video(bundle, tmp_path):
    path = write_video(tmp_path / "empty.avi", [], size=(64, 48))
    result = run_command("vclf-run", path, "--model", bundle, check=False)
    assert_one_line_error(result, 3, "empty.avi", "no frames")


def test_bundle_dir_without_bundle_json(dataset, tmp_path):
    (tmp_path / "extractor.onnx").write_bytes(b"")
    result = run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", tmp_path, check=False)
    assert_one_line_error(result, 4, str(tmp_path), "bundle.json")


def test_damaged_graph_fails_its_checksum(bundle, dataset, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    with open(copy / "head.onnx", "r+b") as graph:
        graph.seek(100)
        graph.write(b"\x00\x01\x02")
    result = run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", copy, check=False)
    assert_one_line_error(result, 4, "head.onnx", "sha256")


def test_debug_shows_the_traceback(bundle, tmp_path):
    result = run_command("vclf-run", tmp_path / "gone.avi", "--model", bundle, "--debug", check=False)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_folder_reports_bad_clips_and_classifies_the_rest(bundle, dataset, tmp_path):
    shutil.copy(dataset / "test" / "grow_000.avi", tmp_path / "a.avi")
    (tmp_path / "b.avi").write_text("not a video")
    shutil.copy(dataset / "test" / "spin_000.avi", tmp_path / "c.avi")
    result = run_command("vclf-run", tmp_path, "--model", bundle, "--json", check=False)
    assert result.returncode == 3
    sources = [json.loads(line)["source"] for line in result.stdout.splitlines()]
    assert sources == [str(tmp_path / "a.avi"), str(tmp_path / "c.avi")], "one line per clip, in input order"
    *errors, summary = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "b.avi" in errors[0] and "not a video" in errors[0]
    assert "Traceback" not in result.stderr
    assert summary.startswith("vclf-run: 2 clips ok, 1 failed,") and summary.endswith("clips/s")


def test_fit_on_a_folder_without_the_layout(tmp_path):
    result = run_command("vclf-train", "fit", tmp_path, "--out", tmp_path / "run", "--weights", "none", check=False)
    assert_one_line_error(result, 3, "train.csv")
    assert not (tmp_path / "run").exists(), "a fixed dataset can be fitted again without --resume"


def test_fit_refuses_to_overwrite_a_run(dataset, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    result = run_command("vclf-train", "fit", dataset, "--out", tmp_path / "run", "--weights", "none", check=False)
    assert_one_line_error(result, 2, "already holds a run", "--resume")


def test_export_of_something_that_is_not_a_run(tmp_path):
    result = run_command("vclf-export", tmp_path, "--out", tmp_path / "bundle", check=False)
    assert_one_line_error(result, 4, str(tmp_path), "not a finished run")
    assert not (tmp_path / "bundle").exists()


def test_camera_that_cannot_be_opened_exits_5_naming_the_device(bundle):
    result = run_command("vclf-run", "camera9", "--model", bundle, "--no-display", check=False)
    assert_one_line_error(result, 5, "camera9", "cannot open camera device 9")


def test_live_replay_of_a_folder_is_a_usage_error(bundle, dataset):
    result = run_command("vclf-run", dataset / "test", "--model", bundle, "--live", check=False)
    assert result.returncode == 2 and "--live replays one video file" in result.stderr


def test_live_options_on_a_clip_are_a_usage_error(bundle, dataset):
    result = run_command("vclf-run", dataset / "test" / "blink_000.avi", "--model", bundle, "--stride", "3", check=False)
    assert result.returncode == 2 and "--stride applies to live sources" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["vclf-run"],
        ["vclf-export"],
        ["vclf-train"],
        ["vclf-train", "fit"],
        ["vclf-train", "evaluate"],
        ["vclf-train", "synth"],
        ["vclf-train", "fetch"],
    ],
)
def test_every_command_explains_itself(command):
    result = run_command(*command, "--help")
    assert result.stdout.startswith("Usage:") and len(result.stdout.splitlines()) > 5


def test_an_existing_name_with_glob_characters_classifies_that_file(bundle, dataset, tmp_path):
    shutil.copy(dataset / "test" / "grow_000.avi", tmp_path / "a[1].avi")
    shutil.copy(dataset / "test" / "spin_000.avi", tmp_path / "a1.avi")
    named = json.loads(run_command("vclf-run", tmp_path / "a[1].avi", "--model", bundle, "--json").stdout)
    alone = json.loads(run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", bundle, "--json").stdout)
    assert named["source"] == str(tmp_path / "a[1].avi")
    assert named["predictions"] == alone["predictions"]


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("camera99999999999999999999", "camera index past 255"),
        ("camera256", "camera index past 255"),
        ("file:///etc/hostname", "the file:// scheme is not a source this build reads"),
        ("ftp://host/clip.avi", "the ftp:// scheme is not a source this build reads"),
        ("rtsp://", "the URL names no host"),
    ],
)
def test_a_source_this_build_cannot_read_is_a_usage_error_naming_it(bundle, source, fragment):
    result = run_command("vclf-run", source, "--model", bundle, "--no-display", check=False)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def test_a_listing_that_is_not_utf8_is_exit_3_naming_it(bundle, tmp_path):
    listing = tmp_path / "clips.txt"
    listing.write_bytes(b"a.avi\n\xff\xfe.avi\n")
    result = run_command("vclf-run", listing, "--model", bundle, check=False)
    assert_one_line_error(result, 3, str(listing), "not UTF-8")


@pytest.mark.parametrize(
    "option, name, fragment",
    [
        ("--out", "missing/results.parquet", "does not exist"),
        ("--gif", "missing/frames.gif", "does not exist"),
        ("--out", "folder.parquet", "is a directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_a_usage_error_before_any_work(bundle, dataset, tmp_path, option, name, fragment):
    (tmp_path / "folder.parquet").mkdir()
    source = dataset / "test" if option == "--out" else dataset / "test" / "grow_000.avi"
    result = run_command("vclf-run", source, "--model", bundle, option, tmp_path / name, "--json", check=False)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert str(tmp_path / name) in result.stderr and fragment in result.stderr


def test_file_names_with_line_breaks_print_as_one_line(bundle, dataset, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(dataset / "test" / "grow_000.avi", folder / "a\nforged  100.00%.avi")
    (folder / "b\nvclf-run: 9 clips ok.avi").write_text("not a video")
    result = run_command("vclf-run", folder, "--model", bundle, check=False)
    assert result.returncode == 3
    assert result.stdout.splitlines()[0] == f"{folder}/a\\nforged  100.00%.avi"
    assert result.stderr.splitlines()[0].startswith(f"vclf-run: error: {folder}/b\\nvclf-run: 9 clips ok.avi: ")
    assert len(result.stderr.splitlines()) == 2


def test_a_listing_naming_odd_paths_fails_each_alone_with_exit_3(bundle, dataset, tmp_path):
    listing = tmp_path / "clips.txt"
    os.mkfifo(tmp_path / "pipe.avi")
    listing.write_text(
        "\n".join([str(dataset / "test" / "grow_000.avi"), "x" * 5000 + ".avi", "pipe.avi", str(tmp_path), "gone.avi"]) + "\n"
    )
    result = run_command("vclf-run", listing, "--model", bundle, "--json", check=False)
    assert result.returncode == 3 and len(result.stdout.splitlines()) == 1
    errors = result.stderr.splitlines()[:-1]
    assert [line.split(": ")[-1] for line in errors] == ["cannot be read (File name too long)", "not a file", "not a file", "no such file"]
    assert result.stderr.splitlines()[-1].startswith("vclf-run: 1 clips ok, 4 failed")
