"""``.streams`` listings: one live source a line, optionally named."""

import pytest

from vclf.runtime.errors import BadInputError
from vclf.runtime.sources import CAMERA, FILE, STREAM, STREAMS, read_streams, resolve_source


def test_streams_listing_names_sources_in_order_with_optional_names(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "door=1.avi").write_bytes(b"")
    (tmp_path / "clips" / "other.avi").write_bytes(b"")
    listing = tmp_path / "cams.streams"
    listing.write_text(
        "# the shop\n\n"
        "door-cam=rtsp://10.0.0.5/stream\n"
        "http://10.0.0.6/video.mjpg?user=guest\n"
        "  yard_2 = camera1  \n"
        "clips/door=1.avi\n"
        "replay=clips/other.avi\n"
    )
    source = resolve_source(str(listing))
    assert source.kind == STREAMS and source.streams == read_streams(listing)
    assert [(name, s.kind, s.url or s.camera or s.path) for name, s in source.streams] == [
        ("door-cam", STREAM, "rtsp://10.0.0.5/stream"),
        ("http://10.0.0.6/video.mjpg?user=guest", STREAM, "http://10.0.0.6/video.mjpg?user=guest"),
        ("yard_2", CAMERA, 1),
        ("clips/door=1.avi", FILE, tmp_path / "clips" / "door=1.avi"),
        ("replay", FILE, tmp_path / "clips" / "other.avi"),
    ]


@pytest.mark.parametrize(
    "text, cause",
    [
        ("# nothing\n\n", "names no sources"),
        ("a=camera0\na=camera1\n", "line 2: the name 'a' is used twice"),
        ("cams=camera0\nclips/\n", "line 2: clips/ is a folder; a .streams line is a camera, a stream or a video file"),
        ("gone=missing.avi\n", "line 1: .*missing.avi: no such file"),
        ("bad=ftp://host/a.avi\n", "line 1: .*the ftp:// scheme is not a source this build reads"),
    ],
)
def test_streams_listing_without_sources_or_with_a_name_twice_is_refused(tmp_path, text, cause):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.avi").write_bytes(b"")
    listing = tmp_path / "bad.streams"
    listing.write_text(text)
    with pytest.raises(BadInputError, match=cause):
        read_streams(listing)


def test_unreadable_streams_listing_names_itself(tmp_path):
    listing = tmp_path / "missing.streams"
    with pytest.raises(BadInputError, match="missing.streams: cannot read the listing"):
        read_streams(listing)
