#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds btt_rs.ko against the cached guest kernel of the given flavour.
# Objects go to build/<flavour>/ (make's MO=), never into the source tree.
# Prints the path of the .ko on stdout.
#
# Usage: scripts/build-module.sh [debug|kasan|kcsan|plain] [extra make arguments, e.g. CLIPPY=1]
# BTT_KCSAN_CANARY=1 among them builds make kcsan's positive control (a planted
# data race in the C glue, see Kbuild) into build/<flavour>-canary/ instead, so
# that it never replaces the real module.
. "$(dirname "$0")/lib.sh"

flavour=${1:-debug}
case $flavour in debug | kasan | kcsan | plain) ;; *) die "unknown kernel flavour '$flavour' (debug, kasan, kcsan or plain)" ;; esac
shift || true

kdir=$("$BTT_TOP/scripts/build-kernel.sh" "$flavour") || die "no $flavour kernel (scripts/build-kernel.sh $flavour failed)"
[ -f "$kdir/Module.symvers" ] || die "$kdir has no Module.symvers: the kernel build did not finish"
command -v bindgen >/dev/null || die "bindgen not found (run scripts/toolchain.sh)"
rsrc=$(rust_src_dir)
[ -d "$rsrc" ] || die "rust-src missing at $rsrc (run scripts/toolchain.sh)"

out=$BTT_TOP/build/$flavour
for arg in "$@"; do
	[ "$arg" != BTT_KCSAN_CANARY=1 ] || out=$BTT_TOP/build/$flavour-canary
done
mkdir -p "$out"
logf=$out/build-module.log
log "building btt_rs.ko ($flavour) in $out"
if ! make -C "$kdir" M="$BTT_TOP" MO="$out" LLVM=$LLVM_SUFFIX RUST_LIB_SRC="$rsrc" \
	-j"$(nproc)" "$@" modules >"$logf" 2>&1; then
	grep -E -B2 -A12 'error(\[E[0-9]+\])?:|Error [0-9]|undefined' "$logf" | head -80 >&2 || tail -40 "$logf" >&2
	die "module build failed (full log: $logf)"
fi
if grep -q 'warning' "$logf"; then
	grep -A8 'warning' "$logf" | head -40 >&2
fi
ko=$out/btt_rs.ko
[ -f "$ko" ] || die "the build left no $ko (log: $logf)"
echo "$ko"
