"""Download and unpack a dataset archive in the Keras example's layout."""

import hashlib
import http.client
import lzma
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import click

from vclf.runtime.errors import BadInputError, SourceUnavailableError
from vclf.runtime.files import atomic_write, fsync_path, fsync_tree

from .dataset import check_dataset

UCF101_TOP5_URL = "https://github.com/sayakpaul/Action-Recognition-in-TensorFlow/releases/download/v1.0.0/ucf101_top5.tar.gz"
CHUNK = 1 << 20
SHA256_FILE = "archive.sha256"  # kept in OUT_DIR: the fetched archive's hash, as sha256sum writes it


def download(url: str, destination: Path) -> str:
    """Stream ``url`` into ``destination`` with a progress bar; returns the sha256.

    A download that ends before the Content-Length the server announced, or
    breaks off, is a SourceUnavailableError: the cause is the network, not the data.
    """
    digest, received, total = hashlib.sha256(), 0, None
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
            total = content_length(response.headers.get("Content-Length"))
            with click.progressbar(length=total or 0, label="Downloading", file=click.get_text_stream("stderr")) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
    except http.client.IncompleteRead:
        pass  # the byte count below says how much came
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise SourceUnavailableError(f"{url}: download failed ({getattr(exc, 'reason', exc) or type(exc).__name__})") from None
    if total is not None and received != total:
        raise SourceUnavailableError(f"{url}: download ended after {received} of {total} bytes")
    if total is None and received == 0:
        raise SourceUnavailableError(f"{url}: download ended after 0 bytes")
    return digest.hexdigest()


def content_length(header: str | None) -> int | None:
    """The announced size in bytes; None when the server gives none (or none that is a number)."""
    try:
        return int(header) if header is not None and int(header) >= 0 else None
    except ValueError:
        return None


def unpack(archive: Path, destination: Path, url: str) -> None:
    """Unpack a .tar(.gz) or .zip archive, refusing members that escape ``destination``; a damaged one is bad input."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(destination)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(destination, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError) as exc:
        raise BadInputError(f"{url}: not a usable archive ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def dataset_root(unpacked: Path, url: str) -> Path:
    """The folder holding train.csv: the archive's top level or its single folder."""
    for candidate in (unpacked, *sorted(p for p in unpacked.iterdir() if p.is_dir())):
        if (candidate / "train.csv").is_file():
            return candidate
    raise BadInputError(f"{url}: archive holds no train.csv")


def fetch_dataset(url: str, out_dir: Path, sha256: str | None = None) -> tuple[dict[str, int], str]:
    """Download, check and unpack into ``out_dir``; on any failure ``out_dir`` is left untouched.

    Returns the clips per split and the archive's sha256, which is also kept
    in ``out_dir/archive.sha256`` so that a later fetch can pin it.
    """
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
        atomic_write(root / SHA256_FILE, lambda tmp: tmp.write_text(f"{actual}  {url.rsplit('/', 1)[-1] or 'archive'}\n"))
        fsync_tree(root)
        if out_dir.exists():
            out_dir.rmdir()
        shutil.move(str(root), out_dir)
        fsync_path(out_dir.parent)
    return counts, actual
