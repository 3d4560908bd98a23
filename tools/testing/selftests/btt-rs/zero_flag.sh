#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Zero-flagged map entries on 512-byte sectors, as other BTT implementations
# write them for discarded blocks (made on the host: `btt create`, 32 sectors
# of data by `btt write`, then `btt zero` on sectors 3-5, 8, 17 and 24-31).
# Read back with 4 KiB O_DIRECT reads, 8 sectors per bio segment:
# - btt_rs reads zeroes there and the data everywhere else;
# - the stock nd_btt of Linux 7.3 does not: after the first zero-flagged
#   sector of a segment it returns the rest of the segment unread (shown as a
#   test point, so a change in that kernel shows too);
# - nd_btt built with scripts/patches/nd_btt/ (the host copies it to
#   /out/nd_btt_fixed.ko) reads it right.
# /out/zero_flag.want: the expected 16 KiB.
# A second NVDIMM holds a BTT of 4160-byte sectors (4096 + 64 bytes of
# integrity metadata), sectors 2-9 zero-flagged; they are read with the PI
# attribute (btt_pi) into buffers filled with 0xa5 first, and must come back
# as zero data and zero metadata: the stock nd_btt leaves the metadata
# untouched (test point, as above), btt_rs and the patched nd_btt zero it.
# The host checks afterwards that no driver wrote either image.
. /btt/tools/testing/guest/lib.sh

# zero_pi DEV: sectors 2-9 read as zero data and zero metadata. 8 sectors:
# 512 bytes of metadata, which the block layer maps from the user's buffer
# directly; a length it cannot (not a multiple of the queue's DMA alignment,
# 511) goes through a kmalloc'd bounce buffer, and what a driver leaves
# unwritten there is whatever that memory held.
zero_pi() {
	_out=$(btt_pi read "/dev/$1" 2 8 0 --zero-data --zero-meta --prefill 0xa5 2>&1)
	_rc=$?
	echo "$_out" | sed 's/^/# /'
	return $_rc
}
# disk_of LBS: the BTT disk with that logical block size.
disk_of() {
	for d in $(ls /sys/block | grep 's$'); do
		[ "$(cat /sys/block/$d/queue/logical_block_size)" = "$1" ] && { echo "$d"; return; }
	done
}
# wrong_bytes DEV: how many of the first 16 KiB differ from the expected ones,
# read by one dd, 4 KiB at a time with O_DIRECT into one buffer: a sector a
# driver leaves unread keeps what the previous page put there (the data of
# another sector), so it cannot pass for the right one.
wrong_bytes() {
	dd if="$1" of=/tmp/got bs=4096 count=4 iflag=direct 2>/dev/null && [ "$(stat -c %s /tmp/got)" = 16384 ] ||
		{ echo read-error; return; }
	cmp -l /tmp/got /out/zero_flag.want 2>/dev/null | wc -l
}

ktap_header 11
ktap_check "load the nvdimm stack with btt_rs" nd_load rs
wait_btt_disks 2
dev=$(disk_of 512) dev2=$(disk_of 4096)
[ -n "$dev" ] && [ -b /dev/$dev ] && [ -n "$dev2" ] && btt_pi cap "/dev/$dev2" | grep -q ' size=64 '
ktap_result $? "btt_rs attaches the 512- and 4160-byte BTTs made by the btt tool ($dev, $dev2)"
n=$(wrong_bytes /dev/$dev)
[ "$n" = 0 ]
ktap_result $? "btt_rs reads zeroes for zero-flagged sectors and data for the rest ($n bytes wrong)"
zero_pi "$dev2"
ktap_result $? "btt_rs: zero-flagged 4160-byte sectors read as zero data and zero metadata"

ktap_check "switch to the stock C driver" nd_switch c
wait_btt_disks 2
dev=$(disk_of 512) dev2=$(disk_of 4096)
n=$(wrong_bytes /dev/$dev)
diag "nd_btt (C, $(uname -r)) on the same sectors: $n of 16384 bytes wrong"
[ "$n" != 0 ] && [ "$n" != read-error ]
ktap_result $? "the stock nd_btt misreads them (the bug scripts/patches/nd_btt/0002 fixes: $n bytes wrong)"
! zero_pi "$dev2"
ktap_result $? "the stock nd_btt leaves the metadata of zero-flagged 4160-byte sectors unwritten (0002 fixes it too)"

ktap_check "switch to nd_btt with scripts/patches/nd_btt/ applied" nd_switch /out/nd_btt_fixed.ko
wait_btt_disks 2
dev=$(disk_of 512) dev2=$(disk_of 4096)
n=$(wrong_bytes /dev/$dev)
[ "$n" = 0 ]
ktap_result $? "the patched nd_btt reads zeroes and data right ($n bytes wrong)"
zero_pi "$dev2"
ktap_result $? "the patched nd_btt: zero-flagged 4160-byte sectors read as zero data and zero metadata"
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic/KASAN" dmesg_clean
ktap_finish
