"""The Keras example's own inference path, as its ``sequence_prediction`` runs it: the baseline every speed-up is over.

    python benchmarks/keras_example.py RUN FILE...

runs it as a process, as a user runs the example: TensorFlow starts, the
run's models load, then one JSON line per file (``source`` and
``predictions``, as ``vclf-run --json`` prints them).

Every frame of the file is decoded and kept (``load_video`` with ``max_frames=0``),
then ``predict`` runs once per frame on the first ``sequence_length`` of them,
then once on the sequence model. ``keras_answer`` is what every faster
variant is checked against: Keras batched on the frames that variant sees.
"""

import contextlib
import json
import sys
from pathlib import Path

import click
import cv2
import numpy as np

from vclf.runtime.preprocess import crop_center_square
from vclf.runtime.sampling import frame_mask, pad_sequence


def load_video(path: Path, resize: tuple[int, int]) -> np.ndarray:
    """The example's ``load_video`` (``max_frames=0``): every frame decoded and kept."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ret, frame = cap.read()
            if not ret:
                break
            frame = crop_center_square(frame)
            frame = cv2.resize(frame, resize)
            frame = frame[:, :, [2, 1, 0]]
            frames.append(frame)
    finally:
        cap.release()
    return np.array(frames)


def prepare_single_video(frames: np.ndarray, feature_extractor, max_seq_length: int, num_features: int):
    """The example's ``prepare_single_video``: one ``predict`` per frame, the first frames of the clip."""
    frames = frames[None, ...]
    frame_mask = np.zeros(shape=(1, max_seq_length), dtype="bool")
    frame_features = np.zeros(shape=(1, max_seq_length, num_features), dtype="float32")
    for i, batch in enumerate(frames):
        video_length = batch.shape[0]
        length = min(max_seq_length, video_length)
        for j in range(length):
            frame_features[i, j, :] = feature_extractor.predict(batch[None, j, :])
        frame_mask[i, :length] = 1  # 1 = not masked
    return frame_features, frame_mask


def sequence_prediction(path: Path, feature_extractor, sequence_model, image_size: int) -> np.ndarray:
    """The example's ``sequence_prediction`` without its printing: class probabilities ``[C]`` for one file."""
    _, max_seq_length, num_features = sequence_model.inputs[0].shape
    frames = load_video(path, (image_size, image_size))
    frame_features, frame_mask = prepare_single_video(frames, feature_extractor, max_seq_length, num_features)
    return np.asarray(sequence_model.predict([frame_features, frame_mask]))[0]


def keras_answer(feature_extractor, sequence_model, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras batched on uint8 RGB ``frames``: their features ``[n, F]`` and the head's probabilities ``[C]``."""
    _, max_seq_length, _ = sequence_model.inputs[0].shape
    features = np.asarray(feature_extractor.predict_on_batch(frames.astype(np.float32)))
    inputs = [pad_sequence(features, max_seq_length)[None], frame_mask(len(frames), max_seq_length)[None]]
    return features, np.asarray(sequence_model.predict_on_batch(inputs))[0]


def first_frames_answer(feature_extractor, sequence_model, path: Path, image_size: int) -> np.ndarray:
    """Keras batched on the frames the example predicts on, the first ``sequence_length`` of the file: probabilities ``[C]``."""
    _, max_seq_length, _ = sequence_model.inputs[0].shape
    frames = load_video(path, (image_size, image_size))[:max_seq_length]
    return keras_answer(feature_extractor, sequence_model, frames)[1]


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def main(run_dir: Path, files: tuple[Path, ...]) -> None:
    from vclf.train.run import load_run

    run = load_run(run_dir)
    extractor, head = run.extractor(), run.sequence_model()
    for path in files:
        with contextlib.redirect_stdout(sys.stderr):  # predict's progress bars, as the example prints them
            probabilities = sequence_prediction(path, extractor, head, run.config["image_size"])
        predictions = [{"label": label, "prob": float(p)} for label, p in zip(run.labels, probabilities)]
        click.echo(json.dumps({"source": str(path), "predictions": predictions}))


if __name__ == "__main__":
    sys.exit(main())
