"""Serve one Motion-JPEG AVI over RTSP on 127.0.0.1, as an IP camera would.

Run with the system ``python3`` (GStreamer's RTSP server through PyGObject):

    python3 rtsp_server.py CLIP.avi PORT

The clip's frames go out as RTP/JPEG (RFC 2435) at the clip's own frame rate;
each client gets the clip once from its start. They are decoded and encoded
again on the way: FFmpeg's JPEG images as stored in the AVI do not survive
RTP/JPEG payloading intact (the client decodes grey frames).
Prints ``ready rtsp://127.0.0.1:PORT/clip`` when it accepts clients.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main(clip: str, port: str) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{clip}" ! avidemux ! jpegdec ! videoconvert ! jpegenc quality=100 ! rtpjpegpay name=pay0 pt=26 )'
    )
    server.get_mount_points().add_factory("/clip", factory)
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{port}")
    print(f"ready rtsp://127.0.0.1:{port}/clip", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(*sys.argv[1:])
