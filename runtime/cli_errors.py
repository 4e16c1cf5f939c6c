"""How every vclf command reports failure: one line on stderr, the contract's exit code.

A traceback appears only with ``--debug``. SIGTERM (and SIGHUP) is handled
as SIGINT (Ctrl-C): it raises KeyboardInterrupt in the main thread, so the
same cleanup runs (workers stopped, temporary files removed) and the command
exits 130 with one line; a live run stops between frames and exits 0, as on
Ctrl-C.
"""

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from .errors import VclfError, one_line


INTERRUPTED = 130  # 128 + SIGINT, for SIGINT and SIGTERM alike


def echo_error(prog: str, error: VclfError) -> None:
    """The one-line report: ``prog: error: INPUT: cause``; then, escaped the same way, a line per finding in ``details``."""
    click.echo("\n".join([f"{prog}: error: {one_line(str(error))}", *(one_line(line) for line in error.details)]), err=True)


def stop_signals() -> list[signal.Signals]:
    """The signals handled as SIGINT: SIGTERM, and SIGHUP unless it is ignored (``nohup``)."""
    return [signal.SIGTERM] + ([signal.SIGHUP] if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN else [])


_received: list[str] = []  # the stop signal that came, for the closing line (libraries may re-raise a bare KeyboardInterrupt)


def _stop_as_interrupt(signum, frame) -> None:
    """The first SIGTERM or SIGHUP interrupts; any that follow wait for the cleanup it started."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is _stop_as_interrupt:
            signal.signal(sig, signal.SIG_IGN)
    _received.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(_received[0])


@contextmanager
def sigterm_as_sigint() -> Iterator[None]:
    """Inside, SIGTERM (and SIGHUP, a closed terminal) raise KeyboardInterrupt in the main thread, as SIGINT does.

    An ignored SIGHUP (``nohup``) stays ignored; the previous handlers come
    back after, unless one of the signals came: then they stay ignored until
    the command has exited with its code.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop_as_interrupt) for sig in stop_signals()}
    try:
        yield
    finally:
        if all(signal.getsignal(sig) is _stop_as_interrupt for sig in previous):
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def reports_errors(command: Callable) -> Callable:
    """Add ``--debug`` to a click command and turn its errors into one-line reports."""

    @click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
    @functools.wraps(command)
    def wrapper(*args, debug: bool, **kwargs):
        prog = click.get_current_context().command_path
        try:
            with sigterm_as_sigint():
                return command(*args, **kwargs)
        except VclfError as exc:
            if debug:
                raise
            echo_error(prog, exc)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader went away (``vclf-run clips/ | head``): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo(f"{prog}: interrupted{f' ({_received[0]})' if _received else ''}", err=True)
            sys.exit(INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            click.echo(one_line(f"{prog}: unexpected error: {type(exc).__name__}: {exc} (--debug shows where)"), err=True)
            sys.exit(1)

    return wrapper
