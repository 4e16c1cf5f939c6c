#!/usr/bin/env bash
# A minimal Debian arm64 root that QEMU user-mode emulation runs, for `make aarch64`.
# Built once into ROOT (debootstrap; a few minutes) and reused while ROOT/.complete exists.
# Where emulation cannot run here, it stops with the exact reason (exit 1).
set -euo pipefail
root=${1:?usage: root.sh ROOT}
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=(debootstrap qemu-user-static binfmt-support)

fail() { echo "make aarch64: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (apt-get, debootstrap, mounts, chroot); run it as root"
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
        || fail "could not apt-get install ${missing[*]}"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
        || fail "binfmt_misc is not mounted at /proc/sys/fs/binfmt_misc and mounting it was refused (a container without CAP_SYS_ADMIN?): the kernel cannot hand aarch64 programs to QEMU"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
[ -e "$entry" ] && grep -q '^enabled' "$entry" \
    || fail "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64 did not register it)"
grep -q '^flags:.*F' "$entry" \
    || fail "qemu-aarch64 is registered without the F flag, so programs inside a chroot cannot reach the interpreter"

if [ ! -e "$root/.complete" ]; then
    rm -rf "$root.partial"
    mkdir -p "$(dirname "$root")"
    started=$(date +%s)
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        "$suite" "$root.partial" "$mirror" >"$root.log" 2>&1 \
        || fail "debootstrap of $suite arm64 failed: $(tail -n 1 "$root.log") (all of it in $root.log)"
    echo $(($(date +%s) - started)) >"$root.partial/.build-seconds"
    touch "$root.partial/.complete"
    rm -rf "$root"
    mv "$root.partial" "$root"
fi
out=$(chroot "$root" /usr/bin/uname -m 2>&1) || fail "the root's aarch64 programs do not run under qemu-aarch64: $out"
[ "$out" = aarch64 ] || fail "chroot $root reports machine $out, not aarch64"
echo "make aarch64: $root ready ($(du -sh --exclude=./proc "$root" | cut -f1), built in $(cat "$root/.build-seconds") s)"
