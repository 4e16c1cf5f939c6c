"""The session's run and bundles, and every shared helper, come from ``support`` (on the path by pyproject's pytest ``pythonpath``)."""

pytest_plugins = ["support.fixtures"]
