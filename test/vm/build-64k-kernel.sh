#!/bin/bash
# build-64k-kernel.sh [OUT_IMAGE]: cross-builds a minimal arm64 Linux 6.12 with 64K pages for the
# `npm run test:kernels` matrix (Debian ships 4K and 16K arm64 flavours only). Source: Debian's
# linux-source-6.12 from bookworm-backports, fetched with a private apt state (the host's apt
# configuration is not touched). Config: allnoconfig + arm64-64k.config (QEMU virt machine, PL011
# console, initramfs, userfaultfd, what Node needs). ~5.5 min on 2 cores, so it is not part of
# CI: the matrix boots the image when it is in the cache (default
# ~/.cache/userfaultfd-vm/kernels/Image-6.12-64k; `node test/vm/kernels.js --build-64k` runs this).
# Needs: gcc-aarch64-linux-gnu make flex bison bc libelf-dev libssl-dev xz-utils (Debian).
set -euo pipefail
CACHE=${UFFD_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/userfaultfd-vm}
OUT=$(realpath -m "${1:-$CACHE/kernels/Image-6.12-64k}")
HERE=$(cd "$(dirname "$0")" && pwd)
need=()
for t in aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu make:make flex:flex bison:bison bc:bc \
         xz:xz-utils; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
[[ -e /usr/include/libelf.h ]] || need+=(libelf-dev)
[[ -e /usr/include/openssl/ssl.h ]] || need+=(libssl-dev)
if (( ${#need[@]} )); then
  echo "> apt-get install -y ${need[*]}"
  apt-get install -y --no-install-recommends "${need[@]}"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/archives/partial"
K=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$K] http://deb.debian.org/debian bookworm-backports main" > "$WORK/sources.list"
A=(-o Dir::Etc::SourceList="$WORK/sources.list" -o Dir::Etc::SourceParts=/nonexistent
   -o Dir::State::Lists="$WORK/lists" -o Dir::Cache="$WORK" -o Dir::Cache::archives="$WORK/archives"
   -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${A[@]}" -qq update
(cd "$WORK" && apt-get "${A[@]}" -qq download linux-source-6.12)
dpkg-deb --fsys-tarfile "$WORK"/linux-source-6.12_*.deb \
  | tar -x -O --wildcards './usr/src/linux-source-6.12.tar.xz' | tar -xJ -C "$WORK"
cd "$WORK/linux-source-6.12"
M=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
make "${M[@]}" KCONFIG_ALLCONFIG="$HERE/arm64-64k.config" allnoconfig >/dev/null
for opt in CONFIG_ARM64_64K_PAGES CONFIG_USERFAULTFD CONFIG_BLK_DEV_INITRD CONFIG_DEVTMPFS; do
  grep -q "^$opt=y" .config || { echo "$opt is not set in the generated .config" >&2; exit 1; }
done
make "${M[@]}" -j"$(($(nproc) + 1))" Image >/dev/null
mkdir -p "$(dirname "$OUT")"
cp arch/arm64/boot/Image "$OUT"
echo "built $OUT"
