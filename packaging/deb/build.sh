#!/bin/sh
# Builds burnlink_<version>_amd64.deb (the CLI) and burnlink-server_<version>_amd64.deb (the
# server and its systemd unit) from the release build, into OUTPUT (default .build/packages).
# The version is what the built programs print (Sources/BurnlinkProtocol/Version.swift);
# Depends is computed by dpkg-shlibdeps. What goes where: docs/packaging.md.
set -eu
. "$(dirname "$0")/../dist/common.sh"

DEB="$ROOT/packaging/deb"
OUTPUT=${1:-$ROOT/.build/packages}
MAINTAINER=${DEB_MAINTAINER:-"burnlink maintainers <maintainers@users.noreply.r-seed-b4aeb171.example>"}
ARCH=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The binaries as `make release` links them: libsodium as a shared library, so Debian's
# security updates of libsodium23 reach them (the tarball of `make dist` links it statically).
release_build "$work/bin" burnlink burnlink-server
needed "$work/bin/burnlink" | grep -qx 'libsodium\.so\.[0-9]*' ||
    die "the release CLI does not link libsodium dynamically"
for program in burnlink burnlink-server; do
    if needed "$work/bin/$program" | grep -q '^libswift'; then
        die "$program links the Swift runtime dynamically: build with --static-swift-stdlib"
    fi
done
VERSION=$(program_version "$work/bin/burnlink")
[ "$(program_version "$work/bin/burnlink-server")" = "$VERSION" ] || die "the two programs disagree on the version"

EPOCH=$(source_epoch)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

# The Debian changelog of this native package: one entry per built version, pointing at
# CHANGELOG.md, which says what changed.
debian_changelog() {
    cat <<END
$1 ($VERSION) unstable; urgency=medium

  * burnlink $VERSION, built from commit $COMMIT. What changed is in
    CHANGELOG.md of the source tree.

 -- $MAINTAINER  $(LC_ALL=C date -u -R -d "@$EPOCH")
END
}

# copyright: burnlink's own licence, then the Swift packages linked into the programs (their
# licences as their checkouts state them) and the Swift runtime.
copyright() {
    cat "$DEB/copyright"
    for checkout in "$ROOT"/.build/checkouts/*; do
        name=$(basename "$checkout")
        licence_file=$(ls "$checkout" | grep -E '^(LICENSE|LICENCE|COPYING)' | head -n 1)
        [ -n "$licence_file" ] || die "$name has no licence file"
        printf '\nFiles: (statically linked) %s\n' "$name"
        if head -n 5 "$checkout/$licence_file" | grep -q 'Apache License'; then
            printf 'Copyright: the %s authors, see its LICENSE file\nLicense: Apache-2.0\n' "$name"
        elif grep -q 'Permission is hereby granted, free of charge' "$checkout/$licence_file"; then
            holder=$(grep -m 1 -i '^copyright' "$checkout/$licence_file" | sed 's/^[Cc]opyright *\((c)\|(C)\)\? *//')
            printf 'Copyright: %s\nLicense: Expat\n' "$holder"
        else
            die "$name: licence not recognised ($licence_file)"
        fi
        # A package's NOTICE.txt names the third-party code it carries (BoringSSL, zlib...).
        if [ -f "$checkout/NOTICE.txt" ]; then
            printf 'Comment: its NOTICE.txt:\n'
            sed 's/[[:space:]]*$//; s/^$/./; s/^/ /' "$checkout/NOTICE.txt"
        fi
    done
    # swift-nio-extras carries a copy of zlib (HTTP decompression in AsyncHTTPClient), which
    # the CLI links: its licence is the one in that copy's header.
    zlib_header="$ROOT/.build/checkouts/swift-nio-extras/Sources/CNIOExtrasZlib/include/nioextras-zlib.h"
    if [ -f "$zlib_header" ]; then
        printf '\nFiles: (statically linked) zlib %s, copied into swift-nio-extras\n' \
            "$(cat "$ROOT/.build/checkouts/swift-nio-extras/Sources/CNIOExtrasZlib/vendored-zlib.version" 2>/dev/null)"
        printf 'Copyright: %s\nLicense: Zlib\n' "$(grep -m 1 -o 'Copyright (C) .*' "$zlib_header" | sed 's/Copyright (C) //')"
        sed -n '/This software is provided/,/This notice may not be removed/p' "$zlib_header" |
            sed 's/^[[:space:]]*//; s/^$/./; s/^/ /'
    fi
    cat <<'END'

License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0. The Swift runtime adds the Runtime Library
 Exception: https://swift.org/LICENSE.txt
END
}

# stage PACKAGE: the common part of a package tree (documentation, control files).
stage() {
    tree="$work/$1"
    install -d "$tree/DEBIAN" "$tree/usr/bin" "$tree/usr/share/doc/$1" "$tree/usr/share/man/man1"
    copyright >"$tree/usr/share/doc/$1/copyright"
    debian_changelog "$1" | gzip -9n >"$tree/usr/share/doc/$1/changelog.gz"
    if [ -f "$DEB/$1.lintian-overrides" ]; then
        install -d "$tree/usr/share/lintian/overrides"
        install -m 0644 "$DEB/$1.lintian-overrides" "$tree/usr/share/lintian/overrides/$1"
    fi
}

# install_program PACKAGE NAME: the stripped binary, its man page and its completions.
install_program() {
    tree="$work/$1"
    install -m 0755 "$work/bin/$2" "$tree/usr/bin/$2"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$tree/usr/bin/$2"
    man_page "$work/bin/$2" "$work/man"
    gzip -9n <"$work/man/$2.1" >"$tree/usr/share/man/man1/$2.1.gz"
    completions "$work/bin/$2" "$tree/usr/share/bash-completion/completions/$2" \
        "$tree/usr/share/zsh/vendor-completions/_$2" "$tree/usr/share/fish/vendor_completions.d/$2.fish"
    # bash-completion sources the file: a #! line would say it is a script to run.
    sed -i '1{/^#!/d}' "$tree/usr/share/bash-completion/completions/$2"
}

# finish PACKAGE: Depends from dpkg-shlibdeps, the control file, md5sums, the .deb.
finish() {
    package=$1
    tree="$work/$package"
    # dpkg-shlibdeps wants a source tree: a debian/control naming the package is enough.
    scratch="$work/shlibdeps-$package"
    install -d "$scratch/debian"
    printf 'Source: burnlink\n\nPackage: %s\nArchitecture: any\n' "$package" >"$scratch/debian/control"
    shlibs=$(cd "$scratch" && dpkg-shlibdeps -O -e "$tree/usr/bin/$package" 2>"$work/shlibdeps.log") ||
        { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed for $package"; }
    depends=$(printf '%s\n' "$shlibs" | sed -n 's/^shlibs:Depends=//p')
    [ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for $package"
    extra=$(sed -n 's/^Extra-Depends: *//p' "$DEB/$package.control")
    [ -z "$extra" ] || depends="$depends, $extra"

    find "$tree" -path "$tree/DEBIAN" -prune -o -type d -exec chmod 0755 {} + -o -type f ! -perm -u+x -exec chmod 0644 {} +
    size=$(du -k -s --exclude=DEBIAN "$tree" | cut -f 1)
    {
        printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: %s\nDepends: %s\n' \
            "$package" "$VERSION" "$ARCH" "$MAINTAINER" "$size" "$depends"
        grep -v '^Extra-Depends:' "$DEB/$package.control"
    } >"$tree/DEBIAN/control"
    (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
        xargs md5sum) >"$tree/DEBIAN/md5sums"
    chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/md5sums"
    clamp_times "$tree"
    mkdir -p "$OUTPUT"
    SOURCE_DATE_EPOCH=$EPOCH dpkg-deb --root-owner-group -Zxz --build "$tree" \
        "$OUTPUT/${package}_${VERSION}_${ARCH}.deb" >/dev/null
    echo "$OUTPUT/${package}_${VERSION}_${ARCH}.deb"
}

# burnlink: the CLI.
stage burnlink
install_program burnlink burnlink
finish burnlink

# burnlink-server: the server, its pages, its unit and settings, its maintainer scripts.
stage burnlink-server
install_program burnlink-server burnlink-server
tree="$work/burnlink-server"
install -d "$tree/usr/share/burnlink/web" "$tree/lib/systemd/system" "$tree/etc/default"
install -m 0644 "$ROOT"/Web/*.html "$ROOT"/Web/*.js "$ROOT"/Web/*.css "$ROOT"/Web/*.svg "$tree/usr/share/burnlink/web/"
install -m 0644 "$ROOT/packaging/burnlink-server.service" "$tree/lib/systemd/system/burnlink-server.service"
install -m 0644 "$ROOT/packaging/burnlink-server.default" "$tree/etc/default/burnlink-server"
echo /etc/default/burnlink-server >"$tree/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$DEB/burnlink-server.$script" "$tree/DEBIAN/$script"
done
finish burnlink-server
