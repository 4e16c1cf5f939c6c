"""Files and folders: vclf's cache folder, content hashes, and writes that land whole or not at all and
survive a power cut once written.

A rename is atomic against a kill, not against a power cut: the data must
reach the disk before the rename (``fsync`` of the file) and the rename itself
after (``fsync`` of the folder that holds the name).
"""

import ctypes
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h


def cache_dir() -> Path:
    """vclf's cache folder (optimised graphs, TensorRT engines, features): ``$VCLF_CACHE``, else ``$XDG_CACHE_HOME/vclf`` or ``~/.cache/vclf``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vclf"
    return Path(os.environ.get("VCLF_CACHE", default))


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def writable_folder(folder: Path) -> bool:
    """Whether ``folder`` exists (made here if need be) and this process may write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` and every folder in it, deepest first."""
    for root, _, names in os.walk(folder, topdown=False):
        for name in names:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)``, flush it to the disk, then move it onto ``path`` and flush the folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=f".{path.name}")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes files private; run files are ordinary files
        fsync_path(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing names in one atomic step (Linux ``renameat2`` with ``RENAME_EXCHANGE``).

    False where the system cannot (not Linux, a libc without ``renameat2``,
    a file system without the flag); the names are then untouched.
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def publish_folder(built: Path, target: Path) -> None:
    """Move the finished folder ``built`` onto ``target``, replacing what is there, without a moment when ``target`` is missing.

    ``built`` must be on ``target``'s file system. On Linux an existing
    ``target`` is swapped with ``built`` in one step and the old one removed.
    Where the exchange is not available the old folder is first renamed to
    ``.NAME.old`` beside it, then ``built`` renamed in: a kill between the two
    renames leaves the previous bundle under ``.NAME.old``.
    """
    built, target = Path(built), Path(target)
    fsync_tree(built)
    if not target.exists():
        built.rename(target)
    elif exchange(built, target):
        shutil.rmtree(built)
    else:
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        built.rename(target)
        shutil.rmtree(old)
    fsync_path(target.parent)


def check_output_path(option: str, path: Path) -> None:
    """A usage error unless the folder of ``path`` exists and is writable (click refuses a ``path`` that is a folder)."""
    folder = path.parent
    if not folder.is_dir():
        raise click.UsageError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.UsageError(f"{option} {path}: the folder {folder} is not writable")
