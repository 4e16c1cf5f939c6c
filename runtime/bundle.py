"""The bundle: what ``vclf-export`` writes and ``vclf-run`` serves.

A folder with ``bundle.json``, ``extractor.onnx`` and ``head.onnx``.

- extractor: uint8 RGB frames ``[N, S, S, 3]`` in, preprocessing inside the
  graph, float32 features ``[N, F]`` out.
- head: float32 features ``[B, T, F]`` and bool mask ``[B, T]`` in, float32
  probabilities ``[B, C]`` out, in the order of ``labels``.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import BadModelError

FORMAT_VERSION = 2
BUNDLE_FILE = "bundle.json"
EXTRACTOR_FILE = "extractor.onnx"
HEAD_FILE = "head.onnx"


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
    sha256: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    path: Path | None = field(default=None, compare=False)

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    try:
        fields = json.loads(manifest.read_text())
        bundle = Bundle(**fields, path=folder)
    except (ValueError, TypeError) as exc:
        raise BadModelError(f"{manifest}: unreadable bundle manifest ({exc})") from None
    if bundle.format_version != FORMAT_VERSION:
        raise BadModelError(
            f"{manifest}: bundle format {bundle.format_version}, this vclf reads {FORMAT_VERSION}"
        )
    for name in (EXTRACTOR_FILE, HEAD_FILE):
        graph = folder / name
        if not graph.is_file():
            raise BadModelError(f"{folder}: bundle is missing {name}")
        if verify and file_sha256(graph) != bundle.sha256.get(name):
            raise BadModelError(f"{graph}: sha256 does not match {BUNDLE_FILE}; the file is damaged")
    return bundle
