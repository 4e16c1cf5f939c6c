"""``vclf-train fetch`` against a server the test starts on 127.0.0.1."""

import functools
import hashlib
import http.server
import re
import tarfile
import threading

import pandas as pd
import pytest
from support.commands import run_command

from vclf.train.synth import write_dataset


class BreakingHandler(http.server.SimpleHTTPRequestHandler):
    """Files from its folder; ``/short.tar.gz`` announces the archive's length and sends half of it,
    ``/chunked.tar.gz`` sends it chunked and breaks off inside a chunk."""

    def __init__(self, archive: bytes, *args, **kwargs):
        self.archive = archive
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/short.tar.gz":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.archive)))
            self.end_headers()
            self.wfile.write(self.archive[: len(self.archive) // 2])
            self.close_connection = True
        elif self.path == "/chunked.tar.gz":
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(self.archive) + self.archive[:1000])
            self.close_connection = True
        else:
            super().do_GET()


@pytest.fixture(scope="module")
def archive_server(tmp_path_factory):
    """Serves ``ucf.tar.gz``: a small dataset under one top folder, as the real archive has."""
    root = tmp_path_factory.mktemp("served")
    write_dataset(root / "src" / "ucf101_top5", seed=1, videos_per_class=2)
    with tarfile.open(root / "ucf.tar.gz", "w:gz") as tar:
        tar.add(root / "src" / "ucf101_top5", arcname="ucf101_top5")
    (root / "junk.tar.gz").write_bytes(b"not an archive")
    archive = (root / "ucf.tar.gz").read_bytes()
    (root / "cut.tar.gz").write_bytes(archive[: len(archive) // 2])  # whole as served, damaged as data
    handler = functools.partial(BreakingHandler, archive, directory=str(root))
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


def test_fetch_prints_the_archive_sha256_and_keeps_it_so_a_later_fetch_can_pin_it(archive_server, tmp_path):
    base, sha = archive_server
    result = run_command("vclf-train", "fetch", tmp_path / "first", "--url", f"{base}/ucf.tar.gz")
    assert f"archive sha256 {sha}" in result.stdout
    kept = (tmp_path / "first" / "archive.sha256").read_text().split()[0]
    assert kept == sha
    run_command("vclf-train", "fetch", tmp_path / "second", "--url", f"{base}/ucf.tar.gz", "--sha256", kept)


@pytest.mark.parametrize("name", ["short.tar.gz", "chunked.tar.gz"])
def test_a_download_cut_short_is_exit_5_and_keeps_nothing(archive_server, tmp_path, name):
    base, sha = archive_server
    result = run_command("vclf-train", "fetch", tmp_path / "data", "--url", f"{base}/{name}", "--sha256", sha, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 5, result.stderr
    assert "download ended after" in lines[-1] and "Traceback" not in result.stderr
    if name == "short.tar.gz":
        received, announced = map(int, re.search(r"after (\d+) of (\d+) bytes$", lines[-1]).groups())
        assert received == announced // 2
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_gzip_served_whole_is_exit_3(archive_server, tmp_path):
    base, _ = archive_server
    result = run_command("vclf-train", "fetch", tmp_path / "data", "--url", f"{base}/cut.tar.gz", check=False)
    assert result.returncode == 3, result.stderr
    assert "not a usable archive" in result.stderr.splitlines()[-1] and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


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
