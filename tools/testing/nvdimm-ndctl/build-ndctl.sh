#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fetches ndctl's Debian source package (upstream tarball only) through a private
# apt configuration with deb-src lines for trixie, builds ndctl and daxctl from it
# with meson, and stages them with the test scripts the BTT tests need:
#
#   $BTT_CACHE/ndctl/<version>/stage/opt/ndctl/{bin,lib,test}
#
# The ndctl tests are written against the ndctl of the same release, so the guest
# runs this ndctl, not the host's older one (bookworm's 76.1, whose upstream
# tarball the archive no longer serves). Cached per version; prints the stage
# directory on stdout.
#
# Usage: tools/testing/nvdimm-ndctl/build-ndctl.sh
# Environment: NDCTL_VERSION=<debian version> picks one (default: the newest).
. "$(dirname "$0")/../../../scripts/lib.sh"

# Host packages: ndctl's build dependencies (docs, systemd, libtracefs and the
# CXL tool left out) and the tools the guest-side tests call.
NDCTL_BUILD_PKGS=(meson ninja-build pkg-config gcc libkmod-dev libudev-dev uuid-dev
	libjson-c-dev libiniparser-dev libkeyutils-dev)
NDCTL_GUEST_PKGS=(bash jq xxd bsdextrautils e2fsprogs kmod diffutils libc-bin)

missing=()
for p in "${NDCTL_BUILD_PKGS[@]}" "${NDCTL_GUEST_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing host packages for the ndctl tests: ${missing[*]}"
	if [ -z "$(find /var/lib/apt/lists -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
		apt-get update -q >/dev/null || die "apt-get update failed"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed for: ${missing[*]}"
fi

# A private apt state of its own for source indices, so the binary lists of
# scripts/toolchain.sh (in $APT_DIR) are left as they are.
SRC_APT_DIR=$BTT_CACHE/apt-src
src_apt() {
	APT_DIR=$SRC_APT_DIR private_apt "$@"
}
mkdir -p "$SRC_APT_DIR/lists/partial" "$SRC_APT_DIR/cache/archives/partial"
touch "$SRC_APT_DIR/empty-status"
archive=$(debian_archive) || exit 1
cat >"$SRC_APT_DIR/sources.list.new" <<EOS
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive trixie main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive trixie-backports main
EOS
if ! cmp -s "$SRC_APT_DIR/sources.list.new" "$SRC_APT_DIR/sources.list"; then
	mv "$SRC_APT_DIR/sources.list.new" "$SRC_APT_DIR/sources.list"
	rm -f "$SRC_APT_DIR/lists/"*Sources*
else
	rm -f "$SRC_APT_DIR/sources.list.new"
fi

version=${NDCTL_VERSION:-}
if [ -z "$version" ]; then
	if [ -z "$(find "$SRC_APT_DIR/lists" -name '*Sources*' -mmin -1440 2>/dev/null | head -1)" ]; then
		log "updating the private apt source lists (trixie, trixie-backports)"
		src_apt apt-get update -q >/dev/null || die "private apt-get update (deb-src) failed"
	fi
	version=$(src_apt apt-cache showsrc ndctl 2>/dev/null | awk '/^Version:/ {print $2}' | sort -rV | head -1)
	[ -n "$version" ] || die "no ndctl source package in the private deb-src lists"
fi
upstream=${version%-*}
top=$BTT_CACHE/ndctl/$version
stage=$top/stage
if [ -f "$top/.built" ]; then
	echo "$stage"
	exit 0
fi

srcdir=$SRC_DIR/ndctl-$upstream
if [ ! -f "$srcdir/.unpacked" ]; then
	log "fetching ndctl $version (source package, upstream tarball)"
	dl=$(mktemp -d)
	# --tar-only: the .dsc and Debian patches are not needed (and not always served).
	(cd "$dl" && src_apt apt-get source --download-only --tar-only -q "ndctl=$version" >/dev/null) ||
		{ rm -rf "$dl"; die "could not download the ndctl $version source package"; }
	tarball=$(ls "$dl"/ndctl_"$upstream".orig.tar.* 2>/dev/null | head -1)
	[ -n "$tarball" ] || { rm -rf "$dl"; die "the ndctl $version source package has no upstream tarball"; }
	rm -rf "$srcdir"
	mkdir -p "$srcdir"
	tar -xf "$tarball" -C "$srcdir" --strip-components=1 || die "could not unpack $tarball"
	rm -rf "$dl"
	touch "$srcdir/.unpacked"
fi

log "building ndctl $upstream with meson in $top/build"
rm -rf "$top"
mkdir -p "$top"
logf=$top/build.log
# keyutils stays on: ndctl 81 does not compile without it (dimm.c calls the
# two-argument ndctl_dimm_remove_key that only the keyutils build declares).
(cd "$srcdir" && meson setup "$top/build" -Dversion-tag="$upstream" -Ddocs=disabled \
	-Dasciidoctor=disabled -Dlibtracefs=disabled -Dsystemd=disabled -Dtest=disabled) >"$logf" 2>&1 || { tail -30 "$logf" >&2; die "meson setup failed (log: $logf)"; }
ninja -C "$top/build" ndctl/ndctl daxctl/daxctl >>"$logf" 2>&1 ||
	{ grep -E -A6 'error|FAILED' "$logf" | head -40 >&2; die "ndctl build failed (log: $logf)"; }

mkdir -p "$stage/opt/ndctl/bin" "$stage/opt/ndctl/lib" "$stage/opt/ndctl/test"
cp "$top/build/ndctl/ndctl" "$top/build/daxctl/daxctl" "$stage/opt/ndctl/bin/"
# The libraries of this build, under their sonames (the guest finds them with
# LD_LIBRARY_PATH; the guest's /usr/lib keeps the host's older libndctl).
for so in $(readelf -d "$top/build/ndctl/ndctl" "$top/build/daxctl/daxctl" |
	sed -n 's/.*(NEEDED).*\[\(lib\(nd\|dax\)ctl\.so\.[0-9]*\)\]/\1/p' | sort -u); do
	cp -L "$(find "$top/build" -name "$so" -print -quit)" "$stage/opt/ndctl/lib/$so" || die "no $so in the ndctl build"
done
for f in common btt-check.sh btt-errors.sh btt-pad-compat.sh btt-pad-compat.xxd sector-mode.sh; do
	[ -f "$srcdir/test/$f" ] || die "ndctl $upstream has no test/$f"
	cp "$srcdir/test/$f" "$stage/opt/ndctl/test/"
done
echo "$version" >"$stage/opt/ndctl/VERSION"
"$stage/opt/ndctl/bin/ndctl" --version >/dev/null 2>&1 ||
	LD_LIBRARY_PATH=$stage/opt/ndctl/lib "$stage/opt/ndctl/bin/ndctl" --version >/dev/null ||
	die "the built ndctl does not run"
touch "$top/.built"
echo "$stage"
