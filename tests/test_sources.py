"""SOURCE resolved once into a typed Source: existing paths win, bounded cameras, known schemes, checked listings."""

import os
import string
from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.clips import counting_frames

from vclf.runtime.errors import BadInputError
from vclf.runtime.sources import (
    CAMERA,
    FILE,
    FOLDER,
    GLOB,
    KINDS,
    LISTING,
    MAX_CAMERA,
    STREAM,
    resolve_source,
)
from vclf.runtime.video_writer import write_video


@pytest.fixture
def clips(tmp_path) -> Path:
    """A folder with ``a1.avi``, ``a[1].avi`` and ``b*.avi``: names that are also patterns."""
    for name in ("a1.avi", "a[1].avi", "b*.avi"):
        write_video(tmp_path / name, counting_frames(4), fps=10)
    return tmp_path


def test_an_existing_name_with_glob_characters_is_that_file(clips):
    source = resolve_source(str(clips / "a[1].avi"))
    assert (source.kind, source.path, source.files) == (FILE, clips / "a[1].avi", (clips / "a[1].avi",))
    assert resolve_source(str(clips / "b*.avi")).files == (clips / "b*.avi",)


def test_a_pattern_that_names_no_file_is_expanded(clips):
    source = resolve_source(str(clips / "a?.avi"))
    assert (source.kind, source.files) == (GLOB, (clips / "a1.avi",))


def test_a_folder_lists_its_videos_in_name_order(clips):
    source = resolve_source(str(clips))
    assert source.kind == FOLDER and source.many
    assert [p.name for p in source.files] == ["a1.avi", "a[1].avi", "b*.avi"]


def test_an_existing_file_named_like_a_camera_is_the_file(clips, monkeypatch):
    monkeypatch.chdir(clips)
    (clips / "a1.avi").rename(clips / "camera0")
    assert resolve_source("camera0").kind == FILE


@pytest.mark.parametrize("index", [0, 7, MAX_CAMERA])
def test_cameras_within_the_bound_are_cameras(index):
    source = resolve_source(f"camera{index}")
    assert (source.kind, source.camera, source.live) == (CAMERA, index, True)


@pytest.mark.parametrize("text", [f"camera{MAX_CAMERA + 1}", "camera99999999999999999999"])
def test_a_camera_index_past_the_bound_is_a_usage_error(text):
    with pytest.raises(click.UsageError, match=f"past {MAX_CAMERA}"):
        resolve_source(text)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/a.avi", "gopher://x/", "smb://share/v.avi"])
def test_a_scheme_this_build_cannot_read_is_a_usage_error_naming_it(url):
    scheme = url.split(":")[0]
    with pytest.raises(click.UsageError, match=f"the {scheme}:// scheme"):
        resolve_source(url)


@pytest.mark.parametrize("url", ["http://", "rtsp://host:99999/x", "http://a b/", "rtsp://host/\nx"])
def test_a_stream_url_without_a_host_or_with_odd_characters_is_a_usage_error(url):
    with pytest.raises(click.UsageError):
        resolve_source(url)


def test_a_stream_url_is_kept_as_given():
    source = resolve_source("rtsp://user:pw@10.0.0.5:8554/cam?x=1")
    assert (source.kind, source.url) == (STREAM, "rtsp://user:pw@10.0.0.5:8554/cam?x=1")


@pytest.mark.parametrize(
    "content, cause",
    [
        (b"a1.avi\n\xff\xfe.avi\n", "not UTF-8"),
        (b"", "names no files"),
        (b"# only a comment\n\n", "names no files"),
        (b"a1.avi\nb\x00.avi\n", "line 2 holds a control character"),
        (b"a1.avi\nb\x1b[2J.avi\n", "line 2 holds a control character"),
    ],
)
def test_a_listing_that_cannot_be_read_is_bad_input(clips, content, cause):
    listing = clips / "clips.txt"
    listing.write_bytes(content)
    with pytest.raises(BadInputError, match=cause):
        resolve_source(str(listing))


def test_an_unreadable_listing_is_bad_input(clips):
    listing = clips / "clips.lst"
    listing.write_text("a1.avi\n")
    listing.chmod(0)
    if os.access(listing, os.R_OK):
        pytest.skip("running as root: permissions do not stop reading")
    with pytest.raises(BadInputError, match="cannot read the listing"):
        resolve_source(str(listing))


def test_a_listing_that_is_a_fifo_is_refused_without_blocking(clips):
    os.mkfifo(clips / "clips.txt")
    with pytest.raises(BadInputError, match="not a regular file"):
        resolve_source(str(clips / "clips.txt"))


def test_a_listing_keeps_its_order_and_its_names_literally(clips):
    listing = clips / "clips.txt"
    listing.write_text("\ufeffb*.avi\n# comment\n  a[1].avi  \n\na1.avi\r\n")
    source = resolve_source(str(listing))
    assert source.kind == LISTING
    assert source.files == (clips / "b*.avi", clips / "a[1].avi", clips / "a1.avi")


def test_a_missing_file_is_bad_input():
    with pytest.raises(BadInputError, match="no such file"):
        resolve_source("/nonexistent/clip.avi")


def test_an_empty_source_is_a_usage_error():
    with pytest.raises(click.UsageError):
        resolve_source("")


SOURCE_ALPHABET = string.ascii_letters + string.digits + "/.:*?[]!-_ %@#\\\n\t\x00\x1b~é\udcff"
SOURCE_TEXT = st.one_of(
    st.text(SOURCE_ALPHABET, max_size=40),
    st.builds(lambda digits: f"camera{digits}", st.text(string.digits, min_size=1, max_size=30)),
    st.builds(
        lambda scheme, rest: f"{scheme}://{rest}",
        st.text(string.ascii_letters + "+.-", min_size=1, max_size=8),
        st.text(SOURCE_ALPHABET, max_size=20),
    ),
    st.sampled_from(["a[1].avi", "a?.avi", "*", "[", "b*.avi", "clips.txt", "camera0", ".", ".."]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=SOURCE_TEXT)
def test_any_source_string_resolves_to_a_kind_or_fails_with_exit_2_or_3(clips, monkeypatch, text):
    monkeypatch.chdir(clips)
    (clips / "clips.txt").write_text("a1.avi\n")
    try:
        source = resolve_source(text)
    except click.UsageError as exc:
        assert exc.exit_code == 2
        return
    except BadInputError as exc:
        assert exc.exit_code == 3
        return
    assert source.kind in KINDS and source.text == text
    if Path(text).exists():
        assert source.path == Path(text) and source.kind in (FILE, FOLDER, LISTING)
    if source.kind not in (CAMERA, STREAM):
        assert source.files and all(isinstance(p, Path) for p in source.files)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_any_listing_content_gives_its_files_or_bad_input(clips, content):
    listing = clips / "mutated.txt"
    listing.write_bytes(content)
    try:
        source = resolve_source(str(listing))
    except BadInputError as exc:
        assert str(exc).startswith(str(listing))
        return
    named = [line.strip() for line in content.decode("utf-8-sig").splitlines()]
    named = [name for name in named if name and not name.startswith("#")]
    assert source.kind == LISTING and len(source.files) == len(named)
    assert not any(c in str(p) for p in source.files for c in "\n\r\x00")
