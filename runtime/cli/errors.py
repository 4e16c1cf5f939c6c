"""How every vclf command reports failure: one line on stderr, the contract's exit code.

A traceback appears only with ``--debug``. SIGTERM (and SIGHUP) is handled
as SIGINT (Ctrl-C, ``signals.py``): the same cleanup runs (workers stopped,
temporary files removed) and the command exits 130 with one line; a live run
stops between frames and exits 0, as on Ctrl-C.
"""

import functools
import os
import sys
from collections.abc import Callable

import click

from ..errors import VclfError, one_line
from ..signals import received_stop, sigterm_as_sigint

INTERRUPTED = 130  # 128 + SIGINT, for SIGINT and SIGTERM alike


def echo_error(prog: str, error: VclfError) -> None:
    """The one-line report: ``prog: error: INPUT: cause``; then, escaped the same way, a line per finding in ``details``."""
    click.echo("\n".join([f"{prog}: error: {one_line(str(error))}", *(one_line(line) for line in error.details)]), err=True)


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
            click.echo(f"{prog}: interrupted{f' ({received_stop()})' if received_stop() else ''}", err=True)
            sys.exit(INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            click.echo(one_line(f"{prog}: unexpected error: {type(exc).__name__}: {exc} (--debug shows where)"), err=True)
            sys.exit(1)

    return wrapper
