"""The bundle: what ``vclf-export`` writes and ``vclf-run`` serves.

A folder with ``bundle.json``, ``extractor.onnx`` and ``head.onnx``.

- extractor: uint8 RGB frames ``[N, S, S, 3]`` in, preprocessing inside the
  graph, float32 features ``[N, F]`` out.
- head: float32 features ``[B, T, F]`` and bool mask ``[B, T]`` in, float32
  probabilities ``[B, C]`` out, in the order of ``labels``.

``load_bundle`` checks the manifest (``manifest.py`` holds its schema); ``check_graphs`` checks that the loaded
graphs have the names, dtypes and shapes above.
"""

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import BadModelError
from .files import file_sha256
from .manifest import GRAPH_FILES, read_manifest
from .sampling import ClipSampling

FORMAT_VERSION = 2
BUNDLE_FILE = "bundle.json"
EXTRACTOR_FILE, HEAD_FILE = GRAPH_FILES


@dataclass(frozen=True)
class Bundle:
    labels: list[str]
    image_size: int
    sequence_length: int
    feature_size: int
    sampler: str
    live_stride: int  # source frames between two frames the model saw in training
    precision: str
    opset: int
    backbone: str = "inception_v3"
    guard: dict | None = None  # figures of the precision guard against fp32; None for fp32
    sha256: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    path: Path | None = field(default=None, compare=False)

    @property
    def sampling(self) -> ClipSampling:
        """How the bundle's model reads a clip."""
        return ClipSampling(self.sampler, self.sequence_length, self.image_size)

    @property
    def extractor_path(self) -> Path:
        return self._folder() / EXTRACTOR_FILE

    @property
    def head_path(self) -> Path:
        return self._folder() / HEAD_FILE

    def _folder(self) -> Path:
        if self.path is None:
            raise ValueError("bundle has no folder yet")
        return self.path

    def to_json(self) -> str:
        fields = asdict(self)
        del fields["path"]
        return json.dumps(fields, indent=2) + "\n"


def write_bundle_json(bundle: Bundle, folder: Path) -> Bundle:
    """Hash the graphs in ``folder`` and write ``bundle.json`` beside them."""
    folder = Path(folder)
    hashes = {name: file_sha256(folder / name) for name in (EXTRACTOR_FILE, HEAD_FILE)}
    complete = replace(bundle, sha256=hashes, path=folder)
    (folder / BUNDLE_FILE).write_text(complete.to_json())
    return complete


def load_bundle(folder: str | Path, verify: bool = True) -> Bundle:
    """Read and check a bundle folder; any defect is a one-line BadModelError."""
    folder = Path(folder)
    manifest = folder / BUNDLE_FILE
    if not folder.is_dir():
        raise BadModelError(f"{folder}: no such bundle folder")
    if not manifest.is_file():
        raise BadModelError(f"{folder}: not a bundle (no {BUNDLE_FILE})")
    fields = read_manifest(manifest)
    if fields["format_version"] != FORMAT_VERSION:
        raise BadModelError(f"{manifest}: field format_version: bundle format {fields['format_version']}, this vclf reads {FORMAT_VERSION}")
    bundle = Bundle(**fields, path=folder)
    for name in (EXTRACTOR_FILE, HEAD_FILE):
        graph = folder / name
        if not graph.is_file():
            raise BadModelError(f"{folder}: bundle is missing {name}")
        if verify and file_sha256(graph) != bundle.sha256.get(name):
            raise BadModelError(f"{graph}: sha256 does not match {BUNDLE_FILE}; the file is damaged")
    return bundle


def graph_signature(bundle: Bundle) -> dict[str, dict[str, tuple[str, list]]]:
    """Per graph, each input and output name → (ONNX type, shape); None marks the free batch axis."""
    size, length, features = bundle.image_size, bundle.sequence_length, bundle.feature_size
    return {
        EXTRACTOR_FILE: {
            "frames": ("tensor(uint8)", [None, size, size, 3]),
            "features": ("tensor(float)", [None, features]),
        },
        HEAD_FILE: {
            "features": ("tensor(float)", [None, length, features]),
            "mask": ("tensor(bool)", [None, length]),
            "probabilities": ("tensor(float)", [None, len(bundle.labels)]),
        },
    }


def check_graph(bundle: Bundle, name: str, inputs: list, outputs: list) -> None:
    """Compare a loaded graph's inputs and outputs (ONNX Runtime ``NodeArg``s) with the contract.

    A free batch axis must be symbolic; every other axis must be the number
    the manifest implies, so the head's output width is the number of labels.
    """
    expected = graph_signature(bundle)[name]
    graph = bundle.path / name if bundle.path else Path(name)
    found = {arg.name: arg for arg in (*inputs, *outputs)}
    if set(found) != set(expected):
        raise BadModelError(
            f"{graph}: graph inputs and outputs are {', '.join(sorted(found))}; the bundle format has {', '.join(sorted(expected))}"
        )
    for arg_name, (dtype, shape) in expected.items():
        arg = found[arg_name]
        actual = [None if not isinstance(dim, int) else dim for dim in arg.shape]
        if arg.type != dtype or actual != shape:
            raise BadModelError(
                f"{graph}: {arg_name} is {arg.type} {_shape_text(arg.shape)}, bundle.json implies {dtype} {_shape_text(shape)}"
            )


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("N" if not isinstance(dim, int) else str(dim) for dim in shape) + "]"
