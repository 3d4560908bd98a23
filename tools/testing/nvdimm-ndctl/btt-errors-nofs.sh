#!/bin/bash -x
# SPDX-License-Identifier: GPL-2.0
# Adapted from ndctl's test/btt-errors.sh (Copyright (C) 2015-2020 Intel
# Corporation) for a guest kernel without a block file system: the same media
# error checks on the nfit_test bus, with a BTT block chosen directly instead of
# through an ext4 file's extent map.
#
#  1. a data block: write a sector, find its postmap block in the BTT map, inject
#     poison there; reading the sector must fail with EIO, writing it must succeed
#     (the write goes to a free block; the poisoned one is cleared when it is
#     reused), and the sector then reads back what was written;
#  2. metadata: poison the first map entry; reading sector 0 must fail with EIO.
#
# Run like ndctl's tests: NDCTL set, from a writable working directory, with
# ndctl's test/common at $NDCTL_TEST_DIR (default /opt/ndctl/test).

blockdev=""
rc=77

. "${NDCTL_TEST_DIR:-/opt/ndctl/test}/common"

force_raw()
{
	raw="$1"
	$NDCTL disable-namespace "$dev"
	echo "$raw" > "/sys/bus/nd/devices/$dev/force_raw"
	$NDCTL enable-namespace "$dev"
	echo "Set $dev to raw mode: $raw"
	if [[ "$raw" == "1" ]]; then
		raw_bdev=${blockdev%s}
		test -b "/dev/$raw_bdev"
	else
		raw_bdev=""
	fi
}

# u32 at byte offset $2 of device $1, little endian
le32()
{
	hexdump -s "$2" -n 4 -e '1/4 "%u"' "$1"
}

check_min_kver "4.15" || do_skip "may lack BTT error handling"

set -e
trap 'err $LINENO' ERR

# setup (reset nfit_test dimms)
modprobe nfit_test
resetV

rc=1

# create a btt namespace (4 KiB sectors, as btt-errors.sh gets from ext4's
# blocks) and clear errors (if any)
dev="x"
json=$($NDCTL create-namespace -b $NFIT_TEST_BUS0 -t pmem -m sector -l 4096)
eval "$(echo "$json" | json2var)"
[ $dev = "x" ] && echo "fail: $LINENO" && exit 1
[ "$sector_size" = 4096 ]

force_raw 1
if read -r sector len < "/sys/block/$raw_bdev/badblocks"; then
	dd of=/dev/$raw_bdev if=/dev/zero oflag=direct bs=512 seek="$sector" count="$len"
fi
force_raw 0

## 1. poison under a data block

lba=7
dd if=/dev/urandom of=data bs=4096 count=1
dd if=data of=/dev/$blockdev oflag=direct bs=4096 seek=$lba count=1
dd if=/dev/$blockdev of=back iflag=direct bs=4096 skip=$lba count=1
cmp data back

force_raw 1
# v1.2 labels: the BTT (one arena here) starts at the namespace's first byte;
# its info block holds the data offset at byte 88 and the map offset at 96.
map=$(le32 "/dev/$raw_bdev" 96)
dataoff=$(le32 "/dev/$raw_bdev" 88)
printf "btt map starts at: %x, data at: %x\n" "$map" "$dataoff"
map_ent=$(le32 "/dev/$raw_bdev" $((map + 4 * lba)))
map_ent=$((map_ent & 0x3fffffff))
printf "btt map entry for lba %d: 0x%x\n" "$lba" "$map_ent"
blk=$((dataoff + map_ent * 4096))
# the raw block holds what was written to the sector
dd if=/dev/$raw_bdev of=raw iflag=direct bs=4096 skip=$((blk / 4096)) count=1
cmp data raw

$NDCTL inject-error --block="$((blk / 512))" --count=8 $dev
$NDCTL start-scrub $NFIT_TEST_BUS0 && $NDCTL wait-scrub $NFIT_TEST_BUS0
force_raw 0

: The following 'dd' is expected to hit an I/O Error
dd if=/dev/$blockdev of=/dev/null iflag=direct bs=4096 skip=$lba count=1 && err $LINENO || true

# write via btt to clear the error, read again and that should succeed
dd if=/dev/urandom of=data bs=4096 count=1
dd if=data of=/dev/$blockdev oflag=direct bs=4096 seek=$lba count=1
dd if=/dev/$blockdev of=back iflag=direct bs=4096 skip=$lba count=1
cmp data back

## 2. poison under the map: reading sector 0 must fail

resetV
dev="x"
json=$($NDCTL create-namespace -b $NFIT_TEST_BUS0 -t pmem -m sector)
eval "$(echo "$json" | json2var)"
[ $dev = "x" ] && echo "fail: $LINENO" && exit 1

force_raw 1
map=$(le32 "/dev/$raw_bdev" 96)
$NDCTL inject-error --block="$((map / 512))" --count=1 $dev
$NDCTL start-scrub $NFIT_TEST_BUS0 && $NDCTL wait-scrub $NFIT_TEST_BUS0
force_raw 0

: The following 'dd' is expected to hit an I/O Error
dd if=/dev/$blockdev of=/dev/null iflag=direct bs=4096 count=1 && err $LINENO || true

# done, exit
reset
_cleanup
exit 0
