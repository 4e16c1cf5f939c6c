"""What /proc says about processes: their descendants, whether they run, where they listen."""

import os
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, theirs, ...), from /proc."""
    found, stack = [], [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def listening_addresses(pids: list[int]) -> set[str]:
    """The TCP addresses (``ip:port``) that these processes listen on, from /proc."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                found.add(_proc_address(fields[1]))
    return found


def _proc_address(text: str) -> str:
    """``0100007F:1F90`` → ``127.0.0.1:8080``; IPv6 (32 hex digits) as its groups, ``::ffff:127.0.0.1`` folded to the IPv4."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # /proc prints each 32-bit word little-endian
    if len(words) == 16 and words[:12] == b"\0" * 10 + b"\xff\xff":
        words = words[12:]
    if len(words) == 4:
        address = ".".join(str(b) for b in words)
    else:
        address = ":".join(words[i : i + 2].hex() for i in range(0, 16, 2))
    return f"{address}:{int(port, 16)}"
