"""A dataset is checked whole before any heavy work: every problem reported at once, nothing written."""

import shutil
from pathlib import Path

import pytest
from support.commands import run_command

from vclf.train.dataset import DatasetError, check_dataset
from vclf.train.evaluate import evaluate_bundle

PROBLEMS = {
    "missing": ("train.csv:3", "train/blink_001.avi: no such file"),
    "not a video": ("train.csv:4", "train/blink_002.avi: not a video OpenCV can decode"),
    "duplicate": ("train.csv:5", "blink_000.avi: duplicate of line 2"),
    "not UTF-8": ("train.csv:6", "not UTF-8 text (byte 0xe9 at column 4)"),
    "empty tag": ("train.csv:7", "grow_001.avi: empty tag"),
    "unknown test tag": ("test.csv:2", "blink_000.avi: tag 'blinkk' is not a training class"),
}


@pytest.fixture
def broken_dataset(tiny_dataset, tmp_path):
    """The tiny dataset with six different problems, one of each kind."""
    data = shutil.copytree(tiny_dataset, tmp_path / "data")
    (data / "train" / "blink_001.avi").unlink()
    (data / "train" / "blink_002.avi").write_text("not a video")
    train = (data / "train.csv").read_bytes().splitlines()
    assert train[:4] == [b"video_name,tag", b"blink_000.avi,blink", b"blink_001.avi,blink", b"blink_002.avi,blink"]
    rows = [*train[:4], b"blink_000.avi,blink", b"caf\xe9_000.avi,blink", b"grow_001.avi,", *train[4:]]
    (data / "train.csv").write_bytes(b"\n".join(rows) + b"\n")
    test = (data / "test.csv").read_text().splitlines()
    test[1] = test[1].replace(",blink", ",blinkk")
    (data / "test.csv").write_text("\n".join(test) + "\n")
    return data


def test_every_problem_is_found_with_its_file_and_line(broken_dataset):
    with pytest.raises(DatasetError) as error:
        check_dataset(broken_dataset)
    found = [str(p) for p in error.value.problems]
    assert len(found) == len(PROBLEMS), found
    for (where, cause), line in zip(PROBLEMS.values(), found):
        assert f"{where}: {cause}" in line, "listed by file, then line"
    assert error.value.exit_code == 3


def test_fit_reports_all_six_problems_and_writes_nothing(broken_dataset, tmp_path):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    result = run_command("vclf-train", "fit", broken_dataset, "--out", run_dir, "--weights", "none", "--cache", cache, check=False)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "6 problems in the dataset" in lines[0] and "Traceback" not in result.stderr
    for where, cause in PROBLEMS.values():
        assert sum(where in line and cause in line for line in lines[1:]) == 1, (where, cause)
    assert not run_dir.exists() and not cache.exists()


def test_evaluate_checks_the_split_against_the_bundle_labels_before_any_work(broken_dataset, bundle, tmp_path):
    with pytest.raises(DatasetError) as error:
        evaluate_bundle(broken_dataset, bundle, "test")
    assert [p.cause for p in error.value.problems] == ["blink_000.avi: tag 'blinkk' is not a training class (blink, grow, shrink, spin)"]


def test_missing_column_and_empty_table_are_reported(tiny_dataset, tmp_path):
    data = shutil.copytree(tiny_dataset, tmp_path / "data")
    (data / "train.csv").write_text("video,tag\nblink_000.avi,blink\n")
    (data / "test.csv").write_text("video_name,tag\n")
    with pytest.raises(DatasetError) as error:
        check_dataset(data)
    assert [str(p) for p in error.value.problems] == [
        f"{data / 'train.csv'}: missing column(s) video_name",
        f"{data / 'test.csv'}: lists no clips",
    ]


def test_the_report_is_a_line_per_problem_and_a_name_with_a_line_break_cannot_forge_one(capsys):
    from vclf.runtime.cli.errors import echo_error
    from vclf.train.dataset import Problem

    problems = [Problem(Path("data/train.csv"), "evil\nforged.avi: no such file", 2), Problem(Path("data/test.csv"), "empty tag", 3)]
    echo_error("vclf-train fit", DatasetError(Path("data"), problems))
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "vclf-train fit: error: data: 2 problems in the dataset, nothing done",
        "  data/train.csv:2: evil\\nforged.avi: no such file",
        "  data/test.csv:3: empty tag",
    ]
