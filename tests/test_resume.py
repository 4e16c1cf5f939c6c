"""An interrupted fit continues with ``--resume`` where its last epoch ended."""

import os
import signal
import subprocess

import pandas as pd

from helpers import BIN, run_command
from vclf.train.synth import write_dataset


def test_interrupted_fit_resumes_from_its_last_epoch(tmp_path):
    data, run_dir = tmp_path / "data", tmp_path / "run"
    run_command("vclf-train", "synth", data, "--videos-per-class", "4")
    fit = [str(BIN / "vclf-train"), "fit", str(data), "--out", str(run_dir), "--weights", "none", "--epochs", "40"]
    process = subprocess.Popen(
        fit, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    for line in process.stdout:
        if line.startswith("Epoch 4/40"):
            process.send_signal(signal.SIGINT)
            break
    process.communicate(timeout=120)
    assert process.returncode == 130
    assert not (run_dir / "metrics.json").exists()
    interrupted = pd.read_csv(run_dir / "history.csv")["epoch"].tolist()
    assert interrupted[:3] == [0, 1, 2]

    resumed = run_command("vclf-train", "fit", data, "--out", run_dir, "--resume")
    assert "Train clips" not in resumed.stderr, "features come from the run's cache"
    first_epoch = next(line for line in resumed.stdout.splitlines() if line.startswith("Epoch"))
    assert first_epoch == f"Epoch {len(interrupted) + 1}/40"
    epochs = pd.read_csv(run_dir / "history.csv")["epoch"].tolist()
    assert epochs == list(range(len(epochs))), "every epoch logged once, in order"
    assert len(epochs) > len(interrupted)
    assert (run_dir / "metrics.json").is_file()


def test_resume_of_a_finished_run_is_refused(tmp_path):
    write_dataset(tmp_path / "data", videos_per_class=2)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    (run_dir / "metrics.json").write_text("{}")
    result = run_command("vclf-train", "fit", tmp_path / "data", "--out", run_dir, "--resume", check=False)
    assert result.returncode == 2 and "already finished" in result.stderr
