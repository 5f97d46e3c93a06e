# Shared by packaging/deb/build.sh and packaging/dist/build.sh (sourced, not run):
# the release build, the version, man pages and completions. docs/packaging.md.

SWIFT=${SWIFT:-swift}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RELEASE="$ROOT/.build/release"

die() {
    echo "packaging: $*" >&2
    exit 1
}

# release_build [EXTRA SWIFT BUILD ARGUMENTS...] DESTINATION PRODUCT...
# Builds (or relinks) in release mode with Swift's runtime linked in and copies the named
# products to DESTINATION, under one lock: `make -j deb dist` relinks the CLI two ways, and
# each must copy the binary it linked, not the other one's.
release_build() {
    extra=""
    while [ "$#" -gt 0 ] && [ "${1#-}" != "$1" ]; do
        extra="$extra $1"
        shift
    done
    destination=$1
    shift
    mkdir -p "$ROOT/.build" "$destination"
    (
        flock 9
        # shellcheck disable=SC2086
        (cd "$ROOT" && $SWIFT build -c release --static-swift-stdlib $extra) >&2 || exit 1
        for product in "$@"; do
            cp "$RELEASE/$product" "$destination/$product" || exit 1
        done
    ) 9>"$ROOT/.build/packaging.lock" || die "release build failed"
}

# needed BINARY: the shared libraries BINARY asks for (ELF NEEDED), one a line.
needed() {
    readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

# program_version BINARY: what `BINARY --version` prints (Sources/BurnlinkProtocol/Version.swift).
program_version() {
    version=$("$1" --version) || die "$1 --version failed"
    printf '%s\n' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([.~+][0-9A-Za-z.~+]*)?$' ||
        die "$1 --version printed '$version', not a version"
    printf '%s\n' "$version"
}

# The date of the commit built (for man pages, the Debian changelog and file times, so the
# same commit gives the same files), or now outside a git checkout.
source_epoch() {
    if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
        echo "$SOURCE_DATE_EPOCH"
    else
        git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s
    fi
}

# The generate-manual tool of swift-argument-parser's plugin. `swift package generate-manual
# --help` builds only the tool (not the package) when it is missing.
manual_tool() {
    tool=$(ls -t "$ROOT"/.build/*-linux-gnu/release/generate-manual-tool \
        "$ROOT"/.build/*-linux-gnu/debug/generate-manual-tool 2>/dev/null | head -n 1)
    if [ -z "$tool" ]; then
        (cd "$ROOT" && $SWIFT package generate-manual --help) >/dev/null || die "cannot build generate-manual"
        tool=$(ls -t "$ROOT"/.build/*-linux-gnu/release/generate-manual-tool \
            "$ROOT"/.build/*-linux-gnu/debug/generate-manual-tool 2>/dev/null | head -n 1)
    fi
    [ -n "$tool" ] || die "no generate-manual tool under .build"
    echo "$tool"
}

# man_page BINARY DIRECTORY: writes DIRECTORY/<name>.1 from the binary's own help (scratch
# files go to the caller's $work). The generator keeps the blank lines between paragraphs of
# a discussion, which mdoc warns about (and lintian reports): each becomes the paragraph macro.
man_page() {
    day=$(date -u -d "@$(source_epoch)" +%Y-%m-%d)
    mkdir -p "$work/generated-man"
    "$(manual_tool)" "$1" --date "$day" --authors "The burnlink authors" \
        --output-directory "$work/generated-man" >/dev/null || die "generate-manual failed for $1"
    page="$(basename "$1").1"
    [ -s "$work/generated-man/$page" ] || die "no man page for $1"
    mkdir -p "$2"
    sed 's/^$/.Pp/' "$work/generated-man/$page" >"$2/$page"
}

# completions BINARY BASH ZSH FISH: the three completion scripts, from the binary.
completions() {
    mkdir -p "$(dirname "$2")" "$(dirname "$3")" "$(dirname "$4")"
    "$1" --generate-completion-script bash >"$2" || die "$1: no bash completion"
    "$1" --generate-completion-script zsh >"$3" || die "$1: no zsh completion"
    "$1" --generate-completion-script fish >"$4" || die "$1: no fish completion"
}

# Gives every file under DIRECTORY the source date, so the same commit gives the same archive.
clamp_times() {
    find "$1" -exec touch -h -d "@$(source_epoch)" {} +
}
