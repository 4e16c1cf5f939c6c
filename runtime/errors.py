"""Errors that reach the user, each with the exit code of the command-line contract.

0 ok, 2 usage, 3 bad input data or video, 4 bad model or bundle,
5 source unavailable.
"""

from collections.abc import Iterator
from contextlib import contextmanager


def one_line(text: str) -> str:
    """``text`` with control characters, line breaks and undecodable bytes of file names escaped:
    whatever a file name, URL or manifest holds prints as one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a one-line report quotes."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class VclfError(Exception):
    """An error a command reports as one line on stderr (and, for a report of several findings, a line for each in ``details``)."""

    exit_code = 1
    details: tuple[str, ...] = ()


class BadInputError(VclfError):
    """Input data or video that cannot be used."""

    exit_code = 3


class BadModelError(VclfError):
    """A run dir, bundle or graph that cannot be used."""

    exit_code = 4


class SourceUnavailableError(VclfError):
    """A camera, stream, download or other source that cannot be reached."""

    exit_code = 5


class MissingPackageError(VclfError):
    """An option that needs a package this installation lacks (an extra of vclf): a usage error."""

    exit_code = 2


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Inside (or on a function), a package found missing is a MissingPackageError naming vclf's ``extra`` to install.

    A missing module of vclf itself is a bug, not an extra left out: it stays the ImportError it is.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] == "vclf":
            raise
        raise MissingPackageError(f"needs the {extra} extra ({exc.name} is not installed here): pip install 'vclf[{extra}]'") from None
