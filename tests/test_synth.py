from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from support.commands import run_command

from vclf.runtime.sampling import SEQUENCE_LENGTH
from vclf.train.synth import CLASSES, random_spec, render_clip, write_dataset


def test_synth_writes_the_keras_example_layout_with_real_videos(tmp_path):
    result = run_command("vclf-train", "synth", tmp_path / "d", "--videos-per-class", "3", "--test-per-class", "1")
    assert "12 train and 4 test clips" in result.stdout
    for split, per_class in (("train", 3), ("test", 1)):
        table = pd.read_csv(tmp_path / "d" / f"{split}.csv")
        assert list(table.columns) == ["video_name", "tag"]
        assert table["tag"].value_counts().to_dict() == dict.fromkeys(CLASSES, per_class)
        for name in table["video_name"]:
            capture = cv2.VideoCapture(str(tmp_path / "d" / split / name))
            ok, frame = capture.read()
            capture.release()
            assert ok and frame.ndim == 3


def test_synth_has_at_least_four_classes(tmp_path):
    """Four or more tags in both tables, grow and shrink among them, and each tag's clips look unlike the others'."""
    write_dataset(tmp_path, seed=0, videos_per_class=1, test_per_class=1)
    for split in ("train", "test"):
        tags = set(pd.read_csv(tmp_path / f"{split}.csv")["tag"])
        assert len(tags) >= 4 and {"grow", "shrink"} <= tags
    spec = random_spec("grow", np.random.default_rng(1))
    scenes = {tag: np.stack(render_clip(replace(spec, label=tag))).astype(int) for tag in tags}
    for a in tags:
        for b in tags - {a}:
            assert np.abs(scenes[a] - scenes[b]).mean() > 1, f"{a} and {b} draw the same scene"


def test_synth_is_deterministic_under_its_seed(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_dataset(tmp_path / name, seed=seed, videos_per_class=2)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert any((tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files)


def test_shrink_is_grow_played_backwards():
    spec = random_spec("grow", np.random.default_rng(3))
    grow = render_clip(spec)
    shrink = render_clip(replace(spec, label="shrink"))
    assert len(grow) == len(shrink) > 1
    assert all(np.array_equal(g, s) for g, s in zip(grow, shrink[::-1]))
    assert not np.array_equal(grow[0], grow[-1])


def test_synth_varies_clip_length_frame_size_and_aspect_ratio(tmp_path):
    write_dataset(tmp_path, seed=0, videos_per_class=8)
    lengths, shapes = [], set()
    for path in Path(tmp_path, "train").glob("*.avi"):
        capture = cv2.VideoCapture(str(path))
        lengths.append(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        shapes.add((int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))))
        capture.release()
    assert min(lengths) < SEQUENCE_LENGTH < max(lengths)
    assert len(shapes) >= 3
    assert len({round(w / h, 2) for w, h in shapes}) >= 3
