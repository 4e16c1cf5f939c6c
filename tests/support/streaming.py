"""Stream servers for the live tests, on 127.0.0.1 only, fed from real video files.

- ``MjpegServer``: Motion-JPEG over HTTP (``multipart/x-mixed-replace``), what
  most IP cameras serve, with the clip's own JPEG images; runs in the test
  process and can be stopped and started again on the same port.
- ``MjpegViewer``: a client of such a stream (``vclf-run --serve``'s), counting the images.
- ``RtspServer``: GStreamer's RTSP server in ``servers/rtsp_server.py``, run
  with the system ``python3`` (PyGObject), as a separate process; it decodes
  and encodes the JPEG images again for RTP.
"""

import math
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

BOUNDARY = "frame"
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).parent / "servers" / "rtsp_server.py"


def jpeg_frames(clip: Path) -> tuple[list[bytes], float]:
    """The JPEG images of a Motion-JPEG ``clip`` as stored (not re-encoded), and its frame rate."""
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    capture.set(cv2.CAP_PROP_FORMAT, -1)  # packets as they are in the file
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, packet = capture.read()
        if not ok:
            break
        frames.append(packet.tobytes())
    capture.release()
    return frames, fps


class MjpegViewer(threading.Thread):
    """Reads an MJPEG stream in a thread until it ends or ``stop`` is set; ``images`` counts the parts begun."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.images, self.stop = url, 0, threading.Event()

    def run(self) -> None:
        with urllib.request.urlopen(self.url, timeout=30) as stream:
            while not self.stop.is_set():
                line = stream.readline()
                if not line:
                    return
                self.images += line.startswith(b"Content-Type: image/jpeg")


class MjpegServer:
    """Serves ``clip`` at its frame rate to each client: once, or over and over with ``loop``.

    With ``phase`` (seconds, looping servers only) the server is a camera on a clock of its own: its
    frames go out at ``phase + k / fps`` on ``time.monotonic``'s clock whoever is connected, and a
    client that connects gets the next one whose ``k`` is a multiple of ``every``. A client that hands
    on every ``every``-th frame it reads (a live run at that stride) then hands on the same frames,
    at the same times, whenever it connects. Without ``phase`` each client's stream starts when it
    connects, so clients that connect together get their frames together.
    """

    def __init__(self, clip: Path, loop: bool = False, phase: float | None = None, every: int = 1):
        self.frames, self.fps = jpeg_frames(clip)
        self.loop = loop
        self.phase = phase
        self.every = every
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self._frozen_before = 0  # streams opened before this count send nothing more
        self._opened = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> "MjpegServer":
        """Listen (on the port of the last start, if any) and serve in a thread."""
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def freeze_streams(self) -> None:
        """The open streams stay connected but send nothing more, as a camera that hangs;
        new connections are served."""
        self._frozen_before = self._opened

    def stop(self) -> None:
        """Close the listening socket and every open stream, as a camera that dies."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                server._opened += 1
                stream, start, sent = server._opened, time.monotonic(), 0
                if server.phase is not None and server.loop:
                    due = math.ceil((start - server.phase) * server.fps / server.every)
                    sent = due * server.every  # the camera's next frame numbered a multiple of every, when it is due
                    time.sleep(max(0.0, server.phase + sent / server.fps - time.monotonic()))
                    start = server.phase
                while not server._stopping.is_set() and (server.loop or sent < len(server.frames)):
                    if stream <= server._frozen_before:
                        time.sleep(0.1)
                        continue
                    jpeg = server.frames[sent % len(server.frames)]
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    try:
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                    except OSError:
                        return  # the client went away
                    sent += 1
                    time.sleep(max(0.0, start + sent / server.fps - time.monotonic()))

            def log_message(self, *args) -> None:
                pass

        return Handler


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspServer:
    """``rtsp://127.0.0.1:PORT/clip``: ``clip`` as RTP/JPEG, once per client, at its frame rate."""

    def __init__(self, clip: Path):
        self.clip = clip
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/clip"

    def __enter__(self) -> "RtspServer":
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.clip), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = self._process.stdout.readline()
        if not ready.startswith("ready"):
            self._process.kill()
            raise RuntimeError(f"RTSP server did not start: {self._process.stderr.read()[-2000:]}")
        return self

    def __exit__(self, *exc) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
