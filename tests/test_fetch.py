"""``vclf-train fetch`` against a server the test starts on 127.0.0.1."""

import functools
import hashlib
import http.server
import tarfile
import threading

import pandas as pd
import pytest

from helpers import run_command
from vclf.train.synth import write_dataset


@pytest.fixture(scope="module")
def archive_server(tmp_path_factory):
    """Serves ``ucf.tar.gz``: a small dataset under one top folder, as the real archive has."""
    root = tmp_path_factory.mktemp("served")
    write_dataset(root / "src" / "ucf101_top5", seed=1, videos_per_class=2)
    with tarfile.open(root / "ucf.tar.gz", "w:gz") as tar:
        tar.add(root / "src" / "ucf101_top5", arcname="ucf101_top5")
    (root / "junk.tar.gz").write_bytes(b"not an archive")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hashlib.sha256((root / "ucf.tar.gz").read_bytes()).hexdigest()
    server.shutdown()


def test_fetch_downloads_checks_and_unpacks_the_layout(archive_server, tmp_path):
    base, sha = archive_server
    out = tmp_path / "data"
    result = run_command("vclf-train", "fetch", out, "--url", f"{base}/ucf.tar.gz", "--sha256", sha)
    assert "8 train and 8 test clips" in result.stdout
    table = pd.read_csv(out / "train.csv")
    assert all((out / "train" / name).is_file() for name in table["video_name"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "no scratch files left"


def test_fetch_with_a_wrong_checksum_keeps_nothing(archive_server, tmp_path):
    base, _ = archive_server
    result = run_command("vclf-train", "fetch", tmp_path / "data", "--url", f"{base}/ucf.tar.gz", "--sha256", "0" * 64, check=False)
    assert result.returncode == 3 and "sha256" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_fetch_of_something_that_is_not_an_archive(archive_server, tmp_path):
    base, _ = archive_server
    result = run_command("vclf-train", "fetch", tmp_path / "data", "--url", f"{base}/junk.tar.gz", check=False)
    assert result.returncode == 3 and "not a usable archive" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_fetch_from_an_unreachable_source(archive_server, tmp_path):
    base, _ = archive_server
    result = run_command("vclf-train", "fetch", tmp_path / "data", "--url", f"{base}/missing.tar.gz", check=False)
    assert result.returncode == 5 and "missing.tar.gz" in result.stderr and "download failed" in result.stderr
    assert list(tmp_path.iterdir()) == []
