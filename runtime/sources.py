"""What ``vclf-run SOURCE`` accepts, resolved to the videos to classify."""

import glob
import re
from pathlib import Path

from .errors import BadInputError
from .video import list_videos

CAMERA = re.compile(r"^camera(\d+)$")
STREAM_SCHEMES = ("rtsp://", "http://", "https://")
LISTING_SUFFIXES = (".txt", ".lst")


def is_live(source: str) -> bool:
    """A camera (``cameraN``) or a stream URL, rather than files on disk."""
    return bool(CAMERA.match(source)) or source.lower().startswith(STREAM_SCHEMES)


def is_listing(source: str) -> bool:
    """A text file naming the videos to classify, one per line."""
    return Path(source).suffix.lower() in LISTING_SUFFIXES


def read_listing(path: Path) -> list[Path]:
    """The paths a listing names, in its order; blank lines and ``#`` comments skipped, relative paths from its folder."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the listing ({exc.strerror or exc})") from None
    files = [path.parent / line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not files:
        raise BadInputError(f"{path}: listing names no files")
    return files


def resolve_files(source: str) -> list[Path]:
    """A video file, a folder of videos, a glob or a listing (``.txt``, ``.lst``), as the list of files to classify."""
    path = Path(source)
    if is_listing(source):
        return read_listing(path)
    if path.is_dir():
        files = list_videos(path)
        if not files:
            raise BadInputError(f"{source}: folder holds no video files")
        return files
    if glob.has_magic(source):
        files = sorted(Path(p) for p in glob.glob(source) if Path(p).is_file())
        if not files:
            raise BadInputError(f"{source}: pattern matches no files")
        return files
    return [path]
