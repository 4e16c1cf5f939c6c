"""The live window, opened only where a display is usable.

With no usable display ``cv2.namedWindow`` aborts the whole process (SIGABRT,
uncatchable), so ``display_usable`` decides first, by connecting to the X
server that ``$DISPLAY`` names, and ``window_problem`` also asks whether this
OpenCV build has a GUI at all (``opencv-python-headless`` has none).
"""

import os
import re
import socket

import cv2
import numpy as np

from ..builds import NO_GUI, distribution_of, opencv_gui

QUIT_KEYS = (ord("q"), 27)  # q, Esc
DISPLAY = re.compile(r"^(?P<host>[^:]*):(?P<number>\d+)(\.\d+)?$")
X_PORT = 6000
CONNECT_TIMEOUT_S = 1.0


def display_usable() -> bool:
    """Whether ``$DISPLAY`` names an X server that accepts a connection."""
    match = DISPLAY.match(os.environ.get("DISPLAY", ""))
    if not match:
        return False
    host, number = match["host"], int(match["number"])
    candidates: list[str | tuple[str, int]]
    if host in ("", "unix"):
        address, family = f"/tmp/.X11-unix/X{number}", socket.AF_UNIX
        candidates = [address, "\0" + address]  # the file, or Linux's abstract socket
    else:
        family, candidates = socket.AF_INET, [(host, X_PORT + number)]
    for candidate in candidates:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(CONNECT_TIMEOUT_S)
            try:
                probe.connect(candidate)
            except OSError:
                continue
            return True
    return False


def window_problem() -> str | None:
    """Why no window can open here, or None when one can."""
    if opencv_gui() == NO_GUI:
        return f"this OpenCV build ({distribution_of('cv2')}) has no GUI (the window needs opencv-python in its place)"
    if not display_usable():
        return "no usable display ($DISPLAY unset or unreachable)"
    return None


class Window:
    """An OpenCV window; ``show`` returns False once the user asks to quit (q, Esc, closing it)."""

    def __init__(self, title: str):
        self.title = title
        self.mapped = False  # seen on screen at least once
        cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # no toolbar

    def show(self, frame_bgr: np.ndarray) -> bool:
        cv2.imshow(self.title, frame_bgr)
        key = cv2.waitKey(1) & 0xFF
        if key in QUIT_KEYS:
            return False
        # A busy machine maps a new window late: not visible yet is not closed; not
        # visible after it was is the user closing it.
        visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1
        self.mapped |= visible
        return visible or not self.mapped

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)
