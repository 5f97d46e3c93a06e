#!/bin/sh
# Builds burnlink-<version>-linux-x86_64.tar.gz and SHA256SUMS into OUTPUT (default
# .build/packages): the CLI with Swift's runtime and libsodium linked in, so it needs only
# the C library family, libstdc++, libgcc_s and zlib; its man page, completions, README and
# LICENSE. docs/packaging.md says how and why.
set -eu
. "$(dirname "$0")/common.sh"

OUTPUT=${1:-$ROOT/.build/packages}
MACHINE=$(uname -m)
LIMIT_BYTES=$((15 * 1024 * 1024))

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# SwiftPM links libsodium as its pkg-config file says (-L<libdir> -lsodium). A copy of that
# file whose libdir holds only the static archive Debian's libsodium-dev ships makes the linker
# take the archive: the CLI is relinked, nothing is compiled again (docs/packaging.md measures
# it), and the next `make release` or `make deb` relinks it with the shared library again.
pcdir=$(pkg-config --variable=pcfiledir libsodium) || die "pkg-config knows no libsodium (install libsodium-dev)"
libdir=$(pkg-config --variable=libdir libsodium)
[ -f "$libdir/libsodium.a" ] || die "$libdir/libsodium.a is missing (install libsodium-dev)"
static="$ROOT/.build/static-libsodium"
mkdir -p "$static"
ln -sf "$libdir/libsodium.a" "$static/libsodium.a"
sed "s|^libdir=.*|libdir=$static|" "$pcdir/libsodium.pc" >"$static/libsodium.pc"
PKG_CONFIG_PATH="$static"
export PKG_CONFIG_PATH
release_build --product=burnlink "$work/bin" burnlink
if needed "$work/bin/burnlink" | grep -q 'libsodium\|libswift'; then
    die "the relinked CLI still asks for: $(needed "$work/bin/burnlink" | tr '\n' ' ')"
fi
VERSION=$(program_version "$work/bin/burnlink")

name="burnlink-$VERSION-linux-$MACHINE"
tree="$work/$name"
install -d "$tree/bin" "$tree/share/man/man1"
install -m 0755 "$work/bin/burnlink" "$tree/bin/burnlink"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$tree/bin/burnlink"
man_page "$work/bin/burnlink" "$tree/share/man/man1"
completions "$work/bin/burnlink" "$tree/share/bash-completion/completions/burnlink" \
    "$tree/share/zsh/site-functions/_burnlink" "$tree/share/fish/vendor_completions.d/burnlink.fish"
install -m 0644 "$ROOT/README.md" "$ROOT/LICENSE" "$tree/"
find "$tree" -type d -exec chmod 0755 {} + -o -type f ! -perm -u+x -exec chmod 0644 {} +
clamp_times "$tree"

mkdir -p "$OUTPUT"
tarball="$name.tar.gz"
tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --format=gnu -cf - "$name" |
    gzip -9n >"$OUTPUT/$tarball"
size=$(stat -c %s "$OUTPUT/$tarball")
[ "$size" -lt "$LIMIT_BYTES" ] || die "$tarball is $size bytes, over 15 MiB"
(cd "$OUTPUT" && sha256sum "$tarball" >SHA256SUMS)
echo "$OUTPUT/$tarball"
echo "$OUTPUT/SHA256SUMS"
