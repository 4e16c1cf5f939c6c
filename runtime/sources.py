"""``vclf-run SOURCE``: the string resolved once into a typed ``Source`` that every other part receives.

``resolve_source(text)`` is the only place that looks at the string. Its rules,
in order:

1. An existing path is always that path, whatever characters its name holds
   (``in/a[1].avi`` is that file, never ``in/a1.avi``): a folder is a
   ``folder``, a ``.txt``/``.lst`` file a ``listing``, a ``.streams`` file a
   ``streams`` listing of live sources, any other file a ``file``.
2. ``cameraN`` is a ``camera``, N from 0 to ``MAX_CAMERA``; past it is a usage
   error.
3. ``SCHEME://...`` is a ``stream`` when this build reads the scheme
   (``STREAM_SCHEMES``); any other scheme (``file://``, ``ftp://``) is a usage
   error naming it.
4. A name with glob characters is a ``glob``, expanded to the files it matches.
5. Anything else is a file that does not exist: bad input.

Failures are ``click.UsageError`` (exit 2) for what this build cannot read
and ``BadInputError`` (exit 3) for input that is missing, empty or unreadable.
Folders, globs and listings are expanded here, once, into ``Source.files``;
a ``.streams`` listing into ``Source.streams``, each line resolved by the
same rules (relative paths from the listing's folder).
"""

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from .errors import BadInputError, one_line
from .video import list_videos

CAMERA, STREAM, FILE, FOLDER, GLOB, LISTING, STREAMS = "camera", "stream", "file", "folder", "glob", "listing", "streams"
KINDS = (CAMERA, STREAM, FILE, FOLDER, GLOB, LISTING, STREAMS)
LIVE_KINDS = (CAMERA, STREAM)
MANY_KINDS = (FOLDER, GLOB, LISTING)  # classified by the folder pipeline even when they hold one clip
MAX_CAMERA = 255  # V4L2's device minors; a larger index names no camera on any platform OpenCV reads
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
LISTING_SUFFIXES = (".txt", ".lst")
STREAMS_SUFFIX = ".streams"
MAX_LISTING_BYTES = 16 << 20  # a listing is one path a line; past this it is not one

_CAMERA = re.compile(r"camera(\d+)", re.ASCII)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_STREAM_NAME = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)\s*=\s*(?P<source>.+)")


@dataclass(frozen=True)
class Source:
    """What SOURCE names. ``kind`` is one of ``KINDS``; the other fields are those of that kind.

    - camera: ``camera`` is the device index;
    - stream: ``url`` is the URL as given;
    - file: ``path`` is the file, ``files`` is ``(path,)``;
    - folder, glob, listing: ``path`` is the folder or listing (None for a glob),
      ``files`` the videos in classification order;
    - streams: ``path`` is the listing, ``streams`` its ``(name, Source)`` pairs,
      each a camera, a stream or a file (replayed live).
    """

    kind: str
    text: str  # SOURCE as the user gave it
    path: Path | None = None
    files: tuple[Path, ...] = ()
    camera: int | None = None
    url: str | None = None
    streams: tuple[tuple[str, "Source"], ...] = ()

    @property
    def live(self) -> bool:
        """A camera or a stream: read continuously, never as a clip."""
        return self.kind in LIVE_KINDS

    @property
    def many(self) -> bool:
        """A folder, glob or listing: results per file and a summary line, even for one file."""
        return self.kind in MANY_KINDS


def resolve_source(text: str) -> Source:
    """SOURCE as a typed, checked ``Source`` (see the module's rules)."""
    if not text or "\0" in text:
        raise click.UsageError("SOURCE is empty" if not text else "SOURCE holds a NUL character")
    path = Path(text)
    if _exists(path):
        return _existing_path(text, path)
    if camera := _CAMERA.fullmatch(text):
        return _camera(text, camera.group(1))
    if scheme := _SCHEME.match(text):
        return _stream(text, scheme.group(1).lower())
    if glob.has_magic(text):
        files = tuple(sorted(Path(p) for p in glob.glob(text) if Path(p).is_file()))
        if not files:
            raise BadInputError(f"{text}: pattern matches no files")
        return Source(GLOB, text, files=files)
    raise BadInputError(f"{text}: no such file")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system is no existing path
        return False


def _existing_path(text: str, path: Path) -> Source:
    if path.is_dir():
        try:
            files = tuple(list_videos(path))
        except OSError as exc:
            raise BadInputError(f"{text}: cannot read the folder ({exc.strerror or exc})") from None
        if not files:
            raise BadInputError(f"{text}: folder holds no video files")
        return Source(FOLDER, text, path, files)
    if path.suffix.lower() in LISTING_SUFFIXES:
        if not path.is_file():  # a FIFO or a device would block or never end
            raise BadInputError(f"{text}: the listing is not a regular file")
        return Source(LISTING, text, path, read_listing(path))
    if path.suffix.lower() == STREAMS_SUFFIX:
        if not path.is_file():
            raise BadInputError(f"{text}: the listing is not a regular file")
        return Source(STREAMS, text, path, streams=read_streams(path))
    return Source(FILE, text, path, (path,))


def _camera(text: str, digits: str) -> Source:
    index = int(digits) if len(digits) <= 4 else MAX_CAMERA + 1
    if index > MAX_CAMERA:
        raise click.UsageError(f"{one_line(text)}: camera index past {MAX_CAMERA}; cameras are camera0 to camera{MAX_CAMERA}")
    return Source(CAMERA, text, camera=index)


def _stream(text: str, scheme: str) -> Source:
    if scheme not in STREAM_SCHEMES:
        raise click.UsageError(
            f"{one_line(text)}: the {scheme}:// scheme is not a source this build reads; streams are {', '.join(s + '://' for s in STREAM_SCHEMES)}"
        )
    if any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise click.UsageError(f"{one_line(text)}: a stream URL holds no spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as exc:
        raise click.UsageError(f"{text}: not a valid URL ({exc})") from None  # text holds no control characters here
    if not parts.hostname:
        raise click.UsageError(f"{text}: the URL names no host")
    return Source(STREAM, text, url=text)


def read_listing(path: Path) -> tuple[Path, ...]:
    """The paths a listing names, in its order; blank lines and ``#`` comments skipped, relative paths from its folder."""
    files = tuple(path.parent / line for _, line in listing_lines(path))
    if not files:
        raise BadInputError(f"{path}: listing names no files")
    return files


def read_streams(path: Path) -> tuple[tuple[str, Source], ...]:
    """The ``(name, Source)`` pairs a ``.streams`` listing names, in its order.

    A line is a camera, a stream URL or a video file (replayed live),
    optionally prefixed ``name=`` (letters, digits, ``_.-``); without one the
    name is the line as written. A line that is an existing path is that
    path, whatever ``=`` it holds. Names are unique; a line naming a folder,
    a glob or another listing is bad input naming the line.
    """
    pairs: list[tuple[str, Source]] = []
    for number, line in listing_lines(path):
        named = _STREAM_NAME.fullmatch(line)
        name, text = (named["name"], named["source"].strip()) if named and not _exists(path.parent / line) else (line, line)
        try:
            source = _listed(path.parent, text)
        except (click.UsageError, BadInputError) as exc:
            raise BadInputError(f"{path}: line {number}: {exc.format_message() if isinstance(exc, click.UsageError) else exc}") from None
        if source.kind not in (CAMERA, STREAM, FILE):
            raise BadInputError(
                f"{path}: line {number}: {one_line(text)} is a {source.kind}; a .streams line is a camera, a stream or a video file"
            )
        if any(name == seen for seen, _ in pairs):
            raise BadInputError(f"{path}: line {number}: the name {name!r} is used twice")
        pairs.append((name, source))
    if not pairs:
        raise BadInputError(f"{path}: listing names no sources")
    return tuple(pairs)


def _listed(folder: Path, text: str) -> Source:
    """A listing's line resolved as SOURCE is, a relative path taken from the listing's folder."""
    if _CAMERA.fullmatch(text) or _SCHEME.match(text) or Path(text).is_absolute():
        return resolve_source(text)
    return resolve_source(str(folder / text))


def listing_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped line)`` of a listing's lines that are not blank or ``#`` comments.

    A listing is UTF-8 text of at most ``MAX_LISTING_BYTES``; anything else,
    or a line holding a NUL or another control character, is bad input
    naming the listing (and the line).
    """
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_LISTING_BYTES + 1)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the listing ({exc.strerror or exc})") from None
    if len(data) > MAX_LISTING_BYTES:
        raise BadInputError(f"{path}: listing is larger than {MAX_LISTING_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path}: listing is not UTF-8 text (byte {exc.start})") from None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise BadInputError(f"{path}: line {number} holds a control character")
        lines.append((number, name))
    return lines
