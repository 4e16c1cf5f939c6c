"""What ``vclf-run SOURCE`` accepts, resolved to the videos to classify."""

import glob
import re
from pathlib import Path

from .errors import BadInputError
from .video import list_videos

CAMERA = re.compile(r"^camera(\d+)$")
STREAM_SCHEMES = ("rtsp://", "http://", "https://")


def is_live(source: str) -> bool:
    """A camera (``cameraN``) or a stream URL, rather than files on disk."""
    return bool(CAMERA.match(source)) or source.lower().startswith(STREAM_SCHEMES)


def resolve_files(source: str) -> list[Path]:
    """A video file, a folder of videos or a glob, as the list of files to classify."""
    path = Path(source)
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
