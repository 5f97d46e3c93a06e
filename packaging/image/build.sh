#!/usr/bin/env bash
# Builds the burnlink-server container image from scratch, with nothing pulled from a
# registry: the release server binary (a stripped copy), the shared libraries `ldd` says it
# loads (and the loader), the web pages, tweetnacl-js, the CA certificates, a passwd/group
# with the non-root user `burnlink` (10001), and /var/lib/burnlink as the data volume.
#
#   packaging/image/build.sh [--server BIN] [--tag NAME:TAG] [--archive FILE]
#
# --server   the server binary (default .build/release/burnlink-server)
# --tag      the image name (default localhost/burnlink-server:<version>, also tagged :latest)
# --archive  also write the image to FILE as an OCI archive (podman load -i FILE)
#
# The version is the one the binary prints with --version, else the one written in
# Sources/BurnlinkProtocol/Version.swift. Labels and annotations say version, revision,
# licence and, when IMAGE_SOURCE is set or the repository has an `origin`, its source.
# Needs buildah, podman (and skopeo for --archive); runs as root (buildah mount).
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/../.." && pwd)
server="$root_dir/.build/release/burnlink-server"
tag=""
archive=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --archive) archive=$2; shift 2 ;;
    *) echo "usage: $0 [--server BIN] [--tag NAME:TAG] [--archive FILE]" >&2; exit 2 ;;
  esac
done

[ -x "$server" ] || { echo "image: $server is missing: make release first" >&2; exit 1; }
version=$("$server" --version 2>/dev/null || true)
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  version=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$root_dir/Sources/BurnlinkProtocol/Version.swift")
fi
[ -n "$version" ] || { echo "image: cannot tell the version" >&2; exit 1; }
tags=("$tag")
[ -n "$tag" ] || tags=("localhost/burnlink-server:$version" "localhost/burnlink-server:latest")
tweetnacl=/usr/share/nodejs/tweetnacl/nacl-fast.min.js
cacerts=/etc/ssl/certs/ca-certificates.crt
for file in "$tweetnacl" "$cacerts"; do
  [ -f "$file" ] || { echo "image: $file is missing (apt-get install node-tweetnacl ca-certificates)" >&2; exit 1; }
done

uid=10001
stage=$(mktemp -d /tmp/burnlink-image.XXXXXX)
container=""
cleanup() {
  if [ -n "$container" ]; then buildah rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$stage"
}
trap cleanup EXIT

rootfs="$stage/rootfs"
mkdir -p "$rootfs/usr/bin" "$rootfs/etc/ssl/certs" "$rootfs/usr/share/burnlink/web" \
  "$rootfs/usr/share/nodejs/tweetnacl" "$rootfs/usr/share/doc/burnlink-server" "$rootfs/var/lib/burnlink"

# The server, stripped; the web pages where it looks (<dir of binary>/../share/burnlink/web),
# the same files `make install-web` installs; tweetnacl-js at the server's default path.
strip -o "$rootfs/usr/bin/burnlink-server" "$server"
install -m 0644 "$root_dir"/Web/*.html "$root_dir"/Web/*.js "$root_dir"/Web/*.css "$root_dir"/Web/*.svg \
  "$rootfs/usr/share/burnlink/web/"
install -m 0644 "$tweetnacl" "$rootfs/usr/share/nodejs/tweetnacl/"
install -m 0644 "$cacerts" "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -m 0644 "$root_dir/LICENSE" "$rootfs/usr/share/doc/burnlink-server/LICENSE"

# Every library the binary loads, at the path ldd resolves it to (symlinks followed), and
# the loader named in its ELF header. The Debian copyright file of each, for the licences.
copy_file() {
  local path=$1
  mkdir -p "$rootfs$(dirname "$path")"
  cp -L "$path" "$rootfs$path"
  # dpkg knows a file under the path its package installed it at, which is not always the
  # path ldd or readlink gives (/lib or /usr/lib, a symlink or its target): try each.
  local real package="" candidate
  real=$(readlink -f "$path")
  for candidate in "$path" "$real" "$(dirname "$path")/$(basename "$real")"; do
    package=$(dpkg -S "$candidate" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
    [ -z "$package" ] || break
  done
  copy_copyright "$package"
}
copy_copyright() {
  if [ -n "$1" ] && [ -f "/usr/share/doc/$1/copyright" ]; then
    mkdir -p "$rootfs/usr/share/doc/$1"
    cp -L "/usr/share/doc/$1/copyright" "$rootfs/usr/share/doc/$1/copyright"
  fi
}
libraries=$(ldd "$server" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libraries" ] || { echo "image: ldd found no libraries in $server" >&2; exit 1; }
for library in $libraries; do copy_file "$library"; done
copy_copyright node-tweetnacl
copy_copyright ca-certificates   # the bundle is generated, so no package owns it

# Users: root and burnlink (no shell exists in the image); names and hosts from files/DNS.
printf 'root:x:0:0:root:/root:/nonexistent\nburnlink:x:%s:%s:burnlink-server:/var/lib/burnlink:/nonexistent\n' \
  "$uid" "$uid" > "$rootfs/etc/passwd"
printf 'root:x:0:\nburnlink:x:%s:\n' "$uid" > "$rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
chown "$uid:$uid" "$rootfs/var/lib/burnlink"
chmod 0700 "$rootfs/var/lib/burnlink"

revision=$(git -C "$root_dir" rev-parse HEAD 2>/dev/null || true)
source_url=${IMAGE_SOURCE:-$(git -C "$root_dir" remote get-url origin 2>/dev/null || true)}
labels=(
  org.opencontainers.image.title=burnlink-server
  "org.opencontainers.image.description=burnlink one-time secret server"
  org.opencontainers.image.version="$version"
  org.opencontainers.image.licenses=MIT
)
[ -z "$revision" ] || labels+=(org.opencontainers.image.revision="$revision")
[ -z "$source_url" ] || labels+=(org.opencontainers.image.source="$source_url")
label_args=()
for label in "${labels[@]}"; do label_args+=(--label "$label" --annotation "$label"); done

container=$(buildah from scratch)
mount=$(buildah mount "$container")
cp -a "$rootfs/." "$mount/"
buildah umount "$container" >/dev/null

buildah config \
  --os linux --arch amd64 \
  --user "$uid:$uid" \
  --workingdir /var/lib/burnlink \
  --env BURNLINK_HOST=0.0.0.0 \
  --env BURNLINK_PORT=8080 \
  --env BURNLINK_DATABASE=/var/lib/burnlink/burnlink.sqlite \
  --port 8080/tcp \
  --volume /var/lib/burnlink \
  --stop-signal SIGTERM \
  --created-by "packaging/image/build.sh" \
  --entrypoint '["/usr/bin/burnlink-server"]' \
  --cmd '[]' \
  "${label_args[@]}" \
  "$container"

# The image this name pointed at before, if any: removed below once no name is left on it.
previous=$(podman image inspect --format '{{.Id}}' "${tags[0]}" 2>/dev/null || true)
buildah commit --quiet --rm "$container" "${tags[0]}" >/dev/null
container=""
for extra in "${tags[@]:1}"; do buildah tag "${tags[0]}" "$extra"; done
if [ -n "$previous" ] && [ "$(podman image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true   # kept while a container still uses it
fi
echo "image: ${tags[*]}"

if [ -n "$archive" ]; then
  mkdir -p "$(dirname "$archive")"
  rm -f "$archive"
  name=${tags[0]#localhost/}
  skopeo copy --quiet "containers-storage:${tags[0]}" "oci-archive:$archive:$name"
  echo "image: $archive"
fi
