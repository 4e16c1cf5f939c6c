"""The session's run and bundles, and every shared helper, come from ``support`` (on the path by pyproject's pytest ``pythonpath``)."""

import pytest

pytest.register_assert_rewrite("support")  # the helpers' asserts explain a failure as a test's own do
pytest_plugins = ["support.fixtures"]
