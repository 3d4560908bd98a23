#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the kernel's nvdimm unit-test modules (tools/testing/nvdimm: nfit_test.ko,
# nfit_test_iomap.ko and the libnvdimm, nd_pmem, nd_btt, dax, device_dax,
# dax_pmem and nfit modules relinked with --wrap hooks) out of tree against the
# cached guest kernel of the given flavour.
#
# Their Kbuild names sources as ../../../drivers/..., relative to M=, so objects
# would land in the shared kernel source tree: the build copies the four source
# directories it needs into its own tree under $BTT_CACHE/kernel/ and builds
# there. Cached, keyed like the kernel (nfit-test-<flavour>-<key>); a newer
# kernel build invalidates it. Prints the directory holding the .ko files.
#
# Usage: scripts/build-nfit-test.sh [debug|kasan|plain]
. "$(dirname "$0")/lib.sh"

flavour=${1:-debug}
case $flavour in debug | kasan | plain) ;; *) die "unknown kernel flavour '$flavour' (debug, kasan or plain)" ;; esac

kdir=$("$BTT_TOP/scripts/build-kernel.sh" "$flavour") || die "no $flavour kernel (scripts/build-kernel.sh $flavour failed)"
ksrc=$(kernel_src_dir)
dir=$BTT_CACHE/kernel/nfit-test-$(basename "$kdir")
ko_dir=$dir/src/tools/testing/nvdimm

if [ -f "$dir/.built" ] && [ "$dir/.built" -nt "$kdir/.built" ]; then
	echo "$ko_dir"
	exit 0
fi

# nfit_test works only with the nvdimm stack as modules (its config_check.c
# turns anything else into a build error); say which option is wrong instead.
for opt in LIBNVDIMM BLK_DEV_PMEM ND_BTT ND_PFN ACPI_NFIT DEV_DAX DEV_DAX_PMEM; do
	grep -qx "CONFIG_$opt=m" "$kdir/.config" ||
		die "nfit_test needs CONFIG_$opt=m; the $flavour kernel has: $(grep -E "^(# )?CONFIG_$opt[= ]" "$kdir/.config" || echo unset)"
done

log "building nfit_test and the wrapped nvdimm modules ($flavour) in $dir"
rm -rf "$dir"
mkdir -p "$dir/src/tools/testing" "$dir/src/drivers/acpi"
cp -a "$ksrc/tools/testing/nvdimm" "$dir/src/tools/testing/"
cp -a "$ksrc/drivers/nvdimm" "$ksrc/drivers/dax" "$dir/src/drivers/"
cp -a "$ksrc/drivers/acpi/nfit" "$dir/src/drivers/acpi/"

logf=$dir/build.log
start=$(date +%s)
if ! make -C "$kdir" M="$ko_dir" LLVM=$LLVM_SUFFIX RUST_LIB_SRC="$(rust_src_dir)" \
	-j"$(nproc)" modules >"$logf" 2>&1; then
	grep -E -B2 -A8 'error:|Error [0-9]|undefined' "$logf" | head -60 >&2 || tail -40 "$logf" >&2
	die "nfit_test build failed (full log: $logf)"
fi
for m in nfit_test nfit_test_iomap libnvdimm nd_pmem nd_btt dax device_dax dax_pmem nfit; do
	[ -n "$(find "$ko_dir" -name "$m.ko" -print -quit)" ] || die "the nfit_test build left no $m.ko (log: $logf)"
done
log "nfit_test built in $(( $(date +%s) - start )) s"
touch "$dir/.built"
echo "$ko_dir"
