"""Download and unpack a dataset archive in the Keras example's layout."""

import hashlib
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import click

from vclf.runtime.errors import BadInputError, SourceUnavailableError

from .dataset import check_dataset

UCF101_TOP5_URL = "https://github.com/sayakpaul/Action-Recognition-in-TensorFlow/releases/download/v1.0.0/ucf101_top5.tar.gz"
CHUNK = 1 << 20


def download(url: str, destination: Path) -> str:
    """Stream ``url`` into ``destination`` with a progress bar; returns the sha256."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with click.progressbar(length=total, label="Downloading", file=click.get_text_stream("stderr")) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SourceUnavailableError(f"{url}: download failed ({getattr(exc, 'reason', exc)})") from None
    return digest.hexdigest()


def unpack(archive: Path, destination: Path, url: str) -> None:
    """Unpack a .tar(.gz) or .zip archive, refusing members that escape ``destination``."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(destination)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(destination, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise BadInputError(f"{url}: not a usable archive ({exc})") from None


def dataset_root(unpacked: Path, url: str) -> Path:
    """The folder holding train.csv: the archive's top level or its single folder."""
    for candidate in (unpacked, *sorted(p for p in unpacked.iterdir() if p.is_dir())):
        if (candidate / "train.csv").is_file():
            return candidate
    raise BadInputError(f"{url}: archive holds no train.csv")


def fetch_dataset(url: str, out_dir: Path, sha256: str | None = None) -> dict[str, int]:
    """Download, check and unpack into ``out_dir``; on any failure ``out_dir`` is left untouched."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BadInputError(f"{out_dir}: already exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".fetch-") as scratch:
        scratch = Path(scratch)
        archive = scratch / "archive"
        actual = download(url, archive)
        if sha256 and actual != sha256.lower():
            raise BadInputError(f"{url}: sha256 is {actual}, expected {sha256.lower()}")
        unpack(archive, scratch / "unpacked", url)
        root = dataset_root(scratch / "unpacked", url)
        counts = {split: len(clips) for split, clips in check_dataset(root).items()}
        if out_dir.exists():
            out_dir.rmdir()
        shutil.move(str(root), out_dir)
    return counts
