"""The GPU suite's two scripts as far as this machine can take them: the wheel carried in pieces, and the CPU dry run.

``benchmarks/carry.py`` cuts big files into device-call-sized pieces and joins
them back; ``benchmarks/gpu.py run --dry-run`` takes every code path of the
GPU run on the session's bundle, falling back from CUDA to the CPU with the
reason on one line. Both run as processes, as on the device.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
MIB = 1 << 20


def script(name: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *map(str, args)], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def big_files(folder: Path) -> list[Path]:
    """A file of 3.5 MiB of random bytes (a wheel's stand-in) and one of 0.3 MiB."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    files = [folder / "onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl", folder / "extractor.onnx"]
    for path, size in zip(files, (int(3.5 * MIB), int(0.3 * MIB))):
        path.write_bytes(rng.bytes(size))
    return files


def test_pieces_fit_one_call_each_and_join_to_the_same_sha256(tmp_path):
    files = big_files(tmp_path / "original")
    printed = script("carry.py", "split", *files, "--into", tmp_path / "pieces", "--piece-mib", "1").stdout
    manifest = json.loads((tmp_path / "pieces" / "manifest.json").read_text())
    calls = sorted((tmp_path / "pieces").glob("call-*"))
    assert len(calls) == manifest["calls"] == 4 and "4 device calls" in printed
    assert all(sum(p.stat().st_size for p in call.iterdir()) <= MIB for call in calls)
    joined = script("carry.py", "join", tmp_path / "pieces", "--into", tmp_path / "joined").stdout
    for path in files:
        assert (tmp_path / "joined" / path.name).read_bytes() == path.read_bytes()
        assert f"{path.name}: sha256 ok" in joined


def test_a_missing_or_damaged_piece_is_named_and_nothing_half_joined_is_left(tmp_path):
    files = big_files(tmp_path / "original")
    script("carry.py", "split", *files, "--into", tmp_path / "pieces", "--piece-mib", "1")
    last = sorted((tmp_path / "pieces").glob("call-*/*.whl.*"))[-1]
    content = last.read_bytes()
    last.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))
    damaged = script("carry.py", "join", tmp_path / "pieces", "--into", tmp_path / "joined", check=False)
    assert damaged.returncode == 3 and f"{last}: piece damaged" in damaged.stderr
    last.unlink()
    missing = script("carry.py", "join", tmp_path / "pieces", "--into", tmp_path / "joined", check=False)
    assert missing.returncode == 3 and f"{last}: piece missing" in missing.stderr
    assert not (tmp_path / "joined").exists()


def test_dry_run_takes_every_gpu_path_on_the_cpu_and_says_why_in_one_line(tmp_path, bundle, dataset):
    build = tmp_path / "build"
    (build / "clips").mkdir(parents=True)
    (build / "bundle-fp32").symlink_to(bundle)
    for clip in sorted((dataset / "test").glob("*.avi"))[:4]:
        (build / "clips" / clip.name).symlink_to(clip)
    done = script("gpu.py", "run", build, "--out", tmp_path / "out", "--dry-run", "--device", "cuda")
    fallback = [line for line in done.stderr.splitlines() if "cuda: not available on this machine" in line]
    assert len(fallback) == 1 and "measures the CPU provider instead" in fallback[0]
    results = json.loads(next((tmp_path / "out").glob("gpu-dry-run-*.json")).read_text())
    rows = results["rows"]
    assert {r["provider"] for r in rows} == {"CPUExecutionProvider"}
    extractor = [r for r in rows if r["group"] == "extractor"]
    assert {(r["batch"], r["variant"].split(",")[0]) for r in extractor} == {
        (batch, way) for batch in (1, 4) for way in ("run", "I/O binding")
    } and len(extractor) == 6
    assert {r["group"] for r in rows} == {"extractor", "clip", "live", "streams", "folder"}
    streams = [r for r in rows if r["group"] == "streams"]
    assert {(r["batch"], r["variant"].split(", ")[1]) for r in streams} == {
        (count, way) for count in (2, 4) for way in ("one batched step", "one step per source")
    }
    folder = next(r for r in rows if r["group"] == "folder")
    assert folder["items"] == 4 and "of the extractor bound" in folder["note"]
    assert all(r["throughput"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0 for r in rows)
    assert (tmp_path / "out" / next((tmp_path / "out").glob("*.md")).name).read_text().count("| fp32 | CPUExecutionProvider |") == len(rows)
    assert next((tmp_path / "out").glob("*.png")).stat().st_size > 10_000
