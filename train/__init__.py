"""Training: datasets, feature extraction, the sequence model, fit and evaluate."""

import os


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up chatter (oneDNN, missing CUDA) kept off stderr.

    TensorFlow logs those lines through absl before TF_CPP_MIN_LOG_LEVEL applies,
    so stderr itself is pointed at /dev/null for the import. Python errors
    raised by the import still surface as usual.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()
