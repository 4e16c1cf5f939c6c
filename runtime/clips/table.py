"""``vclf-run --out results.parquet``: a folder's outcomes as one Parquet table, for sets too large to read as lines.

A row per input, in input order: the fields of a ``--json`` line (``source``,
``predictions`` as a list of label/prob pairs, ``frames_used``,
``frame_count``, ``provider``) and ``error``, null for a classified clip and
the one-line cause (``predictions`` null) for a failed one. Rows are written
in groups as they come, to scratch; the table appears whole when the run ends.
"""

from collections.abc import Iterable
from pathlib import Path

from ..errors import MissingPackageError
from ..files import atomic_write
from .folder import Outcome

ROWS_PER_GROUP = 4096


def import_pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingPackageError("--out: writing Parquet needs pyarrow (pip install 'vclf[ray]')") from None
    return pyarrow


def table_schema():
    pa = import_pyarrow()
    prediction = pa.struct([("label", pa.string()), ("prob", pa.float64())])
    return pa.schema(
        [
            ("source", pa.string()),
            ("predictions", pa.list_(prediction)),
            ("frames_used", pa.int64()),
            ("frame_count", pa.int64()),
            ("provider", pa.string()),
            ("error", pa.string()),
        ]
    )


def table_row(outcome: Outcome) -> dict:
    if outcome.error is not None:
        return {"source": str(outcome.path), "error": str(outcome.error)}
    assert outcome.result is not None  # an outcome holds an error or a result
    return {**outcome.result.to_dict(), "error": None}


def write_results_table(path: Path, outcomes: Iterable[Outcome]) -> None:
    """Every outcome as a row of the Parquet file ``path``; nothing there unless all were written."""
    pa = import_pyarrow()
    schema = table_schema()

    def write(scratch: Path) -> None:
        with pa.parquet.ParquetWriter(scratch, schema) as writer:
            rows = []
            for outcome in outcomes:
                rows.append(table_row(outcome))
                if len(rows) == ROWS_PER_GROUP:
                    writer.write_table(pa.Table.from_pylist(rows, schema))
                    rows = []
            writer.write_table(pa.Table.from_pylist(rows, schema))

    atomic_write(path, write)
