# SPDX-License-Identifier: GPL-2.0
# Common settings for btt-rs scripts. Source it; do not run it.
#
# Everything that is downloaded or built lives under $BTT_CACHE (outside the
# repository), so later runs and CI on the same machine reuse it.

set -euo pipefail

BTT_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BTT_CACHE=${BTT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/btt-rs}

# The kernel the project targets: Debian's linux-source-7.3 from trixie-backports.
KERNEL_SERIES=7.3
KERNEL_PKG=linux-source-$KERNEL_SERIES
# LLVM 19 is the newest clang/libclang in bookworm; the kernel is built with LLVM=-19.
LLVM_SUFFIX=-19
LLVM_DIR=/usr/lib/llvm${LLVM_SUFFIX}

TOOLS_DIR=$BTT_CACHE/tools
APT_DIR=$BTT_CACHE/apt
SRC_DIR=$BTT_CACHE/src
GUEST_PKG_DIR=$BTT_CACHE/guest-pkgs
# QEMU 10.0 from bookworm-backports, unpacked by scripts/toolchain.sh.
QEMU10_DIR=$TOOLS_DIR/qemu-10

export LIBCLANG_PATH=$LLVM_DIR/lib
export PATH=$TOOLS_DIR/bin:$HOME/.cargo/bin:$PATH

# Prints a message and exits non-zero; every failure mode of the pipeline goes here.
die() {
	printf '\nbtt-rs: error: %s\n' "$*" >&2
	exit 1
}

# Every line carries the wall-clock time, so a log shows what each step took.
log() {
	printf 'btt-rs %(%T)T: %s\n' -1 "$*" >&2
}

# rustc's version as "1.95.0".
rustc_version() {
	rustc --version | awk '{print $2}'
}

rust_src_dir() {
	echo "$SRC_DIR/rust-src-$(rustc_version)/usr/lib/rustlib/src/rust/library"
}

kernel_src_dir() {
	local d
	d=$(cat "$SRC_DIR/linux.current" 2>/dev/null) || die "kernel source missing: run scripts/toolchain.sh"
	echo "$SRC_DIR/$d"
}

# apt-get / apt-cache (first argument) with a private configuration for newer
# suites: never touches the system's apt sources.
private_apt() {
	local tool=$1
	shift
	"$tool" -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o Dir::State::Status="$APT_DIR/empty-status" \
		-o APT::Default-Release= -o APT::Sandbox::User=root \
		"$@"
}

# The Debian archive this machine's apt already uses (the first URI of its
# sources naming suite bookworm), for the private apt configurations of newer
# suites; BTT_DEBIAN_ARCHIVE overrides it.
debian_archive() {
	local uri
	if [ -n "${BTT_DEBIAN_ARCHIVE:-}" ]; then echo "$BTT_DEBIAN_ARCHIVE"; return; fi
	uri=$(awk '/^URIs:/ { u = $2 } /^Suites:.*bookworm/ && u { print u; exit }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)
	[ -n "$uri" ] || die "no Debian archive for bookworm in this machine's apt sources; set BTT_DEBIAN_ARCHIVE"
	echo "$uri"
}
