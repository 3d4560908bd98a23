#!/bin/bash -x
# SPDX-License-Identifier: GPL-2.0
# Ours, in the style of ndctl's btt-errors.sh: poison injected under a BTT's
# metadata on the nfit_test bus (ARS scrub, so the namespace's badblocks know
# it), then the BTT attached again. A poisoned metadata sector must not cost
# the whole namespace:
#
#  1. the map sector holding lba 0..127's entries: btt_rs attaches read-only,
#     lba 0 fails with EIO, lba 200 (another map sector) reads its data, and
#     one kernel line names the arena and the poisoned byte range;
#  2. the flog group of lanes 0-7: btt_rs attaches read-only and every sector
#     written before reads its data;
#  3. the backup info block: the BTT attaches writable, as if nothing happened.
#
# With the C nd_btt the outcome of each case is printed, not checked.
# Run like ndctl's tests: NDCTL set, from a writable working directory, with
# ndctl's test/common at $NDCTL_TEST_DIR (default /opt/ndctl/test).

blockdev=""
rc=77

. "${NDCTL_TEST_DIR:-/opt/ndctl/test}/common"

if [ -d /sys/module/btt_rs ]; then driver=rs; else driver=c; fi

force_raw()
{
	$NDCTL disable-namespace "$dev"
	echo "$1" > "/sys/bus/nd/devices/$dev/force_raw"
	$NDCTL enable-namespace "$dev" || true
	if [[ "$1" == "1" ]]; then
		raw_bdev=${blockdev%s}
		test -b "/dev/$raw_bdev"
	fi
}

# u32 / u64 at byte offset $2 of device $1, little endian
le32() { hexdump -s "$2" -n 4 -e '1/4 "%u"' "$1"; }
le64() { hexdump -s "$2" -n 8 -e '1/8 "%u"' "$1"; }

# the kernel log since the last poison's attach began
since_mark() { dmesg | tail -n +$((mark + 1)); }

# sector LBA reads back what fill wrote there
reads_back() { dd if=/dev/$blockdev of=back iflag=direct bs=4096 skip="$1" count=1 && cmp "data.$1" back; }

fresh_btt()
{
	resetV
	dev="x"
	json=$($NDCTL create-namespace -b $NFIT_TEST_BUS0 -t pmem -m sector -l 4096)
	eval "$(echo "$json" | json2var)"
	[ $dev = "x" ] && echo "fail: $LINENO" && exit 1
	force_raw 1
	if read -r sector len < "/sys/block/$raw_bdev/badblocks"; then
		dd of=/dev/$raw_bdev if=/dev/zero oflag=direct bs=512 seek="$sector" count="$len"
	fi
	force_raw 0
	for lba in 0 1 7 200 300; do
		dd if=/dev/urandom of=data.$lba bs=4096 count=1
		dd if=data.$lba of=/dev/$blockdev oflag=direct bs=4096 seek=$lba count=1
		reads_back $lba
	done
}

# poison FIELD_OFFSET LEN: poisons LEN 512-byte blocks at the BTT byte offset
# held in info block field FIELD_OFFSET (v1.2 labels: the BTT starts at the
# namespace's first byte), then attaches the BTT again
poison()
{
	force_raw 1
	at=$(le64 "/dev/$raw_bdev" "$1")
	printf "poisoning %d block(s) at btt offset 0x%x\n" "$2" "$at"
	$NDCTL inject-error --block="$((at / 512))" --count="$2" $dev
	$NDCTL start-scrub $NFIT_TEST_BUS0 && $NDCTL wait-scrub $NFIT_TEST_BUS0
	mark=$(dmesg | wc -l)
	force_raw 0
	attached=no
	test -b "/dev/$blockdev" && attached=yes
	ro=$(cat /sys/block/$blockdev/ro 2>/dev/null || echo -)
	echo "outcome ($driver): attached $attached, ro $ro; kernel: $(since_mark | grep -E 'btt|arena' | tr '\n' '|')"
}

check_min_kver "4.15" || do_skip "may lack BTT error handling"
set -e
trap 'err $LINENO' ERR
modprobe nfit_test
rc=1

## 1. the map sector of lba 0..127 (map entries are 4 bytes: 128 per 512)
fresh_btt
poison 96 1
if [ $driver = rs ]; then
	[ $attached = yes ] && [ "$ro" = 1 ]
	: The following 'dd' is expected to hit an I/O Error
	dd if=/dev/$blockdev of=/dev/null iflag=direct bs=4096 count=1 && err $LINENO || true
	reads_back 200
	reads_back 300
	[ "$(since_mark | grep -cE 'arena 0.*(media error|poison|unreadable)')" = 1 ]
fi

## 2. the flog groups of lanes 0-7 (64 bytes each)
fresh_btt
poison 104 1
if [ $driver = rs ]; then
	[ $attached = yes ] && [ "$ro" = 1 ]
	for lba in 0 1 7 200 300; do reads_back $lba; done
	[ "$(since_mark | grep -cE 'arena 0.*(media error|poison|unreadable)')" = 1 ]
fi

## 3. the backup info block: nothing reads it while the primary is valid
fresh_btt
poison 112 8
if [ $driver = rs ]; then
	[ $attached = yes ] && [ "$ro" = 0 ]
	for lba in 0 1 7 200 300; do reads_back $lba; done
	dd if=/dev/urandom of=data.9 bs=4096 count=1
	dd if=data.9 of=/dev/$blockdev oflag=direct bs=4096 seek=9 count=1
	reads_back 9
fi

reset
_cleanup
exit 0
