"""How every vclf command reports failure: one line on stderr, the contract's exit code.

A traceback appears only with ``--debug``.
"""

import functools
import os
import sys
from collections.abc import Callable

import click

from .errors import VclfError


def echo_error(prog: str, error: VclfError) -> None:
    """The one-line report: ``prog: error: INPUT: cause``."""
    click.echo(f"{prog}: error: {error}", err=True)


def reports_errors(command: Callable) -> Callable:
    """Add ``--debug`` to a click command and turn its errors into one-line reports."""

    @click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
    @functools.wraps(command)
    def wrapper(*args, debug: bool, **kwargs):
        prog = click.get_current_context().command_path
        try:
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
            click.echo(f"{prog}: interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            click.echo(f"{prog}: unexpected error: {type(exc).__name__}: {exc} (--debug shows where)", err=True)
            sys.exit(1)

    return wrapper
