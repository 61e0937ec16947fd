#!/bin/sh
# Fetches and unpacks Debian's protobuf-c source package, at the version of the
# installed libprotobuf-c-dev, so the MinGW and fuzz builds compile the same
# runtime the native build links. Debian ships no MinGW build of protobuf-c.
# Our own patches in scripts/patches/protobuf-c/*.patch are applied on top.
#   usage: fetch-protobuf-c.sh VERSION DESTDIR
set -eu
ver=${1:?version}
dest=${2:?destdir}
[ -n "$ver" ] || { echo "fetch-protobuf-c: libprotobuf-c-dev is not installed (run scripts/bootstrap.sh)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "  FETCH protobuf-c $ver (Debian source package)"
if ! apt-get source -qq --download-only "protobuf-c=$ver-"'*' >/dev/null 2>&1 &&
   ! apt-get source -qq --download-only protobuf-c >/dev/null 2>&1; then
	echo "fetch-protobuf-c: 'apt-get source protobuf-c' failed; deb-src must be enabled (scripts/bootstrap.sh does it)" >&2
	exit 1
fi
orig=$(ls protobuf-c_"$ver".orig.tar.* 2>/dev/null | head -n 1)
[ -n "$orig" ] || { echo "fetch-protobuf-c: no protobuf-c_$ver.orig tarball was downloaded (version mismatch?)" >&2; exit 1; }
tar xf "$orig"
src=$(find . -maxdepth 1 -type d -name 'protobuf-c-*' | head -n 1)
[ -f "$src/protobuf-c/protobuf-c.c" ] || { echo "fetch-protobuf-c: unexpected source layout" >&2; exit 1; }
for p in "$here"/patches/protobuf-c/*.patch; do
	[ -f "$p" ] || continue
	echo "  PATCH $(basename "$p")"
	patch -s -d "$src" -p1 <"$p"
done
rm -rf "$dest/protobuf-c-$ver"
mv "$src" "$dest/protobuf-c-$ver"
touch "$dest/protobuf-c-$ver/.fetched"
