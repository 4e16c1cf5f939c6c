"""``.streams`` listings: one live source a line, optionally named."""

import pytest

from vclf.runtime.errors import BadInputError
from vclf.runtime.sources import is_streams, read_streams


def test_streams_listing_names_sources_in_order_with_optional_names(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "door=1.avi").write_bytes(b"")
    listing = tmp_path / "cams.streams"
    listing.write_text(
        "# the shop\n\n"
        "door-cam=rtsp://10.0.0.5/stream\n"
        "http://10.0.0.6/video.mjpg?user=guest\n"
        "  yard_2 = camera1  \n"
        "clips/door=1.avi\n"
        "replay=clips/other.avi\n"
    )
    assert is_streams(str(listing)) and not is_streams("cams.txt")
    assert read_streams(listing) == [
        ("door-cam", "rtsp://10.0.0.5/stream"),
        ("http://10.0.0.6/video.mjpg?user=guest", "http://10.0.0.6/video.mjpg?user=guest"),
        ("yard_2", "camera1"),
        ("clips/door=1.avi", str(tmp_path / "clips" / "door=1.avi")),
        ("replay", str(tmp_path / "clips" / "other.avi")),
    ]


@pytest.mark.parametrize(
    "text, cause",
    [("# nothing\n\n", "names no sources"), ("a=camera0\na=camera1\n", "line 2: the name 'a' is used twice")],
)
def test_streams_listing_without_sources_or_with_a_name_twice_is_refused(tmp_path, text, cause):
    listing = tmp_path / "bad.streams"
    listing.write_text(text)
    with pytest.raises(BadInputError, match=cause):
        read_streams(listing)


def test_unreadable_streams_listing_names_itself(tmp_path):
    listing = tmp_path / "missing.streams"
    with pytest.raises(BadInputError, match="missing.streams: cannot read the listing"):
        read_streams(listing)
