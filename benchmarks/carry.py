"""Carry large files to a lent GPU machine in pieces that each fit one device call, then join and install them there.

    python benchmarks/carry.py split FILE... --into .gpu --piece-mib 56
    python benchmarks/carry.py join .gpu --into build/gpu
    python benchmarks/carry.py install build/gpu/onnxruntime_gpu-*.whl --target /tmp/site

One device call carries at most 64 MiB of ignored paths, and a warm machine
keeps the ignored paths earlier calls brought. ``split`` cuts every file into
pieces that fill calls of ``--piece-mib`` each and puts each call's share in its own folder
(``.gpu/call-00``, ``.gpu/call-01``, ...), with ``.gpu/manifest.json`` naming
every file's size and sha256 and each piece's; ``PLAN.txt`` beside it lists
the calls. ``join`` checks each piece against the manifest before it writes
a byte, rebuilds each file under a temporary name, checks the whole file's
sha256, then renames it into place: a missing or damaged piece is named, and
nothing half-joined is left.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MANIFEST = "manifest.json"
PLAN = "PLAN.txt"
CALL_LIMIT_MIB = 64  # what one device call carries, the working tree included
TREE_ALLOWANCE_MIB = 8  # left for the working tree that travels with every call
CHUNK = 1 << 20


class CarryError(Exception):
    """A piece or file that does not match its manifest."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def split(files: list[Path], into: Path, call_bytes: int) -> dict:
    """Cut ``files`` into pieces that fill device calls of ``call_bytes`` each, one folder a call.

    A file's last piece and the next file's first share a call, so the calls
    are as few as the bytes allow. Returns the manifest it wrote.
    """
    if call_bytes <= 0:
        raise CarryError("the piece size must be positive")
    into.mkdir(parents=True, exist_ok=True)
    entries, call, used = [], 0, 0
    for path in files:
        pieces = []
        with path.open("rb") as stream:
            while True:
                data = stream.read(call_bytes - used or call_bytes)
                if not data and pieces:
                    break
                if used == call_bytes:
                    call, used = call + 1, 0
                name = f"call-{call:02d}/{path.name}.{len(pieces):03d}"
                (into / name).parent.mkdir(exist_ok=True)
                (into / name).write_bytes(data)
                pieces.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
                used += len(data)
                if not data:
                    break
        entries.append({"file": path.name, "size": path.stat().st_size, "sha256": sha256_of(path), "pieces": pieces})
    manifest = {"calls": call + 1, "files": entries}
    (into / MANIFEST).write_text(json.dumps(manifest, indent=2))
    (into / PLAN).write_text(plan_text(into, manifest))
    return manifest


def plan_text(into: Path, manifest: dict) -> str:
    """The device calls that bring the pieces over, one ``carry`` each, back to back while the machine stays warm."""
    lines = [f"{manifest['calls']} device calls, back to back (a warm machine keeps what earlier calls carried):"]
    for call in range(manifest["calls"]):
        carry = [f"{into}/call-{call:02d}"] + ([f"{into}/{MANIFEST}"] if call == manifest["calls"] - 1 else [])
        lines.append(f"  call {call + 1}: carry {carry}")
    lines.append("then, in the last call: make bench-gpu")
    return "\n".join(lines) + "\n"


def check_pieces(folder: Path, manifest: dict) -> None:
    """Every piece present with its size and sha256, or a CarryError naming the first that is not."""
    for entry in manifest["files"]:
        for piece in entry["pieces"]:
            path = folder / piece["name"]
            if not path.is_file():
                raise CarryError(f"{path}: piece missing (was its device call made?)")
            if path.stat().st_size != piece["size"] or sha256_of(path) != piece["sha256"]:
                raise CarryError(f"{path}: piece damaged (size or sha256 differs from {MANIFEST})")


def join(folder: Path, into: Path) -> list[Path]:
    """Rebuild every file of ``folder``'s manifest under ``into``; returns their paths."""
    manifest = json.loads((folder / MANIFEST).read_text())
    check_pieces(folder, manifest)
    into.mkdir(parents=True, exist_ok=True)
    joined = []
    for entry in manifest["files"]:
        target = into / entry["file"]
        if target.is_file() and target.stat().st_size == entry["size"] and sha256_of(target) == entry["sha256"]:
            joined.append(target)
            continue
        handle, partial = tempfile.mkstemp(dir=into, prefix=f".{entry['file']}.")
        try:
            with os.fdopen(handle, "wb") as out:
                for piece in entry["pieces"]:
                    out.write((folder / piece["name"]).read_bytes())
            if sha256_of(Path(partial)) != entry["sha256"]:
                raise CarryError(f"{entry['file']}: joined file's sha256 differs from {MANIFEST}")
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
        joined.append(target)
    return joined


def install(wheels: list[Path], target: Path) -> None:
    """Install wheels into ``target`` without an index or their dependencies (the device has them), as the device README does."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade"]
    subprocess.run([*command, "--target", str(target), *map(str, wheels)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    cut = verbs.add_parser("split", help="cut files into pieces, one device call's worth per folder")
    cut.add_argument("files", nargs="+", type=Path)
    cut.add_argument("--into", type=Path, required=True)
    cut.add_argument("--piece-mib", type=float, default=CALL_LIMIT_MIB - TREE_ALLOWANCE_MIB)
    glue = verbs.add_parser("join", help="check the pieces and rebuild the files")
    glue.add_argument("folder", type=Path)
    glue.add_argument("--into", type=Path, required=True)
    put = verbs.add_parser("install", help="pip-install wheels into a folder, no index, no dependencies")
    put.add_argument("wheels", nargs="+", type=Path)
    put.add_argument("--target", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.verb == "split":
            manifest = split(args.files, args.into, int(args.piece_mib * (1 << 20)))
            print((args.into / PLAN).read_text(), end="")
            print(f"{sum(len(e['pieces']) for e in manifest['files'])} pieces in {manifest['calls']} calls under {args.into}")
        elif args.verb == "join":
            for path in join(args.folder, args.into):
                print(f"{path}: sha256 ok")
        else:
            install(args.wheels, args.target)
    except (CarryError, OSError, json.JSONDecodeError, KeyError) as exc:
        print(f"carry: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
