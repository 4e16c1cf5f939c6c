"""A bundle is refused, exit 4 with the reason, when it is not what the runtime relies on.

Each tampered copy gets its sha256 rewritten, so the checks under test catch
it, not the checksum.
"""

import json
import shutil

import onnx
import pytest
from support.commands import assert_one_line_error, run_command
from support.fixtures import SESSION_IMAGE_SIZE

from vclf.runtime.bundle import BUNDLE_FILE, EXTRACTOR_FILE, HEAD_FILE, load_bundle, write_bundle_json
from vclf.runtime.classify import Classifier
from vclf.runtime.errors import BadModelError


@pytest.fixture
def copy(bundle, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(bundle, folder)
    return folder


def rewrite_manifest(folder, **changes) -> None:
    """Change fields of bundle.json; the graphs' sha256 stay right."""
    fields = json.loads((folder / BUNDLE_FILE).read_text())
    fields.update(changes)
    (folder / BUNDLE_FILE).write_text(json.dumps(fields))


def edit_graph(folder, name: str, edit) -> None:
    """Change a graph and rewrite its sha256 in bundle.json."""
    graph = onnx.load(str(folder / name))
    edit(graph.graph)
    onnx.save(graph, str(folder / name))
    write_bundle_json(load_bundle(folder, verify=False), folder)


def test_the_untouched_copy_loads(copy):
    assert Classifier.from_folder(copy, "cpu").bundle.labels


def test_labels_that_do_not_match_the_head_width_are_refused(copy, dataset):
    labels = json.loads((copy / BUNDLE_FILE).read_text())["labels"]
    rewrite_manifest(copy, labels=labels[:-1])
    result = run_command("vclf-run", dataset / "test" / "grow_000.avi", "--model", copy, check=False)
    assert_one_line_error(result, 4, HEAD_FILE, "probabilities", f"[N, {len(labels)}]", f"[N, {len(labels) - 1}]")


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"sampler": "random"}, 'field sampler: must be one of .*, not "random"'),
        ({"precision": "int4"}, 'field precision: must be one of fp32, fp16, int8, not "int4"'),
        ({"format_version": 1}, "field format_version: bundle format 1, this vclf reads 2"),
    ],
)
def test_manifest_fields_this_runtime_does_not_know_are_refused(copy, changes, reason):
    rewrite_manifest(copy, **changes)
    with pytest.raises(BadModelError, match=reason) as error:
        load_bundle(copy)
    assert error.value.exit_code == 4


def test_an_image_size_the_extractor_does_not_take_is_refused(copy):
    rewrite_manifest(copy, image_size=160)
    with pytest.raises(
        BadModelError,
        match=rf"frames is tensor\(uint8\) \[N, {SESSION_IMAGE_SIZE}, {SESSION_IMAGE_SIZE}, 3\], bundle.json implies tensor\(uint8\) \[N, 160, 160, 3\]",
    ):
        Classifier.from_folder(copy, "cpu")


def test_a_renamed_graph_input_is_refused(copy):
    def rename_frames(graph):
        for node in graph.node:
            node.input[:] = ["images" if name == "frames" else name for name in node.input]
        graph.input[0].name = "images"

    edit_graph(copy, EXTRACTOR_FILE, rename_frames)
    with pytest.raises(BadModelError, match="inputs and outputs are features, images; the bundle format has features, frames"):
        Classifier.from_folder(copy, "cpu")


def test_a_mask_of_the_wrong_dtype_is_refused(copy):
    def float_mask(graph):
        mask = next(value for value in graph.input if value.name == "mask")
        mask.type.tensor_type.elem_type = onnx.TensorProto.FLOAT

    edit_graph(copy, HEAD_FILE, float_mask)
    with pytest.raises(BadModelError, match=r"mask is tensor\(float\) \[N, 20\], bundle.json implies tensor\(bool\)"):
        Classifier.from_folder(copy, "cpu")


def test_a_fixed_batch_size_is_refused(copy):
    def batch_of_one(graph):
        graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1

    edit_graph(copy, HEAD_FILE, batch_of_one)
    with pytest.raises(BadModelError, match=r"features is tensor\(float\) \[1, 20, 2048\]"):
        Classifier.from_folder(copy, "cpu")
