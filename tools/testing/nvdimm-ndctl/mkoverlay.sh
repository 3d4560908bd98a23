#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the initramfs overlay for ndctl's tests: a second cpio archive that the
# runner appends to the shared initramfs (the kernel unpacks both, later files
# win), so scripts/mkinitramfs.sh and every other guest test stay as they are.
#
# It adds:
#   - ndctl/daxctl of the ndctl release whose tests run, with those tests
#     (/opt/ndctl, from build-ndctl.sh);
#   - what the test scripts call beyond busybox: bash, jq, xxd, util-linux's
#     hexdump, getconf, kmod's modprobe (the tests modprobe nfit_test), mke2fs and
#     filefrag (btt-errors.sh), with their shared libraries; kmod's depmod for
#     the guest to put btt_rs.ko in nd_btt.ko's place;
#   - the nfit_test modules in /lib/modules/<kver>/, replacing the in-tree
#     libnvdimm, nd_pmem, nd_btt, dax, device_dax, dax_pmem and nfit by the
#     wrapped ones from the same build, with a modules.dep made by depmod.
#
# Usage: mkoverlay.sh KDIR NFIT_TEST_DIR NDCTL_STAGE OUT.cpio
. "$(dirname "$0")/../../../scripts/lib.sh"

kdir=${1:?usage: mkoverlay.sh KDIR NFIT_TEST_DIR NDCTL_STAGE OUT}
nfit=${2:?usage: mkoverlay.sh KDIR NFIT_TEST_DIR NDCTL_STAGE OUT}
stage=${3:?usage: mkoverlay.sh KDIR NFIT_TEST_DIR NDCTL_STAGE OUT}
out=${4:?usage: mkoverlay.sh KDIR NFIT_TEST_DIR NDCTL_STAGE OUT}
kver=$(cat "$kdir/include/config/kernel.release")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,usr/sbin,etc,opt}
cp -a "$stage/opt/ndctl" "$root/opt/"

bins=(/bin/bash /usr/bin/jq /usr/bin/xxd /usr/bin/hexdump /usr/bin/getconf /usr/bin/kmod
	/usr/sbin/mke2fs /usr/sbin/filefrag)
for b in "${bins[@]}"; do
	[ -x "$b" ] || die "$b missing (tools/testing/nvdimm-ndctl/build-ndctl.sh installs it)"
	mkdir -p "$root$(dirname "$b")"
	cp "$b" "$root$b"
done
ln -s mke2fs "$root/usr/sbin/mkfs.ext4"
# kmod's modprobe and depmod: the tests (bash) find them ahead of busybox's
# applets (PATH has /usr/sbin first; busybox sh prefers its applets, so the
# guest script calls them by path). kmod's modprobe reads the depmod output
# below and removes unused dependencies on modprobe -r, as the tests expect.
ln -s ../bin/kmod "$root/usr/sbin/modprobe"
ln -s ../bin/kmod "$root/usr/sbin/depmod"
[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$root/etc/"
LD_LIBRARY_PATH=$stage/opt/ndctl/lib ldd "${bins[@]}" "$stage"/opt/ndctl/bin/* 2>/dev/null |
	awk '/=>/ {print $3} /ld-linux/ {print $1}' | grep -v "^$stage" | sort -u |
	while read -r lib; do
		[ -f "$lib" ] || continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done

moddir=$root/lib/modules/$kver
mkdir -p "$moddir"
for m in nfit_test nfit_test_iomap libnvdimm nd_pmem nd_btt dax device_dax dax_pmem nfit; do
	ko=$(find "$nfit" -name "$m.ko" -print -quit)
	[ -n "$ko" ] || die "no $m.ko in $nfit (scripts/build-nfit-test.sh)"
	cp "$ko" "$moddir/"
done
cp "$kdir/modules.builtin" "$kdir/modules.builtin.modinfo" "$moddir/"
(cd "$moddir" && ls ./*.ko | sed 's|^\./||') >"$moddir/modules.order"
depmod -b "$root" "$kver" || die "depmod failed on the overlay"
grep -q '^nfit_test.ko:.*libnvdimm.ko' "$moddir/modules.dep" || die "depmod: nfit_test does not depend on libnvdimm?"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out.tmp" || die "cpio failed"
mv "$out.tmp" "$out"
