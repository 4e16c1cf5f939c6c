"""The schema of ``bundle.json``: every field the runtime reads, checked for type and range at load.

A bundle is untrusted input. Each check names the field it refuses, in one
line; values are quoted short and escaped, so nothing in a manifest can add a
line to vclf's output. Shapes are bounded so that no manifest makes the
runtime allocate more than a model of this kind could need; whether the
graphs agree with the numbers is checked when they load (``check_graph``).
"""

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import BadModelError
from .sampling import SAMPLERS

MAX_MANIFEST_BYTES = 1 << 20
MAX_LABELS = 10_000
MAX_TEXT = 200  # characters in a label, backbone name or guard key
HEX64 = re.compile(r"[0-9a-f]{64}")
GRAPH_FILES = ("extractor.onnx", "head.onnx")
PRECISIONS = ("fp32", "fp16", "int8")


class ManifestError(ValueError):
    """One field's defect: ``field`` and why."""

    def __init__(self, field: str, why: str):
        super().__init__(f"{field}: {why}")


def short(value: Any) -> str:
    """A value as the error quotes it: JSON, one line, at most 40 characters."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def integer(low: int, high: int) -> Callable[[str, Any], None]:
    def check(field: str, value: Any) -> None:
        if type(value) is not int:
            raise ManifestError(field, f"must be an integer, not {short(value)}")
        if not low <= value <= high:
            raise ManifestError(field, f"must be from {low} to {high}, not {short(value)}")

    return check


def printable(field: str, value: Any) -> None:
    """A non-empty string of at most MAX_TEXT printable characters (no control characters, no line breaks)."""
    if not isinstance(value, str):
        raise ManifestError(field, f"must be a string, not {short(value)}")
    if not value or len(value) > MAX_TEXT or not value.isprintable() or value != value.strip():
        raise ManifestError(field, f"must be 1 to {MAX_TEXT} printable characters without outer spaces, not {short(value)}")


def one_of(choices: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check(field: str, value: Any) -> None:
        if not isinstance(value, str) or value not in choices:
            raise ManifestError(field, f"must be one of {', '.join(choices)}, not {short(value)}")

    return check


def labels(field: str, value: Any) -> None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LABELS:
        raise ManifestError(field, f"must be a list of 1 to {MAX_LABELS} class names, not {short(value)}")
    for index, label in enumerate(value):
        printable(f"{field}[{index}]", label)
    if len(set(value)) != len(value):
        raise ManifestError(field, "names a class twice")


def sha256(field: str, value: Any) -> None:
    if not isinstance(value, dict) or set(value) != set(GRAPH_FILES):
        raise ManifestError(field, f"must map {' and '.join(GRAPH_FILES)} to their hashes, not {short(value)}")
    for name, digest in value.items():
        if not isinstance(digest, str) or not HEX64.fullmatch(digest):
            raise ManifestError(f"{field}.{name}", f"must be 64 lowercase hex digits, not {short(digest)}")


def guard(field: str, value: Any, nested: bool = True) -> None:
    """None (fp32) or the precision guard's figures: names to finite numbers, short strings or (one level down) maps of those."""
    if value is None and nested:
        return
    if not isinstance(value, dict) or len(value) > 32:
        raise ManifestError(field, f"must be {'null or ' if nested else ''}a map of figures, not {short(value)}")
    for name, figure in value.items():
        printable(f"{field} key", name)
        if isinstance(figure, str):
            printable(f"{field}.{name}", figure)
        elif isinstance(figure, dict) and nested:  # figures per kind of clip
            guard(f"{field}.{name}", figure, nested=False)
        elif type(figure) not in (int, float) or not math.isfinite(figure):
            raise ManifestError(f"{field}.{name}", f"must be a finite number, not {short(figure)}")


FIELDS: dict[str, Callable[[str, Any], None]] = {
    "format_version": integer(1, 1000),  # which versions this vclf reads is bundle.py's to say
    "labels": labels,
    "image_size": integer(32, 1024),
    "sequence_length": integer(1, 1024),
    "feature_size": integer(1, 65536),
    "sampler": one_of(tuple(SAMPLERS)),
    "live_stride": integer(1, 1000),
    "precision": one_of(PRECISIONS),
    "opset": integer(1, 100),
    "backbone": printable,
    "guard": guard,
    "sha256": sha256,
}
REQUIRED = tuple(name for name in FIELDS if name not in ("backbone", "guard"))
MAX_WINDOW_VALUES = 1 << 26  # sequence_length x feature_size floats the engine keeps: 256 MiB


def read_manifest(path: Path) -> dict[str, Any]:
    """The checked fields of ``bundle.json`` at ``path``; any defect is a one-line BadModelError naming the field."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES >> 10} KiB")
        fields = json.loads(data.decode("utf-8"))  # NaN and Infinity parse, so the field check names them
    except (OSError, ValueError, RecursionError) as exc:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0][:120]
        raise BadModelError(f"{path}: unreadable bundle manifest ({cause})") from None
    try:
        check_fields(fields)
    except ManifestError as exc:
        raise BadModelError(f"{path}: field {exc}") from None
    return fields


def check_fields(fields: Any) -> None:
    """Raise ManifestError for the first field that is missing, unknown, or of the wrong type or range."""
    if not isinstance(fields, dict):
        raise ManifestError("(top level)", f"must be a JSON object, not {short(fields)}")
    for name in fields:
        if name not in FIELDS:
            raise ManifestError(short(name), "is not a field of the bundle format")
    for name in REQUIRED:
        if name not in fields:
            raise ManifestError(name, "is missing")
    for name, check in FIELDS.items():
        if name in fields:
            check(name, fields[name])
    if fields["sequence_length"] * fields["feature_size"] > MAX_WINDOW_VALUES:
        raise ManifestError(
            "feature_size",
            f"{fields['feature_size']} features x {fields['sequence_length']} frames is past what a model of this kind needs",
        )
