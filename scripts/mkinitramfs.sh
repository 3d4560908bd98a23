#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the guest initramfs: busybox, ndctl/daxctl, fio and their libraries, the
# kernel's nvdimm modules, the btt_pi test program (built here) and
# tools/testing/guest/init as /init.
# Our own module (btt_rs.ko) is not baked in: the guest reads it from the
# repository over virtio-9p, so rebuilding the module needs no new initramfs.
#
# Usage: scripts/mkinitramfs.sh KDIR OUT.cpio
. "$(dirname "$0")/lib.sh"

kdir=${1:?usage: mkinitramfs.sh KDIR OUT}
out=${2:?usage: mkinitramfs.sh KDIR OUT}
[ -f "$kdir/.built" ] || die "no built kernel in $kdir"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
kver=$(cat "$kdir/include/config/kernel.release")

mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,mnt,btt,out,root,var/tmp,usr/bin,usr/sbin,lib64}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# Userland from the host's Debian packages, with every shared library they need.
# util-linux's blkdiscard, fallocate and fstrim (busybox's lack -z and
# --punch-hole) and mkfs.ext4 for the discard suite.
bins=(/usr/bin/ndctl /usr/bin/daxctl /usr/bin/fio /usr/bin/sha256sum /usr/bin/stat
	/usr/sbin/blkdiscard /usr/bin/fallocate /usr/sbin/fstrim /usr/sbin/mkfs.ext4)
for b in "${bins[@]}"; do
	[ -x "$b" ] || die "$b missing: run scripts/toolchain.sh"
	cp "$b" "$root/usr/bin/"
done
ldd "${bins[@]}" 2>/dev/null | awk '/=>/ {print $3} /ld-linux/ {print $1}' | sort -u |
	while read -r lib; do
		[ -f "$lib" ] || continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/usr/lib/x86_64-linux-gnu"
cp -a /etc/ndctl.conf.d "$root/etc/" 2>/dev/null || true
cp /etc/mke2fs.conf "$root/etc/" 2>/dev/null || true
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# The kernel's modules the guest loads by hand (insmod, in dependency order).
moddir=$root/lib/modules/$kver
mkdir -p "$moddir"
for m in drivers/nvdimm/libnvdimm.ko drivers/nvdimm/nd_pmem.ko drivers/nvdimm/nd_btt.ko \
	drivers/nvdimm/nd_virtio.ko drivers/nvdimm/virtio_pmem.ko drivers/dax/dax.ko \
	drivers/dax/device_dax.ko drivers/dax/dax_pmem.ko drivers/acpi/nfit/nfit.ko; do
	[ -f "$kdir/$m" ] || die "kernel module $m was not built in $kdir"
	cp "$kdir/$m" "$moddir/"
done

# btt_pi (tools/testing/selftests/btt-rs/btt_pi.c): integrity metadata through
# io_uring's PI attribute and FS_IOC_GETLBMD_CAP. Compiled against the UAPI
# headers of the very kernel tree the guest runs (`make headers` in a build
# directory of its own, once per tree; the cached kernel build is not touched),
# statically, so it needs no library in the guest.
ksrc=$(readlink -f "$kdir/source")
hdr=$BTT_TOP/build/uapi/$(basename "$ksrc")
if [ ! -f "$hdr/.done" ]; then
	log "installing the UAPI headers of $(basename "$ksrc") (make headers)"
	rm -rf "$hdr"
	mkdir -p "$hdr"
	make -C "$ksrc" O="$hdr" LLVM=$LLVM_SUFFIX -s headers >"$hdr.log" 2>&1 ||
		{ tail -20 "$hdr.log" >&2; die "make headers failed (log: $hdr.log)"; }
	touch "$hdr/.done"
fi
"clang$LLVM_SUFFIX" -static -O2 -Wall -Wextra -Werror -isystem "$hdr/usr/include" \
	-o "$root/usr/bin/btt_pi" "$BTT_TOP/tools/testing/selftests/btt-rs/btt_pi.c" ||
	die "btt_pi did not build"

cp "$BTT_TOP/tools/testing/guest/init" "$root/init"
chmod +x "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out.tmp" || die "cpio failed"
mv "$out.tmp" "$out"
