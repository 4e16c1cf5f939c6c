"""bundle.json is untrusted: every field mutated (wrong type, missing, negative, zero, huge, NaN, nested) is exit 4 in one line naming it."""

import json
import math
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vclf.runtime.bundle import BUNDLE_FILE, EXTRACTOR_FILE, HEAD_FILE
from vclf.runtime.cli.main import main
from vclf.runtime.manifest import FIELDS, MAX_LABELS, REQUIRED

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))
NESTED = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=5
)
NOT_AN_INT = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.floats(allow_nan=True).filter(lambda x: not (math.isfinite(x) and x.is_integer())),
    st.sampled_from([20.5, float("nan"), float("inf"), -0.5, 1e300]),
)
BAD_INT = st.one_of(NOT_AN_INT, st.integers(max_value=0), st.integers(min_value=10**7, max_value=10**40))
BAD_TEXT = st.one_of(
    NOT_AN_INT.filter(lambda v: not isinstance(v, str)),
    st.just(""),
    st.text(min_size=1, max_size=5).map(lambda t: t + "\n" + t),
    st.sampled_from(["a\x1b[2Jb", "tab\there", " padded", "x" * 201, "\u200b", "ok\r"]),
)
BAD_CHOICE = st.one_of(BAD_TEXT, st.text(max_size=12).filter(lambda t: t not in ("uniform", "first", "fp32", "fp16", "int8")))
BAD_LABELS = st.one_of(
    NOT_AN_INT.filter(lambda v: not isinstance(v, list)),
    st.just([]),
    st.lists(BAD_TEXT, min_size=1, max_size=3).map(lambda bad: ["ok", *bad]),
    st.lists(st.integers(), min_size=1, max_size=5),
    st.lists(NESTED.filter(lambda v: not isinstance(v, str)), min_size=1, max_size=3),
    st.just(["same", "same"]),
    st.just([f"c{i}" for i in range(MAX_LABELS + 1)]),
)
HEX = "0" * 64
BAD_SHA = st.one_of(
    NOT_AN_INT.filter(lambda v: not isinstance(v, dict)),
    st.just([]),
    st.just({}),
    st.just({EXTRACTOR_FILE: HEX}),
    st.just({EXTRACTOR_FILE: HEX, HEAD_FILE: HEX, "other.onnx": HEX}),
    st.fixed_dictionaries(
        {EXTRACTOR_FILE: st.just(HEX), HEAD_FILE: st.one_of(NESTED, st.just("A" * 64), st.just("0" * 63), st.just("g" * 64))}
    ),
)
BAD_FIGURE = st.one_of(
    st.none(),
    st.booleans(),
    st.just(float("nan")),
    st.just(float("-inf")),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
BAD_GUARD = st.one_of(
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.lists(SCALARS, max_size=3),
    st.fixed_dictionaries({"cosine_mean": st.one_of(st.just(float("nan")), st.just(float("inf")), st.lists(st.integers(), max_size=2))}),
    # figures per kind of clip are maps one level down; a bad figure there, or a level deeper, is refused
    st.fixed_dictionaries({"agreement_by_kind": st.dictionaries(st.text(min_size=1, max_size=4), BAD_FIGURE, min_size=1, max_size=2)}),
    st.just({"bad\nkey": 1.0}),
)
BAD_VALUES = {
    "format_version": BAD_INT,
    "labels": BAD_LABELS,
    "image_size": BAD_INT,
    "sequence_length": BAD_INT,
    "feature_size": BAD_INT,
    "sampler": BAD_CHOICE,
    "live_stride": BAD_INT,
    "precision": BAD_CHOICE,
    "opset": BAD_INT,
    "backbone": BAD_TEXT,
    "guard": BAD_GUARD,
    "sha256": BAD_SHA,
}
MISSING = object()


def run_with_manifest(bundle: Path, clip: Path, manifest: bytes):
    """``vclf-run clip --model B`` where B holds the session bundle's graphs and ``manifest`` as bundle.json."""
    with tempfile.TemporaryDirectory() as folder:
        mutated = Path(folder)
        for name in (EXTRACTOR_FILE, HEAD_FILE):
            (mutated / name).symlink_to(bundle / name)
        (mutated / BUNDLE_FILE).write_bytes(manifest)
        return CliRunner().invoke(main, [str(clip), "--model", str(mutated)])


def assert_one_line_exit_4(result, *fragments: str) -> None:
    lines = result.stderr.splitlines()
    assert result.exit_code == 4, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_every_field_the_runtime_reads_has_a_mutation_strategy():
    assert set(BAD_VALUES) == set(FIELDS)


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_each_mutated_field_is_exit_4_in_one_line_naming_it(bundle, dataset, field):
    valid = json.loads((bundle / BUNDLE_FILE).read_text())
    clip = next((dataset / "test").glob("*.avi"))
    values = st.one_of(BAD_VALUES[field], st.just(MISSING)) if field in REQUIRED else BAD_VALUES[field]

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(value=values, nest=st.booleans())
    def check(value, nest):
        fields = dict(valid)
        if value is MISSING:
            del fields[field]
        else:
            fields[field] = [value] if nest and not isinstance(valid[field], list) else value
        assert_one_line_exit_4(run_with_manifest(bundle, clip, json.dumps(fields).encode()), field)

    check()


@pytest.mark.parametrize(
    "manifest, fragment",
    [
        (b"{", "unreadable bundle manifest"),
        (b"\xff\xfe{}", "unreadable bundle manifest"),
        (b"[]", "must be a JSON object"),
        (b"[" * 100_000, "unreadable bundle manifest"),
        (b" " * (1 << 20) + b"{}", "larger than"),
    ],
)
def test_a_manifest_that_is_not_a_json_object_is_exit_4_in_one_line(bundle, dataset, manifest, fragment):
    clip = next((dataset / "test").glob("*.avi"))
    assert_one_line_exit_4(run_with_manifest(bundle, clip, manifest), fragment)


def test_an_unknown_field_is_named(bundle, dataset):
    fields = json.loads((bundle / BUNDLE_FILE).read_text()) | {"extra\nfield": 1}
    clip = next((dataset / "test").glob("*.avi"))
    assert_one_line_exit_4(run_with_manifest(bundle, clip, json.dumps(fields).encode()), "is not a field", "extra\\nfield")


def test_labels_that_disagree_with_the_head_are_exit_4_naming_the_graph(bundle, dataset):
    fields = json.loads((bundle / BUNDLE_FILE).read_text())
    fields["labels"] = fields["labels"][:-1]
    clip = next((dataset / "test").glob("*.avi"))
    assert_one_line_exit_4(run_with_manifest(bundle, clip, json.dumps(fields).encode()), HEAD_FILE, "probabilities")
