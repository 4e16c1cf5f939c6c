"""Files, folders, globs and listings: decoding workers with deadlines, the folder pipeline, the ``--out`` table."""
