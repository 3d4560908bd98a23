#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the C driver's nd_btt.ko from the cached kernel source's
# drivers/nvdimm/btt.c with patches applied, out of tree against the cached
# guest kernel of the given flavour, so a guest can load it in place of the
# stock nd_btt.ko:
#   --fixed   the fixes in scripts/patches/nd_btt/ (for the nvdimm list) first;
#   PATCH...  then these, in order (test-only changes, such as
#             tools/testing/nvdimm-ndctl/nd_btt-test-read-delay.patch).
# With neither, the stock btt.c is built. Cached under $BTT_CACHE/kernel/,
# keyed by the kernel build and the patches' contents. Prints the path of the
# module.
#
# Usage: scripts/build-nd-btt.sh [debug|kasan|plain] [--fixed] [PATCH...]
. "$(dirname "$0")/lib.sh"

flavour=debug fixes=() extra=()
for a in "$@"; do
	case $a in
	debug | kasan | plain) flavour=$a ;;
	--fixed)
		fixes=("$BTT_TOP"/scripts/patches/nd_btt/*.patch)
		[ -f "${fixes[0]}" ] || die "no patches in scripts/patches/nd_btt"
		;;
	-*) die "unknown option '$a' (--fixed)" ;;
	*)
		[ -f "$a" ] || die "no patch $a"
		extra+=("$(realpath "$a")")
		;;
	esac
done
# The fixes first, wherever --fixed stands.
patches=("${fixes[@]}" "${extra[@]}")

kdir=$("$BTT_TOP/scripts/build-kernel.sh" "$flavour") || die "no $flavour kernel (scripts/build-kernel.sh $flavour failed)"
ksrc=$(kernel_src_dir)
key=stock
[ "${#patches[@]}" = 0 ] || key=$(cat "${patches[@]}" | sha256sum | cut -c1-16)
dir=$BTT_CACHE/kernel/nd-btt-$(basename "$kdir")-$key
src=$dir/src/drivers/nvdimm

if [ -f "$dir/.built" ] && [ "$dir/.built" -nt "$kdir/.built" ]; then
	echo "$src/nd_btt.ko"
	exit 0
fi

log "building nd_btt.ko ($flavour) with ${#patches[@]} patch(es) applied in $dir"
rm -rf "$dir"
mkdir -p "$src"
cp -p "$ksrc/drivers/nvdimm/btt.c" "$ksrc/drivers/nvdimm/btt.h" "$src/"
for p in "${patches[@]}"; do
	patch -s -p1 -d "$dir/src" <"$p" >"$dir/patch.log" 2>&1 ||
		die "$(basename "$p") does not apply to $(basename "$ksrc")'s btt.c (after the ones before it): $(head -3 "$dir/patch.log")"
done
# btt.c's other headers ("nd.h" and what it includes) come from the tree.
cat >"$src/Kbuild" <<KBUILD
obj-m := nd_btt.o
nd_btt-y := btt.o
ccflags-y := -I$ksrc/drivers/nvdimm
KBUILD
if ! make -C "$kdir" M="$src" LLVM=$LLVM_SUFFIX RUST_LIB_SRC="$(rust_src_dir)" \
	-j"$(nproc)" modules >"$dir/build.log" 2>&1; then
	grep -E -B2 -A8 'error:|Error [0-9]' "$dir/build.log" | head -40 >&2 || tail -30 "$dir/build.log" >&2
	die "nd_btt.ko build failed (full log: $dir/build.log)"
fi
[ -f "$src/nd_btt.ko" ] || die "the build left no nd_btt.ko (log: $dir/build.log)"
touch "$dir/.built"
echo "$src/nd_btt.ko"
