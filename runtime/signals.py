"""Stop signals: SIGTERM (and SIGHUP, a closed terminal) handled as SIGINT, Ctrl-C, in every command.

``sigterm_as_sigint`` makes them raise KeyboardInterrupt in the main thread,
so a command's cleanup runs as on Ctrl-C; ``stop_requests`` turns all three
into an event a live loop looks at between frames.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


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


def received_stop() -> str | None:
    """The name of the stop signal that interrupted this command (None for Ctrl-C or none)."""
    return _received[0] if _received else None


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM or SIGHUP (``stop_signals``) while inside; the previous handlers come back after."""
    requested = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: requested.set()) for sig in (signal.SIGINT, *stop_signals())}
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
