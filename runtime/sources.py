"""What ``vclf-run SOURCE`` accepts, resolved to the videos to classify."""

import glob
import re
from pathlib import Path

from .errors import BadInputError
from .video import list_videos

CAMERA = re.compile(r"^camera(\d+)$")
STREAM_SCHEMES = ("rtsp://", "http://", "https://")
LISTING_SUFFIXES = (".txt", ".lst")
STREAMS_SUFFIX = ".streams"
STREAM_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*=\s*(?P<source>.+)$")


def is_live(source: str) -> bool:
    """A camera (``cameraN``) or a stream URL, rather than files on disk."""
    return bool(CAMERA.match(source)) or source.lower().startswith(STREAM_SCHEMES)


def is_listing(source: str) -> bool:
    """A text file naming the videos to classify, one per line."""
    return Path(source).suffix.lower() in LISTING_SUFFIXES


def is_streams(source: str) -> bool:
    """A text file naming live sources, one per line (``.streams``)."""
    return Path(source).suffix.lower() == STREAMS_SUFFIX


def read_streams(path: Path) -> list[tuple[str, str]]:
    """The ``(name, source)`` pairs a ``.streams`` listing names, in its order.

    A line is a source (camera, stream URL or video file, replayed live),
    optionally prefixed ``name=`` (letters, digits, ``_.-``); without one the
    name is the source as written. A line that is an existing path is that
    path, whatever ``=`` it holds. Relative file paths are from the listing's
    folder; blank lines and ``#`` comments are skipped. Names must be unique.
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the listing ({exc.strerror or exc})") from None
    pairs: list[tuple[str, str]] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        named = STREAM_NAME.match(line)
        if named and not (path.parent / line).exists():
            name, source = named["name"], named["source"].strip()
        else:
            name, source = line, line
        if not is_live(source):
            source = str(path.parent / source)
        if any(name == seen for seen, _ in pairs):
            raise BadInputError(f"{path}: line {number}: the name {name!r} is used twice")
        pairs.append((name, source))
    if not pairs:
        raise BadInputError(f"{path}: listing names no sources")
    return pairs


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
