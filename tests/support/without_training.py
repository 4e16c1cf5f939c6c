"""A pytest plugin (``-p support.without_training``) that makes TensorFlow, Keras, tf2onnx, vclf.train and vclf.export unimportable.

Installed before any conftest, test module or fixture loads: a runtime test
that reaches any of them, directly or through a helper, fails with
``ImportError: blocked NAME``. Subprocesses (the commands a fixture runs) are
not affected. Importing this module installs nothing; ``install()`` does.
"""

import sys

import pytest

BLOCKED = ("tensorflow", "keras", "tf2onnx", "vclf.train", "vclf.export")


def blocked(name: str) -> bool:
    return any(name == top or name.startswith(top + ".") for top in BLOCKED)


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            raise ImportError(f"blocked {name}")
        return None


def install() -> None:
    """From now on, in this process, importing a blocked name raises ImportError."""
    if not any(isinstance(finder, _Blocker) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Blocker())


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    install()
