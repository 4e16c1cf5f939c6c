"""The HTTP side of ``--serve``: the page, MJPEG streams, Server-Sent Events, JSON, health and metrics.

The standard library's ``ThreadingHTTPServer`` (a thread per connection)
serves it: an edge box has a handful of viewers, each stream and event
subscription is a long-lived response written from its own thread, and
no dependency or event loop is added beside the live loop. The server
runs in a daemon thread of the ``vclf-run`` process.
"""

import ipaddress
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from .metrics import CONTENT_TYPE, Metrics
from .watch import MAX_VIEW_FPS, Watch

PAGE = Path(__file__).with_name("page.html")
BOUNDARY = "vclfframe"
# Each image is followed by the next part's boundary and headers: a browser shows a part only once the
# next one has begun, so the newest image is shown at once, not when the one after it comes.
PART = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()
KEEP_ALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing an idle /events


def parse_address(value: str) -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` (``[v6]:PORT``) → (host, port); the host is 127.0.0.1 unless given."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r}: give PORT or HOST:PORT, the port 0-65535", param_hint="--serve")
    return host, int(port)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ViewServer:
    """Serves ``watch`` and ``metrics`` on ``(host, port)`` from a daemon thread."""

    def __init__(self, address: tuple[str, int], watch: Watch, metrics: Metrics):
        handler = type("Handler", (Handler,), {"watch": watch, "metrics": metrics, "page": PAGE.read_bytes()})
        self.httpd = ThreadingHTTPServer(address, handler)
        self.httpd.daemon_threads = True
        self.watch = watch
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="vclf-serve", daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self.httpd.server_address[0]), self.httpd.server_address[1]
        return f"http://{host}:{port}/" if ":" not in host else f"http://[{host}]:{port}/"

    def start(self) -> "ViewServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.watch.finish()
        self.httpd.shutdown()
        self.httpd.server_close()


class Handler(BaseHTTPRequestHandler):
    watch: Watch
    metrics: Metrics
    page: bytes
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # requests are not logged on stderr, where the run's own lines go

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = unquote(urlsplit(self.path).path)
        if path == "/":
            self.send_body(self.page, "text/html; charset=utf-8")
        elif path.startswith("/stream/") and path[len("/stream/") :] in self.watch.views:
            self.stream(path[len("/stream/") :])
        elif path == "/events":
            self.event_stream()
        elif path == "/events.json":
            self.send_json([record for _, record in self.watch.log])
        elif path == "/predictions.json":
            self.send_json(self.watch.predictions())
        elif path == "/healthz":
            down = self.watch.down()
            self.send_json({"ok": not down, "down": down}, HTTPStatus.SERVICE_UNAVAILABLE if down else HTTPStatus.OK)
        elif path == "/metrics":
            self.send_body(self.metrics.text(), CONTENT_TYPE)
        else:
            self.send_json({"error": f"no such page: {path}"}, HTTPStatus.NOT_FOUND)

    def send_body(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, value, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_body(json.dumps(value).encode(), "application/json", status)

    def start_stream(self, content_type: str) -> None:
        """Headers of a response that lasts until the client leaves (no length: the connection closes after)."""
        self.close_connection = True
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()

    def stream(self, name: str) -> None:
        """MJPEG of the source's overlay: a new image per new prediction, at most ``MAX_VIEW_FPS`` a second."""
        self.start_stream(f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        shown, interval = -1, 1.0 / MAX_VIEW_FPS
        try:
            self.wfile.write(PART)
            while True:
                started = time.monotonic()
                image = self.watch.jpeg(name)
                if image is not None and image[0] != shown:
                    shown, data = image
                    self.wfile.write(data + b"\r\n" + PART)
                    self.wfile.flush()
                if not self.watch.wait_for_frame(name, shown, KEEP_ALIVE_S) and self.watch.finished:
                    return
                time.sleep(max(0.0, started + interval - time.monotonic()))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the viewer left

    def event_stream(self) -> None:
        """Server-Sent Events: each event record as a ``data:`` line, the logged ones first, then as they come."""
        self.start_stream("text/event-stream")
        seen = 0
        try:
            while True:
                fresh = self.watch.events_after(seen, KEEP_ALIVE_S)
                for number, record in fresh:
                    self.wfile.write(f"id: {number}\nevent: {record['event']}\ndata: {json.dumps(record)}\n\n".encode())
                    seen = number
                if not fresh:
                    if self.watch.finished:
                        return
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
