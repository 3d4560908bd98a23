#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs everything the build needs, from package registries only:
#   - bookworm packages (clang/lld/llvm 19, QEMU, busybox, ndctl, fio, build deps)
#   - from trixie-backports through a private apt config: linux-source-7.3 and
#     the rust-src whose version equals `rustc --version`
#   - from bookworm-backports through its own private apt config: QEMU 10.0
#     (qemu-system-x86 and the seabios it wants), unpacked into $BTT_CACHE/tools;
#     bookworm's QEMU 7.2 stays installed as the fallback (BTT_QEMU=7.2)
#   - bindgen-cli from the Rust crate registry
# Idempotent: each step leaves a stamp under $BTT_CACHE and is skipped next time.
. "$(dirname "$0")/lib.sh"

HOST_PKGS=(
	clang-19 lld-19 llvm-19 libclang1-19 libclang-19-dev
	make bc flex bison libelf-dev libssl-dev cpio kmod xz-utils zstd python3
	qemu-system-x86 busybox-static ndctl daxctl fio
	e2fsprogs file
)

step_host_packages() {
	local missing=()
	for p in "${HOST_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing host packages: ${missing[*]}"
	if [ ! -e /var/lib/apt/lists/lock ] || [ -z "$(find /var/lib/apt/lists -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
		apt-get update -q >/dev/null || die "apt-get update failed"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install failed for: ${missing[*]}"
}

step_private_apt() {
	local archive
	archive=$(debian_archive) || exit 1
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	touch "$APT_DIR/empty-status"
	cat >"$APT_DIR/sources.list" <<EOS
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive trixie-backports main
EOS
	if [ -z "$(find "$APT_DIR/lists" -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
		log "updating private apt lists (trixie, trixie-backports)"
		private_apt apt-get update -q >/dev/null || die "private apt update for trixie-backports failed"
	fi
}

# All versions of a package in the private lists, newest first.
private_versions() {
	private_apt apt-cache madison "$1" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
		sort -u | sort -rV
}

private_fetch() { # pkg=version destdir
	local spec=$1 dest=$2 tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && private_apt apt-get download -q "$spec" >/dev/null) || die "could not download $spec"
	mkdir -p "$dest"
	dpkg-deb -x "$tmp"/*.deb "$dest" || die "could not unpack $spec"
	rm -rf "$tmp"
}

step_kernel_source() {
	local ver dir
	ver=$(private_versions "$KERNEL_PKG" | head -1)
	[ -n "$ver" ] || die "$KERNEL_PKG is not in trixie-backports; cannot get the kernel source"
	dir=linux-$ver
	if [ -f "$SRC_DIR/$dir/.unpacked" ]; then
		echo "$dir" >"$SRC_DIR/linux.current"
		return 0
	fi
	log "fetching $KERNEL_PKG $ver"
	rm -rf "$SRC_DIR/$dir" "$SRC_DIR/$dir.deb"
	private_fetch "$KERNEL_PKG=$ver" "$SRC_DIR/$dir.deb"
	mkdir -p "$SRC_DIR/$dir"
	tar -xf "$SRC_DIR/$dir.deb/usr/src/$KERNEL_PKG.tar.xz" -C "$SRC_DIR/$dir" --strip-components=1 ||
		die "could not unpack the kernel tarball"
	rm -rf "$SRC_DIR/$dir.deb"
	touch "$SRC_DIR/$dir/.unpacked"
	echo "$dir" >"$SRC_DIR/linux.current"
}

step_rust_src() {
	local want dir versions match
	want=$(rustc_version)
	dir=$SRC_DIR/rust-src-$want
	[ -f "$dir/.unpacked" ] && return 0
	# All versions the private suites carry; pick the one whose upstream part is rustc's.
	versions=$(private_versions rust-src)
	match=$(printf '%s\n' $versions | grep -E "^${want//./\\.}\+" | head -1 || true)
	[ -n "$match" ] || die "no rust-src package matches rustc $want (available: $(echo $versions))"
	log "fetching rust-src $match for rustc $want"
	rm -rf "$dir"
	private_fetch "rust-src=$match" "$dir"
	[ -d "$dir/usr/lib/rustlib/src/rust/library/core" ] || die "rust-src $match has no library/core"
	touch "$dir/.unpacked"
}

# QEMU 10.0 from Debian's archive (bookworm-backports), built for bookworm: its
# libraries are those bookworm's QEMU 7.2 already pulled in. Fetched with a
# private apt config of its own (the trixie one above stays as it is) and
# unpacked with dpkg-deb -x; scripts/qemu-run.sh runs it with -L for its firmware.
QEMU10_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
step_qemu10() {
	local d=$APT_DIR/bookworm-backports tmp p ver archive
	[ -f "$QEMU10_DIR/.unpacked" ] && return 0
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	touch "$d/empty-status"
	archive=$(debian_archive) || exit 1
	cat >"$d/sources.list" <<EOS
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive bookworm-backports main
EOS
	if [ -z "$(find "$d/lists" -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
		log "updating private apt lists (bookworm-backports)"
		if ! APT_DIR=$d private_apt apt-get update -q >/dev/null; then
			log "warning: bookworm-backports unreachable; guests fall back to bookworm's QEMU 7.2"
			return 0
		fi
	fi
	tmp=$(mktemp -d)
	for p in "${QEMU10_PKGS[@]}"; do
		# Only backports versions: the archive's bookworm copies are 7.2 and 1.16.2.
		ver=$(APT_DIR=$d private_apt apt-cache madison "$p" 2>/dev/null |
			awk -F'|' '$3 ~ /bookworm-backports/ {gsub(/ /,"",$2); print $2}' | sort -rV | head -1)
		if [ -z "$ver" ] || ! (cd "$tmp" && APT_DIR=$d private_apt apt-get download -q "$p=$ver" >/dev/null 2>&1); then
			log "warning: could not fetch $p from bookworm-backports; guests fall back to bookworm's QEMU 7.2"
			rm -rf "$tmp"
			return 0
		fi
	done
	log "unpacking QEMU $(dpkg-deb -f "$tmp"/qemu-system-x86_*.deb Version) into $QEMU10_DIR"
	rm -rf "$QEMU10_DIR"
	mkdir -p "$QEMU10_DIR"
	for p in "$tmp"/*.deb; do dpkg-deb -x "$p" "$QEMU10_DIR" || die "could not unpack $p"; done
	rm -rf "$tmp"
	"$QEMU10_DIR/usr/bin/qemu-system-x86_64" --version >/dev/null ||
		die "QEMU 10 from bookworm-backports does not run here (try BTT_QEMU=7.2)"
	touch "$QEMU10_DIR/.unpacked"
}

step_bindgen() {
	if [ -x "$TOOLS_DIR/bin/bindgen" ]; then
		return 0
	fi
	log "building bindgen-cli from the Rust crate registry (about 2 minutes)"
	cargo install -q bindgen-cli --version '^0.72' --locked --root "$TOOLS_DIR" ||
		die "cargo install bindgen-cli failed"
}

step_rustavailable() {
	local ksrc stamp
	ksrc=$(kernel_src_dir)
	stamp=$BTT_CACHE/rustavailable-$(rustc_version)-$(basename "$ksrc")
	[ -f "$stamp" ] && return 0
	make -s -C "$ksrc" LLVM=$LLVM_SUFFIX RUST_LIB_SRC="$(rust_src_dir)" rustavailable ||
		die "'make rustavailable' failed: the Rust toolchain cannot build this kernel"
	touch "$stamp"
}

mkdir -p "$BTT_CACHE" "$SRC_DIR" "$TOOLS_DIR"
command -v rustc >/dev/null || die "rustc not found (rustup toolchain expected)"
step_host_packages
step_private_apt
step_kernel_source
step_rust_src
step_qemu10
step_bindgen
step_rustavailable
log "toolchain ready: kernel $(basename "$(kernel_src_dir)"), rustc $(rustc_version), $(bindgen --version 2>/dev/null | head -1)"
