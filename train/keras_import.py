"""Keras, with TensorFlow under it, imported with TensorFlow's C++ start-up chatter (oneDNN, missing CUDA) kept off stderr.

train and export modules take ``keras`` (and ``tensorflow``) from here, so
the first of them to load TensorFlow loads it quietly; ``import vclf.train``
alone loads neither. TensorFlow logs those lines through absl before
TF_CPP_MIN_LOG_LEVEL applies, so stderr itself is pointed at /dev/null for
the import. Python errors raised by the import still surface as usual.
"""

import os


def _import_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_quietly()

import keras  # noqa: E402
import tensorflow  # noqa: E402

__all__ = ["keras", "tensorflow"]
