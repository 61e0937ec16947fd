#!/bin/sh
# Installs everything dobroker needs to build and test on Debian 12 (bookworm).
# Run as root (or via sudo). Idempotent: when every package is present and the
# source index is enabled it prints nothing and exits 0.
set -eu

PKGS="make gcc libc6-dev pkg-config dpkg-dev
gcc-mingw-w64-x86-64 mingw-w64-tools wine64
libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf python3
python3-pip python3-setuptools python3-wheel python3-mypy
libcriterion-dev clang libclang-rt-14-dev valgrind procps"

SRC_LIST=/etc/apt/sources.list.d/dobroker-src.sources

missing=""
for p in $PKGS; do
	# dpkg-query prints "install ok installed" for a present package.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

# Node.js and npm, for the Node package (bindings/node): Debian's nodejs and
# npm where there is no node; a node installed otherwise (with its own npm)
# is used as it is.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

# deb-src is needed because Debian ships no MinGW build of protobuf-c: the
# build compiles the runtime for Windows from Debian's own source package.
need_src=0
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
   ! grep -qs '^deb-src' /etc/apt/sources.list; then
	need_src=1
fi

[ -z "$missing" ] && [ "$need_src" = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo "$0" "$@"
	fi
	echo "bootstrap: must run as root to install:$missing" >&2
	exit 1
fi

if [ "$need_src" = 1 ]; then
	echo "bootstrap: enabling Debian source packages in $SRC_LIST"
	cat >"$SRC_LIST" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

echo "bootstrap: installing:${missing:- (none; refreshing source index)}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
[ -n "$missing" ] && apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "bootstrap: done"
